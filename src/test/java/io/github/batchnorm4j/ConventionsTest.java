package io.github.batchnorm4j;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.batchnorm4j.testing.TestData;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The documented recipes for Keras's and DL4J's conventions (docs/interop.md) reproduce their
 * running statistics. Each framework's update is simulated here from its documented formula, in
 * float32 as those frameworks compute it, over many steps:
 * <pre>
 * Keras: moving = moving * momentum + batch * (1 - momentum), momentum 0.99, biased batch variance,
 *        eps 1e-3, channels-last
 * DL4J:  global = decay * global + (1 - decay) * batch, decay 0.9, biased batch variance, eps 1e-5
 * </pre>
 * batchnorm4j rounds each update once (in double), the frameworks two or three times in float32,
 * so they agree to a few float32 ulps, not bit for bit.
 */
class ConventionsTest {

  @Test
  void kerasRecipeReproducesKerasMovingStatistics() {
    check(BatchNorm2d.builder(3).layout(Layout.CHANNELS_LAST).eps(1e-3).momentum(1 - 0.99)
        .unbiasedRunningVar(false).build(), 0.99f, true, false);
  }

  @Test
  void dl4jRecipeReproducesDl4jGlobalStatistics() {
    check(BatchNorm2d.builder(3).eps(1e-5).momentum(1 - 0.9).unbiasedRunningVar(false).build(), 0.9f, false, false);
  }

  /**
   * DJL's BatchNorm takes the Keras momentum (0.9, the old value's weight) and its PyTorch engine
   * passes 1 - momentum to torch, which averages the unbiased batch variance (docs/frameworks.md;
   * LiveDjlFrameworksTest runs DJL itself).
   */
  @Test
  void djlRecipeReproducesDjlsPyTorchEngineStatistics() {
    check(BatchNorm2d.builder(3).momentum(1 - 0.9).build(), 0.9f, false, true);
  }

  private static void check(BatchNorm2d bn, float decay, boolean channelsLast, boolean unbiased) {
    SplittableRandom rnd = TestData.rng(7);
    int n = 4;
    int h = 5;
    int w = 6;
    int c = 3;
    float[] moving = {0, 0, 0};
    float[] movingVar = {1, 1, 1};
    for (int step = 0; step < 200; step++) {
      float[] x = TestData.gaussian(rnd, n * h * w * c, 1 + step % 3, 2);
      Shape shape = channelsLast ? Shape.of(n, h, w, c) : Shape.of(n, c, h, w);
      bn.forward(Tensor.of(shape, x));
      for (int ch = 0; ch < c; ch++) {
        double sum = 0;
        double sq = 0;
        int m = n * h * w;
        for (int i = 0; i < x.length; i++) {
          if (channel(i, channelsLast, c, h * w) == ch) {
            sum += x[i];
          }
        }
        double mean = sum / m;
        for (int i = 0; i < x.length; i++) {
          if (channel(i, channelsLast, c, h * w) == ch) {
            sq += (x[i] - mean) * (x[i] - mean);
          }
        }
        float batchMean = (float) mean;
        float batchVar = (float) (sq / (unbiased ? m - 1 : m));
        moving[ch] = moving[ch] * decay + batchMean * (1 - decay);
        movingVar[ch] = movingVar[ch] * decay + batchVar * (1 - decay);
      }
    }
    for (int ch = 0; ch < c; ch++) {
      assertThat((double) bn.runningMean()[ch]).as("moving mean %d", ch)
          .isCloseTo(moving[ch], org.assertj.core.api.Assertions.within(
              movingAverageTolerance(moving[ch], decay)));
      assertThat((double) bn.runningVar()[ch]).as("moving variance %d", ch)
          .isCloseTo(movingVar[ch], org.assertj.core.api.Assertions.within(
              movingAverageTolerance(movingVar[ch], decay)));
    }
  }

  /**
   * The module's moving average and the one above are both float32 recurrences. Each step rounds
   * a product and a sum (two roundings of |v|) and feeds in a batch statistic rounded once, with
   * weight 1 - decay; an error shrinks by decay per step, so after many steps each recurrence is
   * within (2 / (1 - decay) + 1) roundings of |v| of the exact average, and the two within twice
   * that of each other. This is the tolerance of a sum of about 1 / (1 - decay) values rounded at
   * every step, not once; it does not grow with the number of steps.
   */
  private static double movingAverageTolerance(double value, float decay) {
    return 2 * (2 / (1.0 - decay) + 1) * TestData.FLOAT_ROUNDOFF * Math.abs(value);
  }

  private static int channel(int i, boolean channelsLast, int c, int spatial) {
    return channelsLast ? i % c : (i / spatial) % c;
  }
}
