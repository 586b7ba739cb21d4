package io.github.batchnorm4j;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.batchnorm4j.testing.ReferenceBatchNorm;
import io.github.batchnorm4j.testing.TestData;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Finite-difference checks of dx, dgamma and dbeta in both modes. The loss is L = sum(y * r) for a
 * fixed random r, so dL/dy = r. Central differences on the float32 module, with the loss summed
 * in double; the step is large enough that float rounding of y (about 1e-7 relative) stays well
 * below the O(h^2) truncation error, and the tolerance is set from both.
 */
class GradientCheckTest {

  private static final double H = 1e-2;

  /**
   * Relative tolerance of a float32 central difference with step H: the truncation error H^2 / 6
   * times the third derivative (of order 10 for these small channels, ~2e-4) plus the float32
   * rounding of y in the loss (m values of relative error 2^-24, at most 60 here) divided by 2H
   * (~1e-4); 2e-3 leaves a factor of about 6.
   */
  private static final double FLOAT_DIFFERENCE_TOLERANCE = 2e-3;

  /**
   * Absolute tolerance of a float64 central difference with step 1e-6 on the reference: the
   * truncation error (1e-12 times the third derivative) is negligible; the loss's float64
   * rounding, 30 values of relative error 2^-53 on a loss of order 10, over 2e-6, is about 2e-8.
   */
  private static final double DOUBLE_DIFFERENCE_TOLERANCE = 1e-7;

  @ParameterizedTest(name = "{0} shape ({1}, {2}, {3}, {4}) affine={5} track={6}")
  @CsvSource({
      "train, 2, 3, 3, 4, true, true",
      "train, 3, 2, 1, 1, true, true",
      "train, 1, 2, 7, 1, true, false",
      "train, 2, 1, 2, 3, false, true",
      "eval, 2, 3, 3, 4, true, true",
      "eval, 1, 2, 1, 3, true, true",
      "eval, 2, 2, 3, 3, true, false",
      "eval, 2, 2, 2, 2, false, true",
  })
  void finiteDifferencesAgreeWithBackward(String mode, int n, int c, int h, int w,
      boolean affine, boolean track) {
    SplittableRandom rnd = TestData.rng(n * 1000 + c * 100 + h * 10 + w);
    Shape shape = Shape.of(n, c, h, w);
    float[] x = TestData.gaussian(rnd, shape.numel(), 1.5, 0.3);
    float[] r = TestData.gaussian(rnd, shape.numel(), 1, 0);
    Supplier<BatchNorm2d> factory = () -> {
      BatchNorm2d bn = BatchNorm2d.builder(c).affine(affine).trackRunningStats(track).eps(1e-3)
          .build();
      for (int ch = 0; ch < c; ch++) {
        if (affine) {
          bn.weight()[ch] = 0.5f + ch * 0.75f;
          bn.bias()[ch] = 0.2f - ch * 0.1f;
        }
        if (track) {
          bn.runningMean()[ch] = 0.1f * ch;
          bn.runningVar()[ch] = 0.8f + 0.5f * ch;
        }
      }
      if (mode.equals("eval")) {
        bn.eval();
      }
      return bn;
    };
    BatchNorm2d bn = factory.get();
    bn.forward(Tensor.of(shape, x));
    float[] dx = bn.backward(Tensor.of(shape, r)).data();

    for (int i = 0; i < x.length; i++) {
      float[] plus = x.clone();
      float[] minus = x.clone();
      plus[i] += (float) H;
      minus[i] -= (float) H;
      double step = (double) plus[i] - minus[i];
      double numeric = (loss(factory.get(), shape, plus, r) - loss(factory.get(), shape, minus, r))
          / step;
      assertThat((double) dx[i]).as("dx[%d] (%s)", i, mode)
          .isCloseTo(numeric, org.assertj.core.data.Offset.offset(
              FLOAT_DIFFERENCE_TOLERANCE * (1 + Math.abs(numeric))));
    }
    if (affine) {
      for (int ch = 0; ch < c; ch++) {
        for (boolean gamma : new boolean[] {true, false}) {
          final int channel = ch;
          double numeric = 0;
          for (int sign = -1; sign <= 1; sign += 2) {
            BatchNorm2d probe = factory.get();
            float[] p = gamma ? probe.weight() : probe.bias();
            p[channel] += (float) (sign * H);
            numeric += sign * loss(probe, shape, x, r);
          }
          numeric /= 2 * H;
          float analytic = gamma ? bn.weightGrad()[channel] : bn.biasGrad()[channel];
          assertThat((double) analytic).as("%s[%d] (%s)", gamma ? "dgamma" : "dbeta", ch, mode)
              .isCloseTo(numeric, org.assertj.core.data.Offset.offset(
                  FLOAT_DIFFERENCE_TOLERANCE * (1 + Math.abs(numeric))));
        }
      }
    }
  }

  private static double loss(BatchNorm2d bn, Shape shape, float[] x, float[] r) {
    float[] y = bn.forward(Tensor.of(shape, x)).data();
    double sum = 0;
    for (int i = 0; i < y.length; i++) {
      sum += (double) y[i] * r[i];
    }
    return sum;
  }

  /** The same check in float64 on the reference, with a tight tolerance: the formulas themselves. */
  @ParameterizedTest(name = "reference, {0}")
  @CsvSource({"train", "eval"})
  void referenceFormulasAgreeWithFiniteDifferencesInDouble(String mode) {
    int n = 3;
    int c = 2;
    int s = 5;
    SplittableRandom rnd = TestData.rng(99);
    double[] x = ReferenceBatchNorm.toDouble(TestData.gaussian(rnd, n * c * s, 1, 1));
    double[] r = ReferenceBatchNorm.toDouble(TestData.gaussian(rnd, x.length, 1, 0));
    double[] gamma = {0.7, 1.9};
    double[] beta = {0.1, -0.4};
    double[] mean = {0.5, 1.5};
    double[] var = {2.0, 0.6};
    double eps = 1e-3;
    boolean train = mode.equals("train");
    ReferenceBatchNorm.Backward b = train
        ? ReferenceBatchNorm.backwardTraining(x, r, n, c, s, gamma, eps)
        : ReferenceBatchNorm.backwardInference(x, r, n, c, s, gamma, mean, var, eps);
    double h = 1e-6;
    for (int i = 0; i < x.length; i++) {
      double[] xp = x.clone();
      double[] xm = x.clone();
      xp[i] += h;
      xm[i] -= h;
      double numeric = (refLoss(train, xp, r, n, c, s, gamma, beta, mean, var, eps)
          - refLoss(train, xm, r, n, c, s, gamma, beta, mean, var, eps)) / (2 * h);
      assertThat(b.dx()[i]).as("dx[%d]", i).isCloseTo(numeric,
          org.assertj.core.data.Offset.offset(DOUBLE_DIFFERENCE_TOLERANCE));
    }
    for (int ch = 0; ch < c; ch++) {
      double[] gp = gamma.clone();
      double[] gm = gamma.clone();
      gp[ch] += h;
      gm[ch] -= h;
      double numeric = (refLoss(train, x, r, n, c, s, gp, beta, mean, var, eps)
          - refLoss(train, x, r, n, c, s, gm, beta, mean, var, eps)) / (2 * h);
      assertThat(b.dWeight()[ch]).isCloseTo(numeric,
          org.assertj.core.data.Offset.offset(DOUBLE_DIFFERENCE_TOLERANCE));
      double[] bp = beta.clone();
      double[] bm = beta.clone();
      bp[ch] += h;
      bm[ch] -= h;
      numeric = (refLoss(train, x, r, n, c, s, gamma, bp, mean, var, eps)
          - refLoss(train, x, r, n, c, s, gamma, bm, mean, var, eps)) / (2 * h);
      assertThat(b.dBias()[ch]).isCloseTo(numeric,
          org.assertj.core.data.Offset.offset(DOUBLE_DIFFERENCE_TOLERANCE));
    }
  }

  private static double refLoss(boolean train, double[] x, double[] r, int n, int c, int s,
      double[] gamma, double[] beta, double[] mean, double[] var, double eps) {
    double[] y = train
        ? ReferenceBatchNorm.forwardTraining(x, n, c, s, gamma, beta, eps).y()
        : ReferenceBatchNorm.normalize(x, n, c, s, mean, var, gamma, beta, eps);
    double sum = 0;
    for (int i = 0; i < y.length; i++) {
      sum += y[i] * r[i];
    }
    return sum;
  }
}
