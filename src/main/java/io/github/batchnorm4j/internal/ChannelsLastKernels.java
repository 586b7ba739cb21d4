package io.github.batchnorm4j.internal;

/**
 * Channels-last (N, *spatial, C) kernels: the data is {@code rows = N * prod(spatial)} rows of C
 * contiguous channel values, element (r, c) at {@code r * C + c}. One channel range [c0, c1) at a
 * time; arguments are trusted.
 *
 * <p>The passes walk the rows in order and keep one double accumulator per channel in a scratch
 * array, so memory is read sequentially whatever C is. Each channel's values are still added in
 * ascending row order, the order in which a channels-first kernel visits them (sample by sample,
 * position by position), and every element is computed in double and rounded once: the results
 * equal those of the straightforward channels-first computation on the transposed data, and do not
 * depend on how channels are split between threads (each range touches only its own scratch
 * entries).
 *
 * <p>Scratch: {@code 4 * C} doubles, from {@link #scratch(int)} (one array per calling thread, so
 * steady-state calls allocate nothing).
 */
public final class ChannelsLastKernels {

  private static final ThreadLocal<double[]> SCRATCH = ThreadLocal.withInitial(() -> new double[64]);

  private ChannelsLastKernels() {}

  /**
   * Returns the calling thread's scratch array with at least {@code 4 * channels} entries. Pass it
   * to every range of one call (ranges use disjoint entries).
   */
  public static double[] scratch(int channels) {
    double[] s = SCRATCH.get();
    if (s.length < 4L * channels) {
      s = new double[4 * channels];
      SCRATCH.set(s);
    }
    return s;
  }

  /** Training forward for channels [c0, c1). */
  public static void forwardTraining(
      float[] x, float[] y, int rows, int channels, int c0, int c1,
      float[] weight, float[] bias, float[] runningMean, float[] runningVar, double factor,
      boolean unbiasedRunningVar, double eps, float[] saveMean, float[] saveInvStd, boolean relu,
      double[] scratch) {
    if (rows == 0) {
      return;
    }
    final int sq = channels; // squared deviations, then alpha
    final int sh = 2 * channels; // beta
    for (int c = c0; c < c1; c++) {
      scratch[c] = 0;
      scratch[sq + c] = 0;
    }
    for (int r = 0, base = 0; r < rows; r++, base += channels) {
      for (int c = c0; c < c1; c++) {
        scratch[c] += x[base + c];
      }
    }
    for (int c = c0; c < c1; c++) {
      scratch[c] /= rows; // now the mean
    }
    for (int r = 0, base = 0; r < rows; r++, base += channels) {
      for (int c = c0; c < c1; c++) {
        double d = x[base + c] - scratch[c];
        scratch[sq + c] += d * d;
      }
    }
    for (int c = c0; c < c1; c++) {
      double mean = scratch[c];
      double squares = scratch[sq + c];
      double invStd = 1.0 / Math.sqrt(squares / rows + eps);
      saveMean[c] = (float) mean;
      saveInvStd[c] = (float) invStd;
      scratch[sq + c] = (weight == null ? 1.0 : weight[c]) * invStd;
      scratch[sh + c] = bias == null ? 0.0 : bias[c];
      if (runningMean != null) {
        double runningEstimate = squares / (unbiasedRunningVar ? rows - 1 : rows);
        runningMean[c] = (float) ((1 - factor) * runningMean[c] + factor * mean);
        runningVar[c] = (float) ((1 - factor) * runningVar[c] + factor * runningEstimate);
      }
    }
    normalize(x, y, rows, channels, c0, c1, scratch, 0, sq, sh, relu);
  }

  /** Eval forward with fixed statistics for channels [c0, c1). */
  public static void forwardInference(
      float[] x, float[] y, int rows, int channels, int c0, int c1,
      float[] weight, float[] bias, float[] mean, float[] var, double eps, boolean relu,
      double[] scratch) {
    final int m = 0;
    final int al = channels;
    final int sh = 2 * channels;
    for (int c = c0; c < c1; c++) {
      scratch[m + c] = mean[c];
      scratch[al + c] = (weight == null ? 1.0 : weight[c]) / Math.sqrt(var[c] + eps);
      scratch[sh + c] = bias == null ? 0.0 : bias[c];
    }
    normalize(x, y, rows, channels, c0, c1, scratch, m, al, sh, relu);
  }

  private static void normalize(
      float[] x, float[] y, int rows, int channels, int c0, int c1, double[] s, int meanAt,
      int alphaAt, int betaAt, boolean relu) {
    for (int r = 0, base = 0; r < rows; r++, base += channels) {
      if (relu) {
        for (int c = c0; c < c1; c++) {
          int i = base + c;
          y[i] = Math.max((float) ((x[i] - s[meanAt + c]) * s[alphaAt + c] + s[betaAt + c]), 0f);
        }
      } else {
        for (int c = c0; c < c1; c++) {
          int i = base + c;
          y[i] = (float) ((x[i] - s[meanAt + c]) * s[alphaAt + c] + s[betaAt + c]);
        }
      }
    }
  }

  private static double masked(float[] reluOutput, float[] dy, int i) {
    return reluOutput != null && reluOutput[i] <= 0 ? 0.0 : dy[i];
  }

  /** Training backward for channels [c0, c1), with the ReLU mask when reluOutput != null. */
  public static void backwardTraining(
      float[] x, float[] reluOutput, float[] dy, float[] dx, int rows, int channels, int c0, int c1,
      float[] weight, float[] saveMean, float[] saveInvStd, float[] weightGrad, float[] biasGrad,
      double[] scratch) {
    if (rows == 0) {
      return;
    }
    final int sDy = 0; // sum dy, then mean dy
    final int sDyC = channels; // sum dy * (x - pivot), then k
    final int sC = 2 * channels; // sum (x - pivot), then the exact mean
    final int sScale = 3 * channels;
    for (int c = c0; c < c1; c++) {
      scratch[sDy + c] = 0;
      scratch[sDyC + c] = 0;
      scratch[sC + c] = 0;
    }
    for (int r = 0, base = 0; r < rows; r++, base += channels) {
      for (int c = c0; c < c1; c++) {
        int i = base + c;
        double g = masked(reluOutput, dy, i);
        double centered = (double) x[i] - saveMean[c]; // exact in double
        scratch[sDy + c] += g;
        scratch[sDyC + c] += g * centered;
        scratch[sC + c] += centered;
      }
    }
    for (int c = c0; c < c1; c++) {
      double sumDy = scratch[sDy + c];
      double correction = scratch[sC + c] / rows;
      double dotXhatUnscaled = scratch[sDyC + c] - correction * sumDy;
      double invStd = saveInvStd[c];
      if (biasGrad != null) {
        biasGrad[c] = (float) (biasGrad[c] + sumDy);
      }
      if (weightGrad != null) {
        weightGrad[c] = (float) (weightGrad[c] + dotXhatUnscaled * invStd);
      }
      scratch[sDy + c] = sumDy / rows;
      scratch[sDyC + c] = dotXhatUnscaled * invStd * invStd / rows;
      scratch[sC + c] = saveMean[c] + correction;
      scratch[sScale + c] = (weight == null ? 1.0 : weight[c]) * invStd;
    }
    for (int r = 0, base = 0; r < rows; r++, base += channels) {
      for (int c = c0; c < c1; c++) {
        int i = base + c;
        double g = masked(reluOutput, dy, i);
        dx[i] = (float) (scratch[sScale + c]
            * ((g - scratch[sDy + c]) - (x[i] - scratch[sC + c]) * scratch[sDyC + c]));
      }
    }
  }

  /** Eval backward with fixed statistics for channels [c0, c1), with the ReLU mask when given. */
  public static void backwardInference(
      float[] x, float[] reluOutput, float[] dy, float[] dx, int rows, int channels, int c0, int c1,
      float[] weight, float[] mean, float[] var, double eps, float[] weightGrad, float[] biasGrad,
      double[] scratch) {
    final int sDy = 0;
    final int sDyC = channels;
    final int sScale = 2 * channels;
    final int sInv = 3 * channels;
    final boolean needSums = weightGrad != null || biasGrad != null;
    for (int c = c0; c < c1; c++) {
      double invStd = 1.0 / Math.sqrt(var[c] + eps);
      scratch[sInv + c] = invStd;
      scratch[sScale + c] = (weight == null ? 1.0 : weight[c]) * invStd;
      scratch[sDy + c] = 0;
      scratch[sDyC + c] = 0;
    }
    for (int r = 0, base = 0; r < rows; r++, base += channels) {
      for (int c = c0; c < c1; c++) {
        int i = base + c;
        double g = masked(reluOutput, dy, i);
        if (needSums) {
          scratch[sDy + c] += g;
          scratch[sDyC + c] += g * (x[i] - (double) mean[c]);
        }
        dx[i] = (float) (g * scratch[sScale + c]);
      }
    }
    for (int c = c0; c < c1; c++) {
      if (biasGrad != null) {
        biasGrad[c] = (float) (biasGrad[c] + scratch[sDy + c]);
      }
      if (weightGrad != null) {
        weightGrad[c] = (float) (weightGrad[c] + scratch[sDyC + c] * scratch[sInv + c]);
      }
    }
  }
}
