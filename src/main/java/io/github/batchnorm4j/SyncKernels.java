package io.github.batchnorm4j;

/**
 * The per-element loops of {@link ChannelMoments} and {@link SyncBatchNorm}: the only loops over
 * every input value outside the kernel classes. The public kernels cannot serve here (they take and
 * return float statistics, while the synchronized mode needs the local mean and M2 in double and a
 * backward with statistics that come from other workers), so these are plain scalar loops in
 * double, one thread, channels-first (N, C, S) data, the channel c of sample n being the run that
 * starts at (n * C + c) * S. Callers have checked every argument.
 */
final class SyncKernels {

  private SyncKernels() {}

  /**
   * Two passes per channel, in double: {@code mean_c = (1/m) sum x}, {@code m2_c = sum (x - mean_c)^2}
   * with m = batch * spatial &gt; 0. Writes mean and m2 (length C).
   */
  static void moments(float[] x, int batch, int channels, int spatial, double[] mean, double[] m2) {
    long m = (long) batch * spatial;
    for (int c = 0; c < channels; c++) {
      double sum = 0;
      for (int n = 0; n < batch; n++) {
        for (int i = (n * channels + c) * spatial, end = i + spatial; i < end; i++) {
          sum += x[i];
        }
      }
      double mu = sum / m;
      double squares = 0;
      for (int n = 0; n < batch; n++) {
        for (int i = (n * channels + c) * spatial, end = i + spatial; i < end; i++) {
          double d = x[i] - mu;
          squares += d * d;
        }
      }
      mean[c] = mu;
      m2[c] = squares;
    }
  }

  /**
   * The backward's local sums, in double: {@code sumDy_c = sum dy} and
   * {@code sumDyCentered_c = sum dy * (x - mean_c)} with the given (global) mean. Writes both.
   */
  static void backwardSums(float[] x, float[] dy, int batch, int channels, int spatial,
      double[] mean, double[] sumDy, double[] sumDyCentered) {
    for (int c = 0; c < channels; c++) {
      double mu = mean[c];
      double g = 0;
      double gc = 0;
      for (int n = 0; n < batch; n++) {
        for (int i = (n * channels + c) * spatial, end = i + spatial; i < end; i++) {
          double d = dy[i];
          g += d;
          gc += d * (x[i] - mu);
        }
      }
      sumDy[c] = g;
      sumDyCentered[c] = gc;
    }
  }

  /**
   * {@code dx = scale_c * (dy - meanDy_c - (x - mean_c) * slope_c)}, computed in double and rounded
   * once. dx may be dy or x (each element is read before it is written).
   */
  static void gradInput(float[] x, float[] dy, float[] dx, int batch, int channels, int spatial,
      double[] mean, double[] scale, double[] meanDy, double[] slope) {
    for (int n = 0; n < batch; n++) {
      for (int c = 0; c < channels; c++) {
        double mu = mean[c];
        double s = scale[c];
        double g = meanDy[c];
        double k = slope[c];
        for (int i = (n * channels + c) * spatial, end = i + spatial; i < end; i++) {
          dx[i] = (float) (s * (dy[i] - g - (x[i] - mu) * k));
        }
      }
    }
  }
}
