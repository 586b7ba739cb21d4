package io.github.batchnorm4j;

/**
 * The argument checks of the public entry points ({@link BatchNorm}, {@link FrozenBatchNorm2d},
 * {@link BatchNormFunctional} and the argument holders), in one place so that every entry point
 * rejects the same inputs with the same message: the argument's name, what was expected, what it
 * got, and the input shape where there is one. Each throws {@link IllegalArgumentException} before
 * anything has been written. Internal code trusts its arguments.
 */
final class Checks {

  private Checks() {}

  /** Rejects null. */
  static <T> T notNull(String name, T value) {
    if (value == null) {
      throw new IllegalArgumentException(name + " must not be null");
    }
    return value;
  }

  /** Rejects null, naming the input shape. */
  static <T> T notNull(String name, T value, Shape shape) {
    if (value == null) {
      throw new IllegalArgumentException(name + " must not be null; input shape " + shape);
    }
    return value;
  }

  /** eps must be finite and &gt; 0. */
  static double eps(double eps) {
    if (!(eps > 0) || Double.isInfinite(eps)) {
      throw new IllegalArgumentException("eps must be finite and > 0 but is " + eps);
    }
    return eps;
  }

  /** The running-average momentum (PyTorch's factor f) must be in [0, 1]. */
  static double momentum(double momentum) {
    if (!(momentum >= 0 && momentum <= 1)) {
      throw new IllegalArgumentException("momentum must be in [0, 1] but is " + momentum);
    }
    return momentum;
  }

  /** threads must be &gt;= 1, or 0 for the automatic default. */
  static int threads(int threads) {
    if (threads < 0) {
      throw new IllegalArgumentException("threads must be >= 1, or 0 (AUTO_THREADS) for the"
          + " automatic default, but is " + threads);
    }
    return threads;
  }

  /** numFeatures (the channel count C) must be &gt;= 1. */
  static int numFeatures(int numFeatures) {
    if (numFeatures < 1) {
      throw new IllegalArgumentException("numFeatures must be >= 1 but is " + numFeatures);
    }
    return numFeatures;
  }

  /** A data array must exist and hold exactly the shape's elements. */
  static float[] data(String name, float[] data, Shape shape) {
    notNull(name, data, shape);
    if (data.length != shape.numel()) {
      throw new IllegalArgumentException(
          name + " has length " + data.length + " but shape " + shape + " has " + shape.numel()
              + " elements");
    }
    return data;
  }

  /** A tensor must exist and have the expected shape. */
  static Tensor sameShape(String name, Tensor tensor, Shape expected, String expectedName) {
    notNull(name, tensor, expected);
    if (!tensor.shape().equals(expected)) {
      throw new IllegalArgumentException(
          name + " has shape " + tensor.shape() + " but " + expectedName + " had shape "
              + expected);
    }
    return tensor;
  }

  /** A per-channel array, when given, must have one value per channel of the data's shape. */
  static void perChannel(String name, float[] values, int channels, Shape shape) {
    if (values != null && values.length != channels) {
      throw new IllegalArgumentException(
          name + " has length " + values.length + " but there are " + channels
              + " channels; data shape " + shape);
    }
  }

  /** Two arrays of one pair (mean and variance, say) must have the same length. */
  static void samePair(String first, float[] a, String second, float[] b) {
    notNull(first, a);
    notNull(second, b);
    if (a.length != b.length) {
      throw new IllegalArgumentException(
          first + " has length " + a.length + " but " + second + " has length " + b.length
              + "; they must have one value per channel each");
    }
  }

  /**
   * The channel count of data of this shape in this layout: dimension 1 channels-first, the last
   * one channels-last; the shape needs a batch and a channel dimension.
   */
  static int channels(Shape shape, Layout layout) {
    notNull("shape", shape);
    notNull("layout", layout);
    if (shape.rank() < 2) {
      throw new IllegalArgumentException(
          "shape must have rank >= 2, (N, C, *spatial) or (N, *spatial, C), but is " + shape);
    }
    int channels = shape.dim(layout.channelAxis(shape.rank()));
    if (channels < 1) {
      throw new IllegalArgumentException("shape must have at least 1 channel but " + shape
          + " has " + channels + " on the channel axis of layout " + layout);
    }
    return channels;
  }

  /** The product of the spatial sizes: every dimension but the batch and the channel one. */
  static int spatial(Shape shape, Layout layout) {
    int channelAxis = layout.channelAxis(shape.rank());
    int spatial = 1;
    for (int i = 1; i < shape.rank(); i++) {
      if (i != channelAxis) {
        spatial *= shape.dim(i); // cannot overflow: numel() fits in an int
      }
    }
    return spatial;
  }

  /**
   * Batch statistics need more than one value per channel (a single value has no variance), as
   * PyTorch's {@code _verify_batch_size} says.
   */
  static void moreThanOneValue(Shape shape, Layout layout, String when) {
    if ((long) shape.dim(0) * spatial(shape, layout) == 1) {
      throw new IllegalArgumentException(
          "expected more than 1 value per channel " + when + ", but the input has N * spatial = 1"
              + " value per channel; input shape " + shape);
    }
  }

  /**
   * A module's input: not null, of an accepted rank ({@code rejectedRank} is null when the rank
   * is accepted, else a description of the accepted ones), with the module's channel count on the
   * layout's channel axis.
   */
  static void moduleInput(String module, Tensor x, String rejectedRank, Layout layout,
      int numFeatures) {
    notNull("input", x);
    Shape shape = x.shape();
    if (rejectedRank != null) {
      throw new IllegalArgumentException(
          "input has rank " + shape.rank() + " but " + module + " expects " + rejectedRank
              + "; input shape " + shape);
    }
    int channelAxis = layout.channelAxis(shape.rank());
    if (shape.dim(channelAxis) != numFeatures) {
      throw new IllegalArgumentException(
          "input has " + shape.dim(channelAxis) + " channels"
              + (layout == Layout.CHANNELS_FIRST ? "" : " (dimension " + channelAxis + ", " + layout
                  + ")")
              + " but " + module + " was built for " + numFeatures + "; input shape " + shape);
    }
  }
}
