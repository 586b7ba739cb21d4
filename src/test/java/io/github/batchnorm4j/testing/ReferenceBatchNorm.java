package io.github.batchnorm4j.testing;

/**
 * An independent float64 batch norm, written straight from the formulas of PyTorch's documentation
 * (../docs/batchnorm-semantics.md items 6 to 14) with no attempt at speed or float32 tricks. Tests
 * compare the library against it.
 *
 * <p>Layout (N, C, S) row-major, S = product of the spatial sizes; channel c of sample n is the
 * contiguous run starting at (n * C + c) * S.
 */
public final class ReferenceBatchNorm {

  private ReferenceBatchNorm() {}

  /** Batch statistics of one forward, in double. */
  public record Stats(double[] mean, double[] biasedVar, double[] unbiasedVar) {}

  /** Output of a forward: y and, when batch statistics were used, the statistics. */
  public record Forward(double[] y, Stats stats) {}

  /** Output of a backward. */
  public record Backward(double[] dx, double[] dWeight, double[] dBias) {}

  public static double[] toDouble(float[] a) {
    double[] d = new double[a.length];
    for (int i = 0; i < a.length; i++) {
      d[i] = a[i];
    }
    return d;
  }

  public static Stats stats(double[] x, int n, int c, int s) {
    double[] mean = new double[c];
    double[] biased = new double[c];
    double[] unbiased = new double[c];
    long m = (long) n * s;
    for (int ch = 0; ch < c; ch++) {
      double sum = 0;
      for (int b = 0; b < n; b++) {
        for (int i = 0; i < s; i++) {
          sum += x[(b * c + ch) * s + i];
        }
      }
      double mu = sum / m;
      double sq = 0;
      for (int b = 0; b < n; b++) {
        for (int i = 0; i < s; i++) {
          double d = x[(b * c + ch) * s + i] - mu;
          sq += d * d;
        }
      }
      mean[ch] = mu;
      biased[ch] = sq / m;
      unbiased[ch] = m > 1 ? sq / (m - 1) : Double.NaN;
    }
    return new Stats(mean, biased, unbiased);
  }

  /**
   * Normalizes with the given per-channel mean and variance: y = (x - mean) / sqrt(var + eps) *
   * gamma + beta. weight/bias null mean 1/0.
   */
  public static double[] normalize(
      double[] x, int n, int c, int s, double[] mean, double[] var, double[] weight, double[] bias,
      double eps) {
    double[] y = new double[x.length];
    for (int b = 0; b < n; b++) {
      for (int ch = 0; ch < c; ch++) {
        double inv = 1 / Math.sqrt(var[ch] + eps);
        double g = weight == null ? 1 : weight[ch];
        double be = bias == null ? 0 : bias[ch];
        for (int i = 0; i < s; i++) {
          int k = (b * c + ch) * s + i;
          y[k] = (x[k] - mean[ch]) * inv * g + be;
        }
      }
    }
    return y;
  }

  /** Training forward: batch statistics, normalization. */
  public static Forward forwardTraining(
      double[] x, int n, int c, int s, double[] weight, double[] bias, double eps) {
    Stats st = stats(x, n, c, s);
    return new Forward(normalize(x, n, c, s, st.mean(), st.biasedVar(), weight, bias, eps), st);
  }

  /** The running-statistics update with factor f, in place on double arrays. */
  public static void updateRunning(Stats st, double[] runningMean, double[] runningVar, double f) {
    updateRunning(st, runningMean, runningVar, f, true);
  }

  /**
   * The running-statistics update with factor f and PyTorch's unbiased variance ({@code
   * unbiased}) or the biased one of the Keras and DL4J convention.
   */
  public static void updateRunning(Stats st, double[] runningMean, double[] runningVar, double f,
      boolean unbiased) {
    for (int ch = 0; ch < runningMean.length; ch++) {
      runningMean[ch] = (1 - f) * runningMean[ch] + f * st.mean()[ch];
      runningVar[ch] = (1 - f) * runningVar[ch]
          + f * (unbiased ? st.unbiasedVar()[ch] : st.biasedVar()[ch]);
    }
  }

  /** ReLU's forward: max(0, v) elementwise, a new array. */
  public static double[] relu(double[] v) {
    double[] out = new double[v.length];
    for (int i = 0; i < v.length; i++) {
      out[i] = Math.max(0, v[i]);
    }
    return out;
  }

  /**
   * ReLU's backward: dy where the forward's output is &gt; 0, else 0 (PyTorch's {@code
   * threshold_backward} on the output), a new array.
   */
  public static double[] reluBackward(double[] dy, float[] output) {
    double[] out = new double[dy.length];
    for (int i = 0; i < dy.length; i++) {
      out[i] = output[i] <= 0 ? 0 : dy[i];
    }
    return out;
  }

  /** Backward when the statistics came from x (item 13). */
  public static Backward backwardTraining(
      double[] x, double[] dy, int n, int c, int s, double[] weight, double eps) {
    Stats st = stats(x, n, c, s);
    long m = (long) n * s;
    double[] dx = new double[x.length];
    double[] dw = new double[c];
    double[] db = new double[c];
    for (int ch = 0; ch < c; ch++) {
      double inv = 1 / Math.sqrt(st.biasedVar()[ch] + eps);
      double sumDy = 0;
      double sumDyXhat = 0;
      for (int b = 0; b < n; b++) {
        for (int i = 0; i < s; i++) {
          int k = (b * c + ch) * s + i;
          sumDy += dy[k];
          sumDyXhat += dy[k] * (x[k] - st.mean()[ch]) * inv;
        }
      }
      db[ch] = sumDy;
      dw[ch] = sumDyXhat;
      double g = weight == null ? 1 : weight[ch];
      for (int b = 0; b < n; b++) {
        for (int i = 0; i < s; i++) {
          int k = (b * c + ch) * s + i;
          double xhat = (x[k] - st.mean()[ch]) * inv;
          dx[k] = g * inv * (dy[k] - sumDy / m - xhat * sumDyXhat / m);
        }
      }
    }
    return new Backward(dx, dw, db);
  }

  /** Backward when the statistics were constants (item 14). */
  public static Backward backwardInference(
      double[] x, double[] dy, int n, int c, int s, double[] weight, double[] mean, double[] var,
      double eps) {
    double[] dx = new double[x.length];
    double[] dw = new double[c];
    double[] db = new double[c];
    for (int ch = 0; ch < c; ch++) {
      double inv = 1 / Math.sqrt(var[ch] + eps);
      double g = weight == null ? 1 : weight[ch];
      for (int b = 0; b < n; b++) {
        for (int i = 0; i < s; i++) {
          int k = (b * c + ch) * s + i;
          dx[k] = dy[k] * g * inv;
          db[ch] += dy[k];
          dw[ch] += dy[k] * (x[k] - mean[ch]) * inv;
        }
      }
    }
    return new Backward(dx, dw, db);
  }
}
