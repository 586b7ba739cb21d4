package io.github.batchnorm4j.testing;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.batchnorm4j.internal.KernelOps;
import java.util.SplittableRandom;
import java.util.function.IntToDoubleFunction;
import org.assertj.core.api.Assumptions;

/**
 * The tools every test shares: seeded random data, tolerances that grow with the number of
 * values a result reduces, closeness and bitwise assertions, and the two kernel implementations.
 */
public final class TestData {

  /** float32's unit roundoff, 2^-24: the relative error of one rounding to float. */
  public static final double FLOAT_ROUNDOFF = 0x1p-24;

  /** float64's unit roundoff, 2^-53. */
  public static final double DOUBLE_ROUNDOFF = 0x1p-53;

  /**
   * The most terms a float accumulator of the kernels' sums adds before it is widened to double
   * ({@code KernelOps.FLOAT_BLOCK}, package-private there; {@code FloatLaneSumsTest} checks that
   * the two agree).
   */
  public static final int FLOAT_BLOCK = 16;

  /**
   * Spatial sizes that are awkward for blocking and vectorization (1, primes, one past a power of
   * two), plus a few ordinary ones.
   */
  public static final int[] AWKWARD_SIZES = {1, 2, 3, 7, 13, 16, 17, 207};

  private TestData() {}

  /** A generator for {@code seed}: every test draws its data from a fixed seed. */
  public static SplittableRandom rng(long seed) {
    return new SplittableRandom(seed);
  }

  /** {@code size} floats {@code offset + scale * N(0, 1)}. */
  public static float[] gaussian(SplittableRandom rnd, int size, double scale, double offset) {
    return gaussian(rnd, size, i -> scale, offset);
  }

  /**
   * {@code size} floats {@code offset + scale(i) * N(0, 1)}: a spread that differs between elements
   * (say by channel, or cycling), one draw per element in index order.
   */
  public static float[] gaussian(SplittableRandom rnd, int size, IntToDoubleFunction scale,
      double offset) {
    float[] a = new float[size];
    for (int i = 0; i < size; i++) {
      a[i] = (float) (rnd.nextGaussian() * scale.applyAsDouble(i) + offset);
    }
    return a;
  }

  /** {@code size} floats uniform in [lo, hi). */
  public static float[] uniform(SplittableRandom rnd, int size, double lo, double hi) {
    float[] a = new float[size];
    for (int i = 0; i < size; i++) {
      a[i] = (float) (lo + (hi - lo) * rnd.nextDouble());
    }
    return a;
  }

  /**
   * x = N(0, 1) * scale_c + offset_c with per-channel scale in [0.5, 2) and offset in [-3, 3). A
   * channel whose sample variance comes out below 0.1 * scale_c^2 (likely only for m = 2 or 3
   * values per channel) is drawn again, so that every batch is well conditioned: with a tiny
   * variance the float32 result of any implementation, PyTorch's included, carries errors of order
   * 1e-7 * |x| / std, and a 1e-5 comparison of two float32 implementations would test luck. The
   * PyTorch fixtures were generated from it (GenerateTorchFixtures), so its draws must not change.
   */
  public static float[] wellConditionedInput(int[] shape, SplittableRandom rnd) {
    int n = shape[0];
    int ch = shape[1];
    int inner = 1;
    for (int i = 2; i < shape.length; i++) {
      inner *= shape[i];
    }
    float[] x = new float[n * ch * inner];
    int m = n * inner;
    float[] values = new float[m];
    for (int c = 0; c < ch; c++) {
      double scale = 0.5 + 1.5 * rnd.nextDouble();
      double offset = -3 + 6 * rnd.nextDouble();
      for (int attempt = 0; ; attempt++) {
        double sum = 0;
        for (int i = 0; i < m; i++) {
          values[i] = (float) (rnd.nextGaussian() * scale + offset);
          sum += values[i];
        }
        double mean = sum / m;
        double ss = 0;
        for (int i = 0; i < m; i++) {
          ss += (values[i] - mean) * (values[i] - mean);
        }
        if (m < 2 || ss / m >= 0.1 * scale * scale || attempt > 1000) {
          break;
        }
      }
      for (int b = 0; b < n; b++) {
        System.arraycopy(values, b * inner, x, (b * ch + c) * inner, inner);
      }
    }
    return x;
  }

  /**
   * The error allowed for a float32 result of magnitude {@code magnitude} computed from
   * {@code reduced} values: a few float32 roundings of the result and of the saved float32
   * statistics it goes through, plus the float64 accumulation error of a sum of that many terms
   * (which grows with the count), doubled for margin.
   *
   * @param magnitude the largest magnitude of the terms (say |y| or |gamma * invStd * dy|)
   * @param reduced the number of values the result sums over (m for a statistic or dx, 1 for an
   *     elementwise value)
   */
  public static double tolerance(double magnitude, long reduced) {
    return 2 * Math.max(magnitude, 1e-30) * (8 * FLOAT_ROUNDOFF + reduced * DOUBLE_ROUNDOFF);
  }

  /** 1 / sqrt(var + eps) per channel. */
  public static double[] invStd(double[] var, double eps) {
    double[] out = new double[var.length];
    for (int c = 0; c < out.length; c++) {
      out[c] = 1 / Math.sqrt(var[c] + eps);
    }
    return out;
  }

  /**
   * A backward pass's dx, dgamma and dbeta against the float64 reference. dx is made of terms as
   * large as |gamma * invStd| (|dy| + 1) and goes through the float-rounded saved statistics;
   * dgamma and dbeta are float64 sums over the m values of a channel rounded once, so they are
   * held to their own magnitude (of unit scale at least).
   *
   * @param weight gamma, or null without affine parameters
   * @param reduced the number of values dx depends on through statistics: m in training, 1 in
   *     eval (where dx is elementwise)
   */
  public static void assertBackwardClose(String what, float[] dx, float[] weightGrad,
      float[] biasGrad, ReferenceBatchNorm.Backward back, double[] weight, double[] invStd,
      float[] dy, long reduced) {
    double termScale = (weight == null ? 1 : maxAbs(weight)) * maxAbs(invStd) * (maxAbs(dy) + 1);
    assertClose(what + "dx", dx, back.dx(), tolerance(termScale, reduced));
    long m = (long) dx.length / invStd.length;
    assertClose(what + "dgamma", weightGrad, back.dWeight(),
        tolerance(maxAbs(back.dWeight()) + 1, m) + floatBlocks(m, maxAbs(dy)));
    assertClose(what + "dbeta", biasGrad, back.dBias(), tolerance(maxAbs(back.dBias()) + 1, m));
  }

  /**
   * What float accumulators add to the error of dgamma = sum dy (x - mean) / sigma over m values:
   * the Vector API kernels (and the scalar ones where C2 does not vectorize double arithmetic) add
   * its terms t in float blocks of {@link #FLOAT_BLOCK}, each of which rounds its partial sum once
   * per term: about {@code u sqrt(FLOAT_BLOCK sum t^2)} over the channel in the typical case (the
   * roundings are independent), and {@code sum t^2 <= max|dy|^2 m} because {@code sum (x -
   * mean)^2 = m sigma^2}; so {@code u sqrt(FLOAT_BLOCK m) max|dy|}, doubled. It is relative
   * to the terms, not to dgamma, which can cancel far below them: a random case, 6,860 terms of
   * size 1 giving |dgamma| = 5, had an error of 6.1e-6, above the 5.7e-6 that the result's size
   * alone allows, and 25 times below this. The worst case, 16 roundings of the sum of the terms'
   * magnitudes per block ({@code FloatLaneSumsTest}), is about 30 times larger again.
   */
  static double floatBlocks(long m, double maxAbsDy) {
    return 2 * FLOAT_ROUNDOFF * Math.sqrt((double) FLOAT_BLOCK * m) * maxAbsDy;
  }

  /** The largest |v|. */
  public static double maxAbs(double[] values) {
    double max = 0;
    for (double v : values) {
      max = Math.max(max, Math.abs(v));
    }
    return max;
  }

  /** The largest |v|. */
  public static double maxAbs(float[] values) {
    double max = 0;
    for (float v : values) {
      max = Math.max(max, Math.abs(v));
    }
    return max;
  }

  /**
   * Every |actual - expected| is at most {@code tolerance}; reports the worst element. A NaN on
   * one side only is an infinite error, wherever it is; equal values (two NaNs, or infinities of
   * the same sign) are no error.
   */
  public static void assertClose(String what, float[] actual, double[] expected,
      double tolerance) {
    assertThat(actual).as(what + ": length").hasSize(expected.length);
    double worst = -1;
    int at = -1;
    for (int i = 0; i < actual.length; i++) {
      double err = error(actual[i], expected[i]);
      if (err > worst) {
        worst = err;
        at = i;
      }
    }
    if (at >= 0 && !(worst <= tolerance)) {
      throw new AssertionError(what + ": error " + worst + " at index " + at + " (actual "
          + actual[at] + ", expected " + expected[at] + ") exceeds " + tolerance);
    }
  }

  /**
   * {@return |actual - expected|: 0 for equal values (two NaNs, or infinities of the same sign),
   * infinity when only one of them is a NaN}
   */
  static double error(double actual, double expected) {
    if (actual == expected || Double.isNaN(actual) && Double.isNaN(expected)) {
      return 0;
    }
    double err = Math.abs(actual - expected);
    return Double.isNaN(err) ? Double.POSITIVE_INFINITY : err;
  }

  /** Every |actual - expected| is at most {@code tolerance}; reports the worst element. */
  public static void assertClose(String what, float[] actual, float[] expected,
      double tolerance) {
    assertClose(what, actual, ReferenceBatchNorm.toDouble(expected), tolerance);
  }

  /** The two arrays hold the same float bits. */
  public static void assertBitwiseEqual(String what, float[] actual, float[] expected) {
    assertThat(actual).as(what + ": length").hasSize(expected.length);
    for (int i = 0; i < actual.length; i++) {
      if (Float.floatToRawIntBits(actual[i]) != Float.floatToRawIntBits(expected[i])) {
        throw new AssertionError(what + "[" + i + "] = " + actual[i] + " but expected the bits of "
            + expected[i]);
      }
    }
  }

  /** The names of the kernel implementations, for parameterized tests. */
  public static String[] implementations() {
    return new String[] {"scalar", "vector"};
  }

  /**
   * The named kernels; the Vector API ones skip the test (an assumption) when this JVM cannot run
   * them.
   */
  public static KernelOps kernels(String name) {
    if (name.equals("scalar")) {
      return KernelOps.scalar();
    }
    Assumptions.assumeThat(KernelOps.vector())
        .as("jdk.incubator.vector is absent: " + KernelOps.selectionReason()).isPresent();
    return KernelOps.vector().orElseThrow();
  }

  /** Channels-last (N, S, C) data as channels-first (N, C, S). */
  public static double[] toChannelsFirst(float[] data, int n, int c, int s) {
    return ReferenceBatchNorm.toDouble(channelsLastToFirst(data, n, c, s));
  }

  /** Channels-last (N, S, C) floats as channels-first (N, C, S). */
  public static float[] channelsLastToFirst(float[] data, int n, int c, int s) {
    float[] out = new float[data.length];
    for (int b = 0; b < n; b++) {
      for (int i = 0; i < s; i++) {
        for (int ch = 0; ch < c; ch++) {
          out[(b * c + ch) * s + i] = data[(b * s + i) * c + ch];
        }
      }
    }
    return out;
  }

  /** Channels-first (N, C, S) floats as channels-last (N, S, C). */
  public static float[] channelsFirstToLast(float[] data, int n, int c, int s) {
    float[] out = new float[data.length];
    for (int b = 0; b < n; b++) {
      for (int i = 0; i < s; i++) {
        for (int ch = 0; ch < c; ch++) {
          out[(b * s + i) * c + ch] = data[(b * c + ch) * s + i];
        }
      }
    }
    return out;
  }

  /** Channels-first (N, C, S) data as channels-last (N, S, C). */
  public static double[] toChannelsLast(double[] data, int n, int c, int s) {
    double[] out = new double[data.length];
    for (int b = 0; b < n; b++) {
      for (int i = 0; i < s; i++) {
        for (int ch = 0; ch < c; ch++) {
          out[(b * s + i) * c + ch] = data[(b * c + ch) * s + i];
        }
      }
    }
    return out;
  }
}
