package io.github.batchnorm4j.examples.nn;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.batchnorm4j.Tensor;
import java.util.Random;
import java.util.function.DoubleSupplier;

/**
 * Finite-difference gradient checks for the example layers.
 *
 * <p>A layer's backward is checked through the scalar {@code L = sum_i r_i * y_i} with fixed random
 * weights r: then dL/dy = r, so {@code backward(r)} must return dL/dx, and the parameter gradients
 * must equal dL/dparam. Each is compared with the central difference
 * {@code (L(v + h) - L(v - h)) / 2h}, where L is summed in double. The layers compute in float, so
 * h is large enough (1e-2) that float rounding in L (about 1e-7 relative) stays far below the
 * tolerance; for the piecewise-linear layers the inputs are kept more than h away from the kinks.
 */
final class GradientCheck {

  static final double H = 1e-2;

  private GradientCheck() {}

  /** Fills a tensor with standard normal values. */
  static Tensor randomTensor(io.github.batchnorm4j.Shape shape, Random random) {
    Tensor t = Tensor.zeros(shape);
    for (int i = 0; i < t.data().length; i++) {
      t.data()[i] = (float) random.nextGaussian();
    }
    return t;
  }

  /** L = sum r * forward(x), in double. */
  static double projectedOutput(Layer layer, Tensor x, float[] r) {
    float[] y = layer.forward(x).data();
    double sum = 0;
    for (int i = 0; i < y.length; i++) {
      sum += (double) r[i] * y[i];
    }
    return sum;
  }

  /**
   * Checks dL/dx and every parameter gradient of {@code layer} at {@code x}, on up to
   * {@code samples} randomly chosen coordinates of each.
   */
  static void check(Layer layer, Tensor x, Random random, int samples, double tolerance) {
    Tensor y = layer.forward(x);
    float[] r = new float[y.data().length];
    for (int i = 0; i < r.length; i++) {
      r[i] = (float) random.nextGaussian();
    }
    for (Param p : layer.params()) {
      p.zeroGrad();
    }
    layer.forward(x);
    Tensor dx = layer.backward(Tensor.of(y.shape(), r.clone()));
    float[][] analyticParams = new float[layer.params().size()][];
    for (int k = 0; k < analyticParams.length; k++) {
      analyticParams[k] = layer.params().get(k).grad().clone();
    }

    if (dx != null) {
      compare("dL/dx", x.data(), dx.data(), () -> projectedOutput(layer, x, r), random, samples,
          tolerance);
    }
    for (int k = 0; k < analyticParams.length; k++) {
      Param p = layer.params().get(k);
      compare("dL/d" + p.name(), p.value(), analyticParams[k],
          () -> projectedOutput(layer, x, r), random, samples, tolerance);
    }
  }

  /**
   * Compares analytic[i] with the central difference of {@code loss} when values[i] moves by +-H,
   * for a random sample of coordinates.
   */
  static void compare(String what, float[] values, float[] analytic, DoubleSupplier loss,
      Random random, int samples, double tolerance) {
    int count = Math.min(samples, values.length);
    for (int s = 0; s < count; s++) {
      int i = count == values.length ? s : random.nextInt(values.length);
      float saved = values[i];
      values[i] = (float) (saved + H);
      double plus = loss.getAsDouble();
      values[i] = (float) (saved - H);
      double minus = loss.getAsDouble();
      values[i] = saved;
      double numeric = (plus - minus) / (2 * H);
      double scale = Math.max(1.0, Math.abs(numeric));
      assertThat(Math.abs(analytic[i] - numeric))
          .as("%s[%d]: analytic %s vs numeric %s", what, i, analytic[i], numeric)
          .isLessThanOrEqualTo(tolerance * scale);
    }
  }
}
