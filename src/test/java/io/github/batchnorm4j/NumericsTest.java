package io.github.batchnorm4j;

import static io.github.batchnorm4j.testing.TestData.assertBitwiseEqual;
import static io.github.batchnorm4j.testing.TestData.assertClose;
import static io.github.batchnorm4j.testing.TestData.maxAbs;
import static io.github.batchnorm4j.testing.TestData.tolerance;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.batchnorm4j.testing.ReferenceBatchNorm;
import io.github.batchnorm4j.testing.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Large offsets (items 19, 20) and thread-count independence (item 21). */
class NumericsTest {

  /**
   * x = offset + N(0, 1) per channel. The one-pass E[x^2] - E[x]^2 in float gives 0 or a negative
   * variance here; two passes in double give the variance of the float32 data to ~1e-12 relative.
   */
  @ParameterizedTest(name = "offset {0}")
  @ValueSource(doubles = {1e4, -1e4, 1e5, 3e6})
  void largeCommonOffsetKeepsTheVarianceAndTheOutputAccurate(double offset) {
    int n = 16;
    int c = 3;
    int s = 64;
    Shape shape = Shape.of(n, c, 8, 8);
    float[] x = TestData.gaussian(TestData.rng(7), shape.numel(), 1, offset);
    float[] dy = TestData.gaussian(TestData.rng(8), shape.numel(), 1, 0);
    BatchNorm2d bn = BatchNorm2d.builder(c).momentum(1).build();
    float[] y = bn.forward(Tensor.of(shape, x)).data();
    float[] dx = bn.backward(Tensor.of(shape, dy)).data();

    double[] xd = ReferenceBatchNorm.toDouble(x);
    ReferenceBatchNorm.Forward ref = ReferenceBatchNorm.forwardTraining(xd, n, c, s, null, null,
        1e-5);
    ReferenceBatchNorm.Backward refBack = ReferenceBatchNorm.backwardTraining(xd,
        ReferenceBatchNorm.toDouble(dy), n, c, s, null, 1e-5);
    long m = (long) n * s;
    for (int ch = 0; ch < c; ch++) {
      double unbiased = ref.stats().unbiasedVar()[ch];
      // float32 data at 3e6 has a spacing of 0.25, so its variance is not 1; compare with its own.
      assertThat(unbiased).isBetween(0.5, 1.5);
      assertThat((double) bn.runningVar()[ch]).as("running var, channel %d", ch)
          .isCloseTo(unbiased, org.assertj.core.data.Offset.offset(tolerance(unbiased, m)));
      // The running mean is a float near the offset: within one float spacing there.
      assertThat((double) bn.runningMean()[ch]).isCloseTo(ref.stats().mean()[ch],
          org.assertj.core.data.Offset.offset((double) Math.ulp((float) offset)));
    }
    // Held to the magnitude of y and dx, not of x: the offset must cost nothing.
    assertClose("y", y, ref.y(), tolerance(maxAbs(ref.y()), m));
    double termScale = maxAbs(TestData.invStd(ref.stats().biasedVar(), 1e-5)) * (maxAbs(dy) + 1);
    assertClose("dx", dx, refBack.dx(), tolerance(termScale, m));
  }

  /**
   * What the folded form PyTorch uses, y = x * alpha + (beta - mean * alpha) in float32, loses at an
   * offset of 1e4: this documents why the library does not use it.
   */
  @Test
  void theFoldedFormWouldLoseAccuracyAtAnOffset() {
    float[] x = TestData.gaussian(TestData.rng(3), 4096, 1, 1e4);
    ReferenceBatchNorm.Forward ref = ReferenceBatchNorm.forwardTraining(
        ReferenceBatchNorm.toDouble(x), 4096, 1, 1, null, null, 1e-5);
    float alpha = (float) (1 / Math.sqrt(ref.stats().biasedVar()[0] + 1e-5));
    float shift = -(float) ref.stats().mean()[0] * alpha;
    float[] folded = new float[x.length];
    for (int i = 0; i < x.length; i++) {
      folded[i] = x[i] * alpha + shift;
    }
    float[] ours = new BatchNorm1d(1).forward(Tensor.of(Shape.of(4096, 1), x)).data();
    double tolerance = tolerance(maxAbs(ref.y()), x.length);
    assertThat(maxError(folded, ref.y())).as("the folded form's error").isGreaterThan(
        10 * tolerance);
    assertClose("y", ours, ref.y(), tolerance);
  }

  @Test
  void resultsAreBitwiseIdenticalForEveryThreadCount() {
    // Large enough to be split between threads, with channel counts that do not divide evenly.
    Shape shape = Shape.of(4, 7, 33, 37);
    float[] x = TestData.gaussian(TestData.rng(11), shape.numel(), 2, 1);
    float[] dy = TestData.gaussian(TestData.rng(12), shape.numel(), 1, 0);
    Object[] expected = null;
    long sharedBefore = io.github.batchnorm4j.internal.ChannelParallel.itemsRunByWorkers();
    for (int threads : new int[] {1, BatchNormOptions.AUTO_THREADS, 2, 3, 4, 7, 16}) {
      Object[] got = runAll(threads, shape, x, dy);
      if (expected == null) {
        expected = got;
      } else {
        for (int k = 0; k < got.length; k++) {
          assertBitwiseEqual("threads = " + threads + ", result " + k, (float[]) got[k],
              (float[]) expected[k]);
        }
      }
    }
    // Observed, not assumed: at least one compared call was shared with worker threads. Workers
    // that are slow to wake leave a call's items to the caller, so a few calls may all run on it:
    // repeat a two-thread call, comparing its bits, until one is shared (a 1-core machine has no
    // workers, and says so).
    org.junit.jupiter.api.Assumptions.assumeTrue(Runtime.getRuntime().availableProcessors() > 1);
    long deadline = System.nanoTime() + 20_000_000_000L;
    while (io.github.batchnorm4j.internal.ChannelParallel.itemsRunByWorkers() == sharedBefore
        && System.nanoTime() < deadline) {
      Object[] got = runAll(2, shape, x, dy);
      for (int k = 0; k < got.length; k++) {
        assertBitwiseEqual("threads = 2, repeated, result " + k, (float[]) got[k],
            (float[]) expected[k]);
      }
    }
    assertThat(io.github.batchnorm4j.internal.ChannelParallel.itemsRunByWorkers())
        .as("work items run by worker threads").isGreaterThan(sharedBefore);
  }

  private static Object[] runAll(int threads, Shape shape, float[] x, float[] dy) {
    BatchNorm2d bn = BatchNorm2d.builder(shape.dim(1)).threads(threads).build();
    for (int c = 0; c < shape.dim(1); c++) {
      bn.weight()[c] = 1 + 0.1f * c;
    }
    float[] yTrain = bn.forward(Tensor.of(shape, x)).data();
    float[] dxTrain = bn.backward(Tensor.of(shape, dy)).data();
    bn.eval();
    float[] yEval = bn.forward(Tensor.of(shape, x)).data();
    float[] dxEval = bn.backward(Tensor.of(shape, dy)).data();
    return new Object[] {yTrain, dxTrain, yEval, dxEval, bn.runningMean(), bn.runningVar(),
        bn.weightGrad(), bn.biasGrad()};
  }

  private static double maxError(float[] actual, double[] expected) {
    double worst = 0;
    for (int i = 0; i < actual.length; i++) {
      worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
    }
    return worst;
  }
}
