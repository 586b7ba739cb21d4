package io.github.batchnorm4j.internal;

/**
 * The scalar kernels: plain Java loops, always available, and the fallback when the Vector API is
 * absent or switched off ({@code -Dbatchnorm4j.simd=false}). See {@link KernelOps} for the contract
 * and {@link BatchNormKernels} for the passes that call these loops.
 *
 * <h2>Accuracy</h2>
 * <ul>
 *   <li>Sums are accumulated in double. The statistics sum x - K and (x - K)^2 with K a value of the
 *       channel, so a large common offset cancels before anything is squared (docs/kernels.md
 *       bounds the error).
 *   <li>Each output element is computed in double from the float inputs and rounded to float once:
 *       {@code y = (float) ((x - mean) * alpha + beta)} with mean and alpha = gamma * invStd in double.
 *       The error is within about half an ulp of y, and it does not grow with |x| as PyTorch's
 *       float form {@code x * alpha + (beta - mean * alpha)} does.
 *   <li>The training backward uses the saved float mean only as a pivot: it recovers the exact batch
 *       mean from x in the same pass, so a large offset does not bias the gradient, and it forms dx
 *       in double, so the cancellation in {@code dy - mean(dy) - xhat * k} costs nothing.
 * </ul>
 *
 * <p>The loops keep two independent accumulators per sum, so that the adds of consecutive elements
 * do not wait for each other; the order is fixed, so results are reproducible.
 */
public final class ScalarKernels extends KernelOps {

  static final ScalarKernels INSTANCE = new ScalarKernels();

  private ScalarKernels() {}

  @Override
  public String name() {
    return "scalar";
  }

  @Override
  void shiftedSums(float[] x, int base, int stride, int planes, int len, double shift,
      double[] out, int o) {
    double s0 = 0;
    double s1 = 0;
    double q0 = 0;
    double q1 = 0;
    for (int p = 0, start = base; p < planes; p++, start += stride) {
      int i = start;
      for (int end = start + len - 1; i < end; i += 2) {
        double a = x[i] - shift;
        double b = x[i + 1] - shift;
        s0 += a;
        q0 += a * a;
        s1 += b;
        q1 += b * b;
      }
      if (i < start + len) {
        double a = x[i] - shift;
        s0 += a;
        q0 += a * a;
      }
    }
    out[o] = s0 + s1;
    out[o + 1] = q0 + q1;
  }

  @Override
  void normalize(float[] x, float[] y, int base, int stride, int planes, int len,
      double mean, double alpha, double beta, boolean relu) {
    for (int p = 0, start = base; p < planes; p++, start += stride) {
      if (relu) {
        for (int i = start, end = start + len; i < end; i++) {
          y[i] = (float) Math.max((x[i] - mean) * alpha + beta, 0.0); // NaN stays NaN
        }
      } else {
        for (int i = start, end = start + len; i < end; i++) {
          y[i] = (float) ((x[i] - mean) * alpha + beta);
        }
      }
    }
  }

  @Override
  void backwardSums(float[] x, float[] dy, float[] reluOutput, int base, int stride, int planes,
      int len, double pivot, double[] out, int o) {
    double g0 = 0;
    double g1 = 0;
    double d0 = 0;
    double d1 = 0;
    double c0 = 0;
    double c1 = 0;
    for (int p = 0, start = base; p < planes; p++, start += stride) {
      int i = start;
      for (int end = start + len - 1; i < end; i += 2) {
        double ca = x[i] - pivot; // exact in double
        double cb = x[i + 1] - pivot;
        double ga = gradient(dy, reluOutput, i);
        double gb = gradient(dy, reluOutput, i + 1);
        g0 += ga;
        d0 += ga * ca;
        c0 += ca;
        g1 += gb;
        d1 += gb * cb;
        c1 += cb;
      }
      if (i < start + len) {
        double ca = x[i] - pivot;
        double ga = gradient(dy, reluOutput, i);
        g0 += ga;
        d0 += ga * ca;
        c0 += ca;
      }
    }
    out[o] = g0 + g1;
    out[o + 1] = d0 + d1;
    out[o + 2] = c0 + c1;
  }

  @Override
  void backwardDx(float[] x, float[] dy, float[] reluOutput, float[] dx, int base, int stride,
      int planes, int len, double mean, double meanDy, double k, double scale) {
    for (int p = 0, start = base; p < planes; p++, start += stride) {
      for (int i = start, end = start + len; i < end; i++) {
        dx[i] = (float) (scale * ((gradient(dy, reluOutput, i) - meanDy) - (x[i] - mean) * k));
      }
    }
  }

  @Override
  void scaleGrad(float[] x, float[] dy, float[] reluOutput, float[] dx, int base, int stride,
      int planes, int len, double center, double scale, boolean sums, double[] out, int o) {
    if (!sums) {
      for (int p = 0, start = base; p < planes; p++, start += stride) {
        for (int i = start, end = start + len; i < end; i++) {
          dx[i] = (float) (gradient(dy, reluOutput, i) * scale);
        }
      }
      return;
    }
    double g0 = 0;
    double g1 = 0;
    double d0 = 0;
    double d1 = 0;
    for (int p = 0, start = base; p < planes; p++, start += stride) {
      int i = start;
      for (int end = start + len - 1; i < end; i += 2) {
        double ga = gradient(dy, reluOutput, i);
        double gb = gradient(dy, reluOutput, i + 1);
        g0 += ga;
        d0 += ga * (x[i] - center);
        g1 += gb;
        d1 += gb * (x[i + 1] - center);
        dx[i] = (float) (ga * scale);
        dx[i + 1] = (float) (gb * scale);
      }
      if (i < start + len) {
        double ga = gradient(dy, reluOutput, i);
        g0 += ga;
        d0 += ga * (x[i] - center);
        dx[i] = (float) (ga * scale);
      }
    }
    out[o] = g0 + g1;
    out[o + 1] = d0 + d1;
  }

  /**
   * The gradient reaching the normalization at i: dy, or with a fused ReLU 0 where the forward's
   * output is {@code <= 0}, as PyTorch's {@code threshold_backward} masks it (a NaN output passes
   * dy).
   */
  private static double gradient(float[] dy, float[] reluOutput, int i) {
    return reluOutput != null && reluOutput[i] <= 0f ? 0.0 : dy[i];
  }
}
