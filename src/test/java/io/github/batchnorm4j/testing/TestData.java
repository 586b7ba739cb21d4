package io.github.batchnorm4j.testing;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.batchnorm4j.internal.KernelOps;
import java.util.SplittableRandom;
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

  private TestData() {}

  /** A generator for {@code seed}: every test draws its data from a fixed seed. */
  public static SplittableRandom rng(long seed) {
    return new SplittableRandom(seed);
  }

  /** {@code size} floats {@code offset + scale * N(0, 1)}. */
  public static float[] gaussian(SplittableRandom rnd, int size, double scale, double offset) {
    float[] a = new float[size];
    for (int i = 0; i < size; i++) {
      a[i] = (float) (rnd.nextGaussian() * scale + offset);
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

  /** Every |actual - expected| is at most {@code tolerance}; reports the worst element. */
  public static void assertClose(String what, float[] actual, double[] expected,
      double tolerance) {
    assertThat(actual).as(what + ": length").hasSize(expected.length);
    double worst = -1;
    int at = -1;
    for (int i = 0; i < actual.length; i++) {
      double err = Math.abs(actual[i] - expected[i]);
      if (!(err <= worst)) { // NaN counts as worst
        worst = err;
        at = i;
      }
    }
    if (at >= 0 && !(worst <= tolerance)) {
      throw new AssertionError(what + ": error " + worst + " at index " + at + " (actual "
          + actual[at] + ", expected " + expected[at] + ") exceeds " + tolerance);
    }
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
    double[] out = new double[data.length];
    for (int b = 0; b < n; b++) {
      for (int i = 0; i < s; i++) {
        for (int ch = 0; ch < c; ch++) {
          out[(b * c + ch) * s + i] = data[(b * s + i) * c + ch];
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
