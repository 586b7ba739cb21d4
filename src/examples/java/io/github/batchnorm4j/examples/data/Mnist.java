package io.github.batchnorm4j.examples.data;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.zip.GZIPInputStream;

/**
 * The 10,000 MNIST digits shipped with the examples (src/examples/resources/mnist-10k, see its
 * README for the source and licence), read from the class path so that nothing is downloaded.
 *
 * <p>The first 8,000 images are the training set and the last 2,000 the test set. Pixels are
 * scaled to [0, 1] and then standardised with the training set's mean and standard deviation, the
 * usual preprocessing: it gives the network without batch norm a fair start.
 */
public final class Mnist {

  public static final int IMAGE_SIZE = 28 * 28;
  public static final int TRAIN_COUNT = 8000;
  public static final int TEST_COUNT = 2000;

  private static final String IMAGES = "/mnist-10k/images-idx3-ubyte.gz";
  private static final String LABELS = "/mnist-10k/labels-idx1-ubyte.gz";

  private static volatile Mnist cached;

  private final Split train;
  private final Split test;
  private final double pixelMean;
  private final double pixelStd;

  /** One part of the data: {@code count} images of 784 floats each, and their labels. */
  public record Split(float[] images, int[] labels) {
    public int count() {
      return labels.length;
    }

    /** Copies the images and labels at {@code indices} into a batch. */
    public Split gather(int[] indices, int from, int to) {
      float[] batchImages = new float[(to - from) * IMAGE_SIZE];
      int[] batchLabels = new int[to - from];
      for (int i = from; i < to; i++) {
        System.arraycopy(images, indices[i] * IMAGE_SIZE, batchImages, (i - from) * IMAGE_SIZE,
            IMAGE_SIZE);
        batchLabels[i - from] = labels[indices[i]];
      }
      return new Split(batchImages, batchLabels);
    }

    /** The first {@code n} samples. */
    public Split first(int n) {
      return new Split(java.util.Arrays.copyOf(images, n * IMAGE_SIZE),
          java.util.Arrays.copyOf(labels, n));
    }
  }

  private Mnist(Split train, Split test, double pixelMean, double pixelStd) {
    this.train = train;
    this.test = test;
    this.pixelMean = pixelMean;
    this.pixelStd = pixelStd;
  }

  /** Loads (once per JVM) and returns the data set. */
  public static Mnist load() {
    Mnist m = cached;
    if (m == null) {
      synchronized (Mnist.class) {
        if (cached == null) {
          cached = read();
        }
        m = cached;
      }
    }
    return m;
  }

  public Split train() {
    return train;
  }

  public Split test() {
    return test;
  }

  /** The mean of the training pixels (in [0, 1]) that was subtracted. */
  public double pixelMean() {
    return pixelMean;
  }

  /** The standard deviation of the training pixels that they were divided by. */
  public double pixelStd() {
    return pixelStd;
  }

  private static Mnist read() {
    byte[] rawImages = readIdx(IMAGES, 0x00000803, 3);
    byte[] rawLabels = readIdx(LABELS, 0x00000801, 1);
    int total = rawLabels.length;
    if (total != TRAIN_COUNT + TEST_COUNT || rawImages.length != total * IMAGE_SIZE) {
      throw new IllegalStateException("unexpected MNIST sizes: " + total + " labels, "
          + rawImages.length + " pixels");
    }
    double sum = 0;
    double sumSquares = 0;
    int trainPixels = TRAIN_COUNT * IMAGE_SIZE;
    for (int i = 0; i < trainPixels; i++) {
      double v = (rawImages[i] & 0xff) / 255.0;
      sum += v;
      sumSquares += v * v;
    }
    double mean = sum / trainPixels;
    double std = Math.sqrt(sumSquares / trainPixels - mean * mean);
    float[] images = new float[rawImages.length];
    for (int i = 0; i < images.length; i++) {
      images[i] = (float) (((rawImages[i] & 0xff) / 255.0 - mean) / std);
    }
    int[] labels = new int[total];
    for (int i = 0; i < total; i++) {
      labels[i] = rawLabels[i];
    }
    Split train = new Split(java.util.Arrays.copyOfRange(images, 0, trainPixels),
        java.util.Arrays.copyOfRange(labels, 0, TRAIN_COUNT));
    Split test = new Split(java.util.Arrays.copyOfRange(images, trainPixels, images.length),
        java.util.Arrays.copyOfRange(labels, TRAIN_COUNT, total));
    return new Mnist(train, test, mean, std);
  }

  /** Reads an IDX file: a big-endian magic number, the dimension sizes, then unsigned bytes. */
  private static byte[] readIdx(String resource, int magic, int dims) {
    try (InputStream raw = Mnist.class.getResourceAsStream(resource)) {
      if (raw == null) {
        throw new IllegalStateException(resource + " is not on the class path");
      }
      DataInputStream in = new DataInputStream(new GZIPInputStream(raw));
      int actualMagic = in.readInt();
      if (actualMagic != magic) {
        throw new IllegalStateException(resource + ": magic " + Integer.toHexString(actualMagic)
            + " instead of " + Integer.toHexString(magic));
      }
      long size = 1;
      for (int i = 0; i < dims; i++) {
        size *= in.readInt();
      }
      byte[] data = new byte[Math.toIntExact(size)];
      in.readFully(data);
      return data;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + resource, e);
    }
  }
}
