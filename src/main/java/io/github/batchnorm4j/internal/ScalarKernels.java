package io.github.batchnorm4j.internal;

/**
 * The scalar batch-norm kernels over (N, C, S) row-major data, one channel range at a time.
 *
 * <p>Kernels trust their arguments: the public classes have checked every length and value. Each
 * channel is computed by one thread in a fixed order, so results do not depend on how channels are
 * split between threads.
 *
 * <h2>Accuracy</h2>
 * <ul>
 *   <li>Statistics use two passes (sum, then sum of squared deviations from the mean), both
 *       accumulated in double, as PyTorch's CPU kernel does. Unlike the one-pass E[x^2] - E[x]^2 this
 *       stays exact for data with a large common offset.
 *   <li>Each output element is computed in double from the float inputs and rounded to float once:
 *       {@code y = (float) ((x - mean) * alpha + beta)} with mean and alpha = gamma * invStd in double.
 *       The error is within about half an ulp of y, and it does not grow with |x| as PyTorch's
 *       float form {@code x * alpha + (beta - mean * alpha)} does.
 *   <li>The training backward uses the saved float mean only as a pivot: it recovers the exact batch
 *       mean from x in the same pass, so a large offset does not bias the gradient, and it forms dx
 *       in double, so the cancellation in {@code dy - mean(dy) - xhat * k} costs nothing.
 * </ul>
 */
public final class ScalarKernels {

  private ScalarKernels() {}

  /**
   * Training forward for channels {@code [c0, c1)}: batch statistics, normalization and, when
   * {@code runningMean != null}, the running-statistics update with factor {@code f}.
   */
  public static void forwardTraining(
      float[] x, float[] y, int batch, int channels, int spatial, int c0, int c1,
      float[] weight, float[] bias, float[] runningMean, float[] runningVar, double factor,
      double eps, float[] saveMean, float[] saveInvStd) {
    final long count = (long) batch * spatial;
    if (count == 0) {
      return;
    }
    final int planeStride = channels * spatial;
    for (int c = c0; c < c1; c++) {
      double sum = 0;
      for (int n = 0, base = c * spatial; n < batch; n++, base += planeStride) {
        for (int i = base, end = base + spatial; i < end; i++) {
          sum += x[i];
        }
      }
      final double mean = sum / count;
      double squares = 0;
      for (int n = 0, base = c * spatial; n < batch; n++, base += planeStride) {
        for (int i = base, end = base + spatial; i < end; i++) {
          double d = x[i] - mean;
          squares += d * d;
        }
      }
      final double var = squares / count;
      final double invStd = 1.0 / Math.sqrt(var + eps);
      saveMean[c] = (float) mean;
      saveInvStd[c] = (float) invStd;

      final double alpha = (weight == null ? 1.0 : weight[c]) * invStd;
      final double beta = bias == null ? 0.0 : bias[c];
      normalizePlanes(x, y, batch, planeStride, c * spatial, spatial, mean, alpha, beta);

      if (runningMean != null) {
        // Normalization uses the biased variance; the running estimate the unbiased one (m / (m - 1)),
        // as PyTorch does. count > 1 here: the callers reject a single value per channel.
        double unbiasedVar = squares / (count - 1);
        runningMean[c] = (float) ((1 - factor) * runningMean[c] + factor * mean);
        runningVar[c] = (float) ((1 - factor) * runningVar[c] + factor * unbiasedVar);
      }
    }
  }

  /**
   * Eval forward with fixed statistics for channels {@code [c0, c1)}:
   * {@code y = (x - mean) * gamma / sqrt(var + eps) + beta}.
   */
  public static void forwardInference(
      float[] x, float[] y, int batch, int channels, int spatial, int c0, int c1,
      float[] weight, float[] bias, float[] mean, float[] var, double eps) {
    final int planeStride = channels * spatial;
    for (int c = c0; c < c1; c++) {
      final double alpha = (weight == null ? 1.0 : weight[c]) / Math.sqrt(var[c] + eps);
      final double beta = bias == null ? 0.0 : bias[c];
      normalizePlanes(x, y, batch, planeStride, c * spatial, spatial, mean[c], alpha, beta);
    }
  }

  private static void normalizePlanes(
      float[] x, float[] y, int batch, int planeStride, int firstBase, int spatial,
      double mean, double alpha, double beta) {
    for (int n = 0, base = firstBase; n < batch; n++, base += planeStride) {
      for (int i = base, end = base + spatial; i < end; i++) {
        y[i] = (float) ((x[i] - mean) * alpha + beta);
      }
    }
  }

  /**
   * Training backward for channels {@code [c0, c1)}, with xhat = (x - mean) * invStd:
   * <pre>
   * dbeta  = sum dy                      (added into biasGrad when not null)
   * dgamma = sum dy * xhat               (added into weightGrad when not null)
   * dx     = gamma * invStd * (dy - dbeta / m - xhat * dgamma / m)
   * </pre>
   */
  public static void backwardTraining(
      float[] x, float[] dy, float[] dx, int batch, int channels, int spatial, int c0, int c1,
      float[] weight, float[] saveMean, float[] saveInvStd, float[] weightGrad, float[] biasGrad) {
    final long count = (long) batch * spatial;
    if (count == 0) {
      return;
    }
    final int planeStride = channels * spatial;
    for (int c = c0; c < c1; c++) {
      final float pivot = saveMean[c];
      double sumDy = 0;
      double sumDyCentered = 0;
      double sumCentered = 0;
      for (int n = 0, base = c * spatial; n < batch; n++, base += planeStride) {
        for (int i = base, end = base + spatial; i < end; i++) {
          double centered = (double) x[i] - pivot; // exact in double
          sumDy += dy[i];
          sumDyCentered += dy[i] * centered;
          sumCentered += centered;
        }
      }
      // pivot is the float-rounded mean; the exact batch mean is pivot + correction.
      final double correction = sumCentered / count;
      final double dotXhatUnscaled = sumDyCentered - correction * sumDy; // sum dy * (x - mean)
      final double invStd = saveInvStd[c];
      final double gamma = weight == null ? 1.0 : weight[c];

      if (biasGrad != null) {
        biasGrad[c] = (float) (biasGrad[c] + sumDy);
      }
      if (weightGrad != null) {
        weightGrad[c] = (float) (weightGrad[c] + dotXhatUnscaled * invStd);
      }

      final double mean = pivot + correction;
      final double meanDy = sumDy / count;
      final double k = dotXhatUnscaled * invStd * invStd / count;
      final double scale = gamma * invStd;
      for (int n = 0, base = c * spatial; n < batch; n++, base += planeStride) {
        for (int i = base, end = base + spatial; i < end; i++) {
          dx[i] = (float) (scale * ((dy[i] - meanDy) - (x[i] - mean) * k));
        }
      }
    }
  }

  /**
   * Eval backward with fixed statistics for channels {@code [c0, c1)}, invStd = 1 / sqrt(var + eps):
   * <pre>
   * dx     = dy * gamma * invStd
   * dgamma = sum dy * (x - mean) * invStd   (added into weightGrad when not null)
   * dbeta  = sum dy                         (added into biasGrad when not null)
   * </pre>
   */
  public static void backwardInference(
      float[] x, float[] dy, float[] dx, int batch, int channels, int spatial, int c0, int c1,
      float[] weight, float[] mean, float[] var, double eps, float[] weightGrad, float[] biasGrad) {
    final int planeStride = channels * spatial;
    for (int c = c0; c < c1; c++) {
      final double invStd = 1.0 / Math.sqrt(var[c] + eps);
      final double gamma = weight == null ? 1.0 : weight[c];
      final double scale = gamma * invStd;
      final double center = mean[c];
      final boolean needSums = weightGrad != null || biasGrad != null;
      double sumDy = 0;
      double sumDyCentered = 0;
      for (int n = 0, base = c * spatial; n < batch; n++, base += planeStride) {
        for (int i = base, end = base + spatial; i < end; i++) {
          double g = dy[i];
          if (needSums) {
            sumDy += g;
            sumDyCentered += g * (x[i] - center);
          }
          dx[i] = (float) (g * scale);
        }
      }
      if (biasGrad != null) {
        biasGrad[c] = (float) (biasGrad[c] + sumDy);
      }
      if (weightGrad != null) {
        weightGrad[c] = (float) (weightGrad[c] + sumDyCentered * invStd);
      }
    }
  }
}
