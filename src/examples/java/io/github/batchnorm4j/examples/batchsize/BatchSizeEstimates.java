package io.github.batchnorm4j.examples.batchsize;

import io.github.batchnorm4j.Shape;
import io.github.batchnorm4j.Tensor;
import io.github.batchnorm4j.examples.common.Charts;
import io.github.batchnorm4j.examples.common.Flags;
import io.github.batchnorm4j.examples.data.Mnist;
import io.github.batchnorm4j.examples.nn.Conv2d;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Random;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * How well a batch estimates the statistics batch norm needs: the error of the batch mean and
 * variance against the population (all training images), as the batch grows, measured on real
 * activations, the output of the demo network's first convolution on MNIST.
 *
 * <pre>
 * ./mvnw -q test-compile exec:java@batch-size
 * ./mvnw -q test-compile exec:java@batch-size -Dexec.args="--out docs/tutorial/images"
 * </pre>
 */
public final class BatchSizeEstimates {

  static final int[] BATCH_SIZES = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};

  private BatchSizeEstimates() {}

  public static void main(String[] args) {
    try {
      run(args, System.out);
    } catch (Flags.UsageException e) {
      System.err.println("error: " + e.getMessage() + " (run with --help for the options)");
      System.exit(2);
    }
  }

  static Flags flags() {
    return new Flags("./mvnw -q test-compile exec:java@batch-size -Dexec.args=\"...\"",
        "Measures the error of batch mean and variance against the population as the batch grows.")
        .option("trials", "500", "random batches drawn for each batch size")
        .option("images", "8000", "training images forming the population")
        .option("seed", "1", "seed of the convolution weights and of the batches")
        .option("out", "target/examples", "folder for the chart batch-size.png");
  }

  /**
   * The measured errors for one batch size, relative to the population and averaged (root mean
   * square) over trials and channels.
   */
  record Row(int batchSize, double meanError, double varianceError, double predictedMeanError,
      double naiveMeanError) {}

  /** Runs the example; returns one row per batch size, or null when only the help was printed. */
  static Row[] run(String[] args, PrintStream out) {
    Flags flags = flags();
    if (!flags.parse(args, out)) {
      return null;
    }
    int trials = flags.integer("trials", 2);
    int images = Math.min(flags.integer("images", 2), Mnist.TRAIN_COUNT);
    long seed = flags.longValue("seed");
    Path outDir = Path.of(flags.string("out"));

    // The activations: the first convolution of the demo network (8 filters, as initialised with
    // this seed), applied to every training image. Batch norm would normalize exactly these.
    Mnist.Split train = Mnist.load().train().first(images);
    Conv2d conv = new Conv2d(1, 8, 3, 1, true, new Random(seed));
    int channels = 8;
    int perImage = 28 * 28; // values per channel per image (H * W)
    // Per image and channel: the sum and sum of squares of its H*W values. A batch's statistics
    // follow from these sums, so thousands of random batches cost almost nothing.
    double[][] sum = new double[images][channels];
    double[][] sumSquares = new double[images][channels];
    int chunk = 500;
    for (int from = 0; from < images; from += chunk) {
      int to = Math.min(images, from + chunk);
      float[] pixels = java.util.Arrays.copyOfRange(train.images(), from * perImage, to * perImage);
      Tensor act = conv.forward(Tensor.of(Shape.of(to - from, 1, 28, 28), pixels));
      for (int n = from; n < to; n++) {
        for (int c = 0; c < channels; c++) {
          int base = ((n - from) * channels + c) * perImage;
          for (int i = 0; i < perImage; i++) {
            double v = act.data()[base + i];
            sum[n][c] += v;
            sumSquares[n][c] += v * v;
          }
        }
      }
    }
    // The population statistics, over all images * H * W values of each channel.
    double[] popMean = new double[channels];
    double[] popVar = new double[channels];
    double[] betweenImageVar = new double[channels]; // variance of the per-image means
    for (int c = 0; c < channels; c++) {
      double s = 0;
      double s2 = 0;
      for (int n = 0; n < images; n++) {
        s += sum[n][c];
        s2 += sumSquares[n][c];
      }
      popMean[c] = s / ((double) images * perImage);
      popVar[c] = s2 / ((double) images * perImage) - popMean[c] * popMean[c];
      double v = 0;
      for (int n = 0; n < images; n++) {
        double d = sum[n][c] / perImage - popMean[c];
        v += d * d;
      }
      betweenImageVar[c] = v / images;
    }
    out.printf(Locale.ROOT, "Population: %d MNIST training images through conv1 (8 channels),"
        + " %d values per channel per image.%n", images, perImage);
    for (int c = 0; c < channels; c++) {
      out.printf(Locale.ROOT, "  channel %d: mean %+.4f  variance %.4f  std of per-image means %.4f%n",
          c, popMean[c], popVar[c], Math.sqrt(betweenImageVar[c]));
    }

    Random random = new Random(seed);
    Row[] rows = new Row[BATCH_SIZES.length];
    int[] order = new int[images];
    for (int i = 0; i < images; i++) {
      order[i] = i;
    }
    out.printf(Locale.ROOT, "%nRoot-mean-square error over %d random batches and the 8 channels:%n",
        trials);
    out.println("batch   values/channel   |mean error| / std   |var error| / var   "
        + "predicted from per-image means   if the m values were independent");
    for (int b = 0; b < BATCH_SIZES.length; b++) {
      int batch = BATCH_SIZES[b];
      if (batch > images) {
        rows = java.util.Arrays.copyOf(rows, b);
        break;
      }
      double meanSq = 0;
      double varSq = 0;
      double predictedSq = 0;
      double naiveSq = 0;
      for (int t = 0; t < trials; t++) {
        // a random batch without replacement: the first `batch` entries of a partial shuffle
        for (int i = 0; i < batch; i++) {
          int j = i + random.nextInt(images - i);
          int tmp = order[i];
          order[i] = order[j];
          order[j] = tmp;
        }
        for (int c = 0; c < channels; c++) {
          double s = 0;
          double s2 = 0;
          for (int i = 0; i < batch; i++) {
            s += sum[order[i]][c];
            s2 += sumSquares[order[i]][c];
          }
          double m = (double) batch * perImage;
          double mean = s / m;
          double var = s2 / m - mean * mean; // biased, as batch norm normalizes with
          double std = Math.sqrt(popVar[c]);
          meanSq += Math.pow((mean - popMean[c]) / std, 2);
          varSq += Math.pow((var - popVar[c]) / popVar[c], 2);
        }
      }
      for (int c = 0; c < channels; c++) {
        // Sampling theory: the batch mean is the average of `batch` per-image means, so its
        // standard error is std(per-image means) / sqrt(batch) (finite population corrected).
        double fpc = images > 1 ? (double) (images - batch) / (images - 1) : 0;
        predictedSq += betweenImageVar[c] / batch * fpc / popVar[c];
        naiveSq += 1.0 / ((double) batch * perImage) * fpc;
      }
      rows[b] = new Row(batch, Math.sqrt(meanSq / (trials * channels)),
          Math.sqrt(varSq / (trials * channels)), Math.sqrt(predictedSq / channels),
          Math.sqrt(naiveSq / channels));
      out.printf(Locale.ROOT, "%5d   %14d   %18.4f   %17.4f   %30.4f   %32.4f%n", batch,
          batch * perImage, rows[b].meanError(), rows[b].varianceError(),
          rows[b].predictedMeanError(), rows[b].naiveMeanError());
    }
    out.println("Each 4x larger batch halves the error (1/sqrt(B)). Values inside one image are"
        + " strongly correlated,");
    out.println("so a batch of B images behaves like B samples, not like B*H*W independent"
        + " values.");

    Path chart = Charts.save(chart(rows), outDir, "batch-size");
    out.println("Chart written to " + chart.toAbsolutePath());
    return rows;
  }

  private static XYChart chart(Row[] rows) {
    XYChart chart = Charts.lineChart(
        "Batch statistics vs population, MNIST conv1 activations (RMS relative error)",
        "batch size B (images)", "relative error", 900, 520);
    chart.getStyler().setXAxisLogarithmic(true);
    chart.getStyler().setYAxisLogarithmic(true);
    double[] x = new double[rows.length];
    double[] mean = new double[rows.length];
    double[] var = new double[rows.length];
    double[] predicted = new double[rows.length];
    double[] naive = new double[rows.length];
    for (int i = 0; i < rows.length; i++) {
      x[i] = rows[i].batchSize();
      mean[i] = rows[i].meanError();
      var[i] = rows[i].varianceError();
      predicted[i] = rows[i].predictedMeanError();
      naive[i] = rows[i].naiveMeanError();
    }
    XYSeries s1 = chart.addSeries("batch mean: |mu_B - mu| / sigma (measured)", x, mean);
    s1.setLineColor(Charts.BLUE);
    s1.setMarkerColor(Charts.BLUE);
    s1.setMarker(SeriesMarkers.CIRCLE);
    XYSeries s2 = chart.addSeries("batch variance: |sigma^2_B - sigma^2| / sigma^2 (measured)", x,
        var);
    s2.setLineColor(Charts.ORANGE);
    s2.setMarkerColor(Charts.ORANGE);
    s2.setMarker(SeriesMarkers.DIAMOND);
    XYSeries s3 = chart.addSeries("mean, predicted: std(per-image means) / sqrt(B)", x, predicted);
    s3.setLineColor(Charts.GREEN);
    s3.setMarker(SeriesMarkers.NONE);
    XYSeries s4 = chart.addSeries("mean, if all B*H*W values were independent: 1 / sqrt(B*784)",
        x, naive);
    s4.setLineColor(Charts.GREY);
    s4.setMarker(SeriesMarkers.NONE);
    chart.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.InsideSW);
    return chart;
  }
}
