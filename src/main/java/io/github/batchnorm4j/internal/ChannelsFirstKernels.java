package io.github.batchnorm4j.internal;

/**
 * Channels-first (N, C, S) kernels for the variants the default kernels do not cover: a fused ReLU
 * and a biased running variance (the Keras and DL4J convention). One channel range at a time;
 * arguments are trusted (the public classes checked them).
 *
 * <p>The numerics are those of docs/numerics.md: per channel, two passes (sum, then squared
 * deviations) accumulated in double in ascending element order; each output element computed in
 * double from the float inputs and rounded once; the training backward recovers the exact batch
 * mean from the saved pivot. Each channel is computed by one thread in a fixed order, so results do
 * not depend on the thread count.
 *
 * <p>ReLU: the forward writes {@code max(0, z)} for the rounded pre-activation z; the backward
 * masks dy with the forward's output, {@code g = y <= 0 ? 0 : dy}, exactly as PyTorch's ReLU
 * backward does, then applies the batch-norm backward to g. {@code reluOutput == null} means no
 * ReLU.
 */
public final class ChannelsFirstKernels {

  private ChannelsFirstKernels() {}

  /** Training forward for channels [c0, c1); see {@code BatchNormFunctional.forwardTraining}. */
  public static void forwardTraining(
      float[] x, float[] y, int batch, int channels, int spatial, int c0, int c1,
      float[] weight, float[] bias, float[] runningMean, float[] runningVar, double factor,
      boolean unbiasedRunningVar, double eps, float[] saveMean, float[] saveInvStd, boolean relu) {
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
      final double invStd = 1.0 / Math.sqrt(squares / count + eps);
      saveMean[c] = (float) mean;
      saveInvStd[c] = (float) invStd;
      final double alpha = (weight == null ? 1.0 : weight[c]) * invStd;
      final double beta = bias == null ? 0.0 : bias[c];
      normalize(x, y, batch, planeStride, c * spatial, spatial, mean, alpha, beta, relu);
      if (runningMean != null) {
        // count > 1 here when unbiased: the callers reject a single value per channel.
        double runningEstimate = squares / (unbiasedRunningVar ? count - 1 : count);
        runningMean[c] = (float) ((1 - factor) * runningMean[c] + factor * mean);
        runningVar[c] = (float) ((1 - factor) * runningVar[c] + factor * runningEstimate);
      }
    }
  }

  /** Eval forward with fixed statistics for channels [c0, c1). */
  public static void forwardInference(
      float[] x, float[] y, int batch, int channels, int spatial, int c0, int c1,
      float[] weight, float[] bias, float[] mean, float[] var, double eps, boolean relu) {
    final int planeStride = channels * spatial;
    for (int c = c0; c < c1; c++) {
      final double alpha = (weight == null ? 1.0 : weight[c]) / Math.sqrt(var[c] + eps);
      final double beta = bias == null ? 0.0 : bias[c];
      normalize(x, y, batch, planeStride, c * spatial, spatial, mean[c], alpha, beta, relu);
    }
  }

  private static void normalize(
      float[] x, float[] y, int batch, int planeStride, int firstBase, int spatial,
      double mean, double alpha, double beta, boolean relu) {
    for (int n = 0, base = firstBase; n < batch; n++, base += planeStride) {
      if (relu) {
        for (int i = base, end = base + spatial; i < end; i++) {
          y[i] = Math.max((float) ((x[i] - mean) * alpha + beta), 0f); // NaN stays NaN
        }
      } else {
        for (int i = base, end = base + spatial; i < end; i++) {
          y[i] = (float) ((x[i] - mean) * alpha + beta);
        }
      }
    }
  }

  /** The gradient reaching the batch norm: dy, masked by the ReLU's output when there is one. */
  private static double masked(float[] reluOutput, float[] dy, int i) {
    return reluOutput != null && reluOutput[i] <= 0 ? 0.0 : dy[i];
  }

  /** Training backward for channels [c0, c1), with the ReLU mask when reluOutput != null. */
  public static void backwardTraining(
      float[] x, float[] reluOutput, float[] dy, float[] dx, int batch, int channels, int spatial,
      int c0, int c1, float[] weight, float[] saveMean, float[] saveInvStd, float[] weightGrad,
      float[] biasGrad) {
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
          double g = masked(reluOutput, dy, i);
          double centered = (double) x[i] - pivot; // exact in double
          sumDy += g;
          sumDyCentered += g * centered;
          sumCentered += centered;
        }
      }
      final double correction = sumCentered / count; // the exact mean is pivot + correction
      final double dotXhatUnscaled = sumDyCentered - correction * sumDy;
      final double invStd = saveInvStd[c];
      if (biasGrad != null) {
        biasGrad[c] = (float) (biasGrad[c] + sumDy);
      }
      if (weightGrad != null) {
        weightGrad[c] = (float) (weightGrad[c] + dotXhatUnscaled * invStd);
      }
      final double mean = pivot + correction;
      final double meanDy = sumDy / count;
      final double k = dotXhatUnscaled * invStd * invStd / count;
      final double scale = (weight == null ? 1.0 : weight[c]) * invStd;
      for (int n = 0, base = c * spatial; n < batch; n++, base += planeStride) {
        for (int i = base, end = base + spatial; i < end; i++) {
          double g = masked(reluOutput, dy, i);
          dx[i] = (float) (scale * ((g - meanDy) - (x[i] - mean) * k));
        }
      }
    }
  }

  /** Eval backward with fixed statistics for channels [c0, c1), with the ReLU mask when given. */
  public static void backwardInference(
      float[] x, float[] reluOutput, float[] dy, float[] dx, int batch, int channels, int spatial,
      int c0, int c1, float[] weight, float[] mean, float[] var, double eps, float[] weightGrad,
      float[] biasGrad) {
    final int planeStride = channels * spatial;
    final boolean needSums = weightGrad != null || biasGrad != null;
    for (int c = c0; c < c1; c++) {
      final double invStd = 1.0 / Math.sqrt(var[c] + eps);
      final double scale = (weight == null ? 1.0 : weight[c]) * invStd;
      final double center = mean[c];
      double sumDy = 0;
      double sumDyCentered = 0;
      for (int n = 0, base = c * spatial; n < batch; n++, base += planeStride) {
        for (int i = base, end = base + spatial; i < end; i++) {
          double g = masked(reluOutput, dy, i);
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
