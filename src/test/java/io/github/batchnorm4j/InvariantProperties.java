package io.github.batchnorm4j;

import static io.github.batchnorm4j.testing.TestData.maxAbs;
import static io.github.batchnorm4j.testing.TestData.tolerance;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.batchnorm4j.testing.TestData;
import java.util.SplittableRandom;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

/** Mathematical invariants of training-mode batch norm, over random shapes and parameters. */
class InvariantProperties {

  record Case(int n, int c, int s, float[] x, float[] gamma, float[] beta, double eps) {
    Shape shape() {
      return Shape.of(n, c, 1, s);
    }
  }

  private static Case randomCase(long seed, int n, int c, int spatialIndex, double offset) {
    SplittableRandom rnd = TestData.rng(seed);
    int s = TestData.AWKWARD_SIZES[spatialIndex];
    if ((long) n * s == 1) {
      n = 2;
    }
    int planes = s;
    float[] x = TestData.gaussian(rnd, n * c * s, i -> 1 + (i / planes) % c, offset); // by channel
    float[] gamma = TestData.uniform(rnd, c, 0.25, 2.25);
    float[] beta = TestData.gaussian(rnd, c, 1, 0);
    return new Case(n, c, s, x, gamma, beta, 1e-5 * (1 + rnd.nextInt(100)));
  }

  private static BatchNorm2d module(Case k) {
    BatchNorm2d bn = BatchNorm2d.builder(k.c()).eps(k.eps()).build();
    System.arraycopy(k.gamma(), 0, bn.weight(), 0, k.c());
    System.arraycopy(k.beta(), 0, bn.bias(), 0, k.c());
    return bn;
  }

  @Property(tries = 150)
  void eachChannelHasMeanBetaAndVarianceGammaSquaredTimesVarOverVarPlusEps(
      @ForAll long seed, @ForAll @IntRange(min = 1, max = 5) int n,
      @ForAll @IntRange(min = 1, max = 6) int c, @ForAll @IntRange(min = 0, max = 7) int si) {
    Case k = randomCase(seed, n, c, si, 0);
    float[] y = module(k).forward(Tensor.of(k.shape(), k.x())).data();
    long m = (long) k.n() * k.s();
    for (int ch = 0; ch < k.c(); ch++) {
      double var = ReferenceStats.variance(k.x(), k.n(), k.c(), k.s(), ch);
      double mean = ReferenceStats.mean(y, k.n(), k.c(), k.s(), ch);
      double outVar = ReferenceStats.variance(y, k.n(), k.c(), k.s(), ch);
      double g = k.gamma()[ch];
      // Each y is within the tolerance of |y| (at least of unit scale); so is their mean.
      assertThat(mean).as("mean of channel %d", ch).isCloseTo(k.beta()[ch],
          org.assertj.core.data.Offset.offset(tolerance(maxAbs(y) + 1, m)));
      // A square doubles the relative error: (1 + d)^2 = 1 + 2d + d^2.
      assertThat(outVar).as("variance of channel %d (m = %s)", ch, m)
          .isCloseTo(g * g * var / (var + k.eps()),
              org.assertj.core.data.Offset.offset(2 * tolerance(g * g, m)));
    }
  }

  @Property(tries = 150)
  void aPerChannelConstantLikeAConvBiasDoesNotChangeTheTrainingOutput(
      @ForAll long seed, @ForAll @IntRange(min = 1, max = 5) int n,
      @ForAll @IntRange(min = 1, max = 6) int c, @ForAll @IntRange(min = 0, max = 7) int si) {
    Case k = randomCase(seed, n, c, si, 0);
    float[] shifted = k.x().clone();
    float[] bias = TestData.gaussian(TestData.rng(seed ^ 0x5DEECE66DL), k.c(), 3, 0);
    for (int i = 0; i < shifted.length; i++) {
      shifted[i] += bias[(i / k.s()) % k.c()];
    }
    float[] y = module(k).forward(Tensor.of(k.shape(), k.x())).data();
    float[] yShifted = module(k).forward(Tensor.of(k.shape(), shifted)).data();
    long m = (long) k.n() * k.s();
    for (int ch = 0; ch < k.c(); ch++) {
      // The shift itself is rounded to float, so the inputs differ by up to a rounding of |x + b|,
      // which the batch norm scales by gamma * invStd: the magnitude of the terms of y.
      double invStd = 1 / Math.sqrt(ReferenceStats.variance(k.x(), k.n(), k.c(), k.s(), ch)
          + k.eps());
      double maxShifted = 0;
      for (int b = 0; b < k.n(); b++) {
        for (int j = 0; j < k.s(); j++) {
          maxShifted = Math.max(maxShifted, Math.abs(shifted[(b * k.c() + ch) * k.s() + j]));
        }
      }
      double termScale = k.gamma()[ch] * invStd * maxShifted + maxAbs(y) + 1;
      for (int b = 0; b < k.n(); b++) {
        for (int j = 0; j < k.s(); j++) {
          int i = (b * k.c() + ch) * k.s() + j;
          assertThat((double) yShifted[i]).as("y[%d]", i).isCloseTo(y[i],
              org.assertj.core.data.Offset.offset(2 * tolerance(termScale, m)));
        }
      }
    }
  }

  @Property(tries = 150)
  void trainingGradientSumsToZeroAndIsOrthogonalToXhat(
      @ForAll long seed, @ForAll @IntRange(min = 1, max = 5) int n,
      @ForAll @IntRange(min = 1, max = 6) int c, @ForAll @IntRange(min = 0, max = 7) int si) {
    Case k = randomCase(seed, n, c, si, 2);
    BatchNorm2d bn = module(k);
    float[] y = bn.forward(Tensor.of(k.shape(), k.x())).data();
    float[] dy = TestData.gaussian(TestData.rng(~seed), y.length, 1, 0);
    long m = (long) k.n() * k.s();
    float[] dx = bn.backward(Tensor.of(k.shape(), dy)).data();
    for (int ch = 0; ch < k.c(); ch++) {
      double mean = ReferenceStats.mean(k.x(), k.n(), k.c(), k.s(), ch);
      double inv = 1 / Math.sqrt(ReferenceStats.variance(k.x(), k.n(), k.c(), k.s(), ch) + k.eps());
      double var = ReferenceStats.variance(k.x(), k.n(), k.c(), k.s(), ch);
      double sumDx = 0;
      double sumDxXhat = 0;
      double sumDyXhat = 0;
      double scale = 0; // sum of |terms|, the size rounding errors are relative to
      for (int b = 0; b < k.n(); b++) {
        for (int i = 0; i < k.s(); i++) {
          int idx = (b * k.c() + ch) * k.s() + i;
          double xhat = (k.x()[idx] - mean) * inv;
          sumDx += dx[idx];
          sumDxXhat += dx[idx] * xhat;
          sumDyXhat += dy[idx] * xhat;
          scale += Math.abs(dx[idx]) + Math.abs(dy[idx]) * k.gamma()[ch] * inv;
        }
      }
      assertThat(Math.abs(sumDx)).as("|sum dx| of channel %d", ch)
          .isLessThanOrEqualTo(tolerance(scale, m));
      // Exactly: sum dx * xhat = gamma * invStd * sum(dy * xhat) * eps / (var + eps), which is 0
      // but for the eps term (sum xhat^2 = m * var / (var + eps), not m).
      double epsTerm = k.gamma()[ch] * inv * sumDyXhat * k.eps() / (var + k.eps());
      assertThat(sumDxXhat).as("sum dx*xhat of channel %d", ch)
          .isCloseTo(epsTerm, org.assertj.core.data.Offset.offset(tolerance(scale, m)));
    }
  }

  /** Float64 statistics of one channel of (N, C, S) data. */
  static final class ReferenceStats {
    static double mean(float[] a, int n, int c, int s, int ch) {
      double sum = 0;
      for (int b = 0; b < n; b++) {
        for (int i = 0; i < s; i++) {
          sum += a[(b * c + ch) * s + i];
        }
      }
      return sum / ((double) n * s);
    }

    static double variance(float[] a, int n, int c, int s, int ch) {
      double mu = mean(a, n, c, s, ch);
      double sq = 0;
      for (int b = 0; b < n; b++) {
        for (int i = 0; i < s; i++) {
          double d = a[(b * c + ch) * s + i] - mu;
          sq += d * d;
        }
      }
      return sq / ((double) n * s);
    }
  }
}
