package io.github.batchnorm4j.testing;

import java.util.Arrays;
import org.opentest4j.AssertionFailedError;

/**
 * The tolerances used when batchnorm4j is compared with PyTorch's float32 results, in one place.
 *
 * <ul>
 *   <li>{@link #assertOutput outputs and input gradients} (y, dx), whose values are of unit scale:
 *       |actual - expected| &lt;= 1e-5 * max(1, max |expected|) for every element;
 *   <li>{@link #assertParameterGradient parameter gradients} (dweight, dbias), sums over m values:
 *       1e-5 relative to the gradient's magnitude, |actual - expected| &lt;= 1e-5 * max(1, max
 *       |expected|);
 *   <li>{@link #assertRunningStat running statistics}: 1e-5 relative per element, |actual -
 *       expected| &lt;= 1e-5 * max(1, |expected_i|).
 * </ul>
 *
 * NaN never matches. Failure messages name the case, step and tensor (the {@code what} argument),
 * how many elements are off, and the worst one with its (n, c, rest) position when a shape is given.
 */
public final class TorchTolerances {

  /** Tolerance for unit-scale outputs and input gradients. */
  public static final double OUTPUT = 1e-5;

  /** Relative tolerance for parameter gradients and running statistics. */
  public static final double RELATIVE = 1e-5;

  private TorchTolerances() {}

  /** y or dx: within 1e-5 * max(1, max |expected|). */
  public static void assertOutput(String what, int[] shape, float[] expected, float[] actual) {
    assertScaled(what, shape, expected, actual, OUTPUT);
  }

  /** dweight or dbias: within 1e-5 * max(1, max |expected|). */
  public static void assertParameterGradient(String what, float[] expected, float[] actual) {
    assertScaled(what, null, expected, actual, RELATIVE);
  }

  /** running mean or variance: each within 1e-5 * max(1, |expected_i|). */
  public static void assertRunningStat(String what, float[] expected, float[] actual) {
    checkLengths(what, expected, actual);
    int bad = 0;
    int worst = -1;
    double worstRatio = 0;
    for (int i = 0; i < expected.length; i++) {
      double allowed = RELATIVE * Math.max(1.0, Math.abs((double) expected[i]));
      double diff = Math.abs((double) actual[i] - expected[i]);
      double ratio = Double.isNaN(diff) ? Double.POSITIVE_INFINITY : diff / allowed;
      if (ratio > 1) {
        bad++;
      }
      if (ratio > worstRatio || worst < 0) {
        worstRatio = ratio;
        worst = i;
      }
    }
    if (bad > 0) {
      throw new AssertionFailedError(String.format(
          "%s: %d of %d elements differ from PyTorch by more than %.0e relative; worst at [%d]: "
              + "expected %s, actual %s%n  expected %s%n  actual   %s",
          what, bad, expected.length, RELATIVE, worst, expected[worst], actual[worst],
          abbreviate(expected), abbreviate(actual)));
    }
  }

  /**
   * The largest |actual - expected| / max(1, max |expected|) over all elements (infinity for NaN);
   * a value &lt;= 1e-5 passes {@link #assertOutput}.
   */
  public static double scaledError(float[] expected, float[] actual) {
    double scale = scale(expected);
    double worst = 0;
    for (int i = 0; i < expected.length; i++) {
      double diff = Math.abs((double) actual[i] - expected[i]);
      worst = Math.max(worst, Double.isNaN(diff) ? Double.POSITIVE_INFINITY : diff / scale);
    }
    return worst;
  }

  private static void assertScaled(String what, int[] shape, float[] expected, float[] actual, double tol) {
    checkLengths(what, expected, actual);
    double scale = scale(expected);
    double allowed = tol * scale;
    int bad = 0;
    int worst = 0;
    double worstDiff = -1;
    for (int i = 0; i < expected.length; i++) {
      double diff = Math.abs((double) actual[i] - expected[i]);
      if (Double.isNaN(diff)) {
        diff = Double.POSITIVE_INFINITY;
      }
      if (diff > allowed) {
        bad++;
      }
      if (diff > worstDiff) {
        worstDiff = diff;
        worst = i;
      }
    }
    if (bad > 0) {
      throw new AssertionFailedError(String.format(
          "%s: %d of %d elements differ from PyTorch by more than %.3g (%.0e x scale %.4g); worst "
              + "at %s: expected %s, actual %s, |diff| %.3g",
          what, bad, expected.length, allowed, tol, scale, position(shape, worst), expected[worst],
          actual[worst], worstDiff)
          + (expected.length <= 32
              ? String.format("%n  expected %s%n  actual   %s", abbreviate(expected), abbreviate(actual))
              : ""));
    }
  }

  private static double scale(float[] expected) {
    double max = 1.0;
    for (float v : expected) {
      if (Float.isFinite(v)) {
        max = Math.max(max, Math.abs(v));
      }
    }
    return max;
  }

  private static void checkLengths(String what, float[] expected, float[] actual) {
    if (expected == null || actual == null) {
      throw new AssertionFailedError(what + ": expected " + (expected == null ? "null" : "an array")
          + " but got " + (actual == null ? "null" : "an array"));
    }
    if (expected.length != actual.length) {
      throw new AssertionFailedError(
          what + ": expected " + expected.length + " elements but got " + actual.length);
    }
  }

  /** "[i] (n=.., c=.., rest)" for an index into an (N, C, *spatial) tensor. */
  private static String position(int[] shape, int index) {
    if (shape == null || shape.length < 2) {
      return "[" + index + "]";
    }
    int inner = 1;
    for (int i = 2; i < shape.length; i++) {
      inner *= shape[i];
    }
    int c = (index / inner) % shape[1];
    int n = index / (inner * shape[1]);
    return "[" + index + "] (n=" + n + ", c=" + c + ", spatial offset " + (index % inner) + ")";
  }

  private static String abbreviate(float[] a) {
    return a.length <= 32 ? Arrays.toString(a) : Arrays.toString(Arrays.copyOf(a, 32)) + "...";
  }
}
