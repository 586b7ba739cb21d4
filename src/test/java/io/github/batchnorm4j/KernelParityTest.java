package io.github.batchnorm4j;

import static io.github.batchnorm4j.testing.TestData.assertBitwiseEqual;
import static io.github.batchnorm4j.testing.TestData.assertClose;
import static io.github.batchnorm4j.testing.TestData.maxAbs;
import static io.github.batchnorm4j.testing.TestData.tolerance;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.batchnorm4j.testing.KernelCalls;
import io.github.batchnorm4j.internal.ChannelParallel;
import io.github.batchnorm4j.internal.KernelOps;
import io.github.batchnorm4j.testing.ReferenceBatchNorm;
import io.github.batchnorm4j.testing.TestData;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The same test bodies against both kernel implementations, scalar and Vector API (skipped by
 * assumption when {@code jdk.incubator.vector} is absent), at awkward sizes that exercise every
 * vector body, vector remainder and scalar tail: against the float64 reference, at a large common
 * offset, in place, and bitwise across thread counts and pass strategies.
 */
class KernelParityTest {

  private static final int[] AWKWARD = {1, 3, 7, 13, 16, 17, 207, 4098};

  static Stream<Arguments> implementationsAndSizes() {
    List<Arguments> args = new ArrayList<>();
    for (String impl : TestData.implementations()) {
      for (int s : AWKWARD) {
        args.add(Arguments.of(impl, s));
      }
    }
    return args.stream();
  }

  static Stream<Arguments> implementationsAndParallelShapes() {
    List<Arguments> args = new ArrayList<>();
    int[][] shapes = {
      {64, 3, 700}, // few channels: the streamed passes share each channel between threads
      {4, 7, 1221}, // uneven planes, a vector remainder and a tail in every plane
      {16, 1, 4098}, // one channel, sliced planes
      {16, 64, 49}, // 7 x 7 planes: six vectors and one tail value each (50,176 values: shared)
      {2048, 20, 1}, // BatchNorm1d (N, C): scalar tails only
      {3, 5, 20000}, // planes longer than a segment: slices
      {16, 24, 1100}, // more than one blocked channel group (1.7 MB); runs with a vector remainder
      {80, 64, 26}, // short planes in whole-row tiles: the row kernel, with a tail in every plane
      {1100, 40, 3}, // planes shorter than a vector in whole-row tiles
      {17000, 67, 1}, // BatchNorm1d (N, C): three row segments, two channel blocks, lane tails
      {3000, 45, 1}, // (N, C): row tiles, channel groups, then remaining vectors and lanes
      {20000, 5, 1}, // (N, C) with fewer channels than a vector: lanes only, flat elementwise
      {6000, 12, 2}, // short planes: scalar sums in row order, flat elementwise
      {2500, 7, 5},
    };
    for (String impl : TestData.implementations()) {
      for (int[] shape : shapes) {
        args.add(Arguments.of(impl, shape[0], shape[1], shape[2]));
      }
    }
    return args.stream();
  }

  @ParameterizedTest(name = "{0}, spatial {1}")
  @MethodSource("implementationsAndSizes")
  void trainingForwardAndBackwardMatchTheFloat64Reference(String impl, int spatial) {
    KernelOps ops = TestData.kernels(impl);
    for (int batch : new int[] {3, 40}) {
      int channels = 2;
      int numel = batch * channels * spatial;
      SplittableRandom rnd = TestData.rng(31L * spatial + batch);
      float[] x = TestData.gaussian(rnd, numel, 1.5, 0.25);
      float[] dy = TestData.gaussian(rnd, numel, 1, 0);
      float[] weight = {1.25f, -0.5f};
      float[] bias = {0.5f, -2f};
      float[] runningMean = {0.1f, -0.2f};
      float[] runningVar = {1f, 2f};
      float[] saveMean = new float[channels];
      float[] saveInvStd = new float[channels];
      float[] y = new float[numel];
      KernelCalls.forwardTraining(ops, x, y, batch, channels, spatial, weight, bias,
          runningMean, runningVar, 0.25, 1e-5, saveMean, saveInvStd, 1);

      double[] xd = ReferenceBatchNorm.toDouble(x);
      double[] w = ReferenceBatchNorm.toDouble(weight);
      ReferenceBatchNorm.Forward ref = ReferenceBatchNorm.forwardTraining(xd, batch, channels,
          spatial, w, ReferenceBatchNorm.toDouble(bias), 1e-5);
      long m = (long) batch * spatial;
      assertClose("y", y, ref.y(), tolerance(maxAbs(ref.y()) + 1, m));
      double[] invStd = TestData.invStd(ref.stats().biasedVar(), 1e-5);
      for (int c = 0; c < channels; c++) {
        double mean = ref.stats().mean()[c];
        assertThat((double) saveMean[c]).isCloseTo(mean,
            within(tolerance(Math.abs(mean) + 1, m)));
        assertThat((double) saveInvStd[c]).isCloseTo(invStd[c], within(tolerance(invStd[c], m)));
        double expectMean = 0.75 * (c == 0 ? 0.1f : -0.2f) + 0.25 * mean;
        double expectVar = 0.75 * (c == 0 ? 1f : 2f) + 0.25 * ref.stats().unbiasedVar()[c];
        assertThat((double) runningMean[c]).isCloseTo(expectMean,
            within(tolerance(Math.abs(expectMean) + 1, m)));
        assertThat((double) runningVar[c]).isCloseTo(expectVar, within(tolerance(expectVar, m)));
      }

      float[] dx = new float[numel];
      float[] weightGrad = new float[channels];
      float[] biasGrad = new float[channels];
      KernelCalls.backwardTraining(ops, x, dy, dx, batch, channels, spatial, weight,
          saveMean, saveInvStd, weightGrad, biasGrad, 1);
      ReferenceBatchNorm.Backward back = ReferenceBatchNorm.backwardTraining(xd,
          ReferenceBatchNorm.toDouble(dy), batch, channels, spatial, w, 1e-5);
      TestData.assertBackwardClose("", dx, weightGrad, biasGrad, back, w, invStd, dy, m);
    }
  }

  /**
   * One value per plane, large enough for the Vector API kernels and their channel groups: the
   * training forward and backward of an (N, C) matrix at an offset, on two threads, against the
   * float64 reference.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("io.github.batchnorm4j.testing.TestData#implementations")
  void rowsOfChannelsMatchTheFloat64Reference(String impl) {
    KernelOps ops = TestData.kernels(impl);
    for (int[] shape : new int[][] {{3000, 45}, {700, 133}}) {
      int batch = shape[0];
      int channels = shape[1];
      int numel = batch * channels;
      SplittableRandom rnd = TestData.rng(numel);
      float[] x = TestData.gaussian(rnd, numel, 1.5, 100);
      float[] dy = TestData.gaussian(rnd, numel, 1, 0);
      float[] weight = TestData.gaussian(rnd, channels, 1, 1);
      float[] bias = TestData.gaussian(rnd, channels, 1, 0);
      float[] saveMean = new float[channels];
      float[] saveInvStd = new float[channels];
      float[] y = new float[numel];
      KernelCalls.forwardTraining(ops, x, y, batch, channels, 1, weight, bias, null, null, 0,
          1e-5, saveMean, saveInvStd, 2);
      double[] xd = ReferenceBatchNorm.toDouble(x);
      double[] w = ReferenceBatchNorm.toDouble(weight);
      ReferenceBatchNorm.Forward ref = ReferenceBatchNorm.forwardTraining(xd, batch, channels, 1,
          w, ReferenceBatchNorm.toDouble(bias), 1e-5);
      String what = "(" + batch + ", " + channels + ") ";
      long m = batch;
      assertClose(what + "y", y, ref.y(), tolerance(maxAbs(ref.y()) + 1, m));
      float[] dx = new float[numel];
      float[] weightGrad = new float[channels];
      float[] biasGrad = new float[channels];
      KernelCalls.backwardTraining(ops, x, dy, dx, batch, channels, 1, weight, saveMean,
          saveInvStd, weightGrad, biasGrad, 2);
      ReferenceBatchNorm.Backward back = ReferenceBatchNorm.backwardTraining(xd,
          ReferenceBatchNorm.toDouble(dy), batch, channels, 1, w, 1e-5);
      TestData.assertBackwardClose(what, dx, weightGrad, biasGrad, back, w,
          TestData.invStd(ref.stats().biasedVar(), 1e-5), dy, m);
    }
  }

  @ParameterizedTest(name = "{0}, spatial {1}")
  @MethodSource("implementationsAndSizes")
  void evalForwardAndBackwardMatchTheFloat64Reference(String impl, int spatial) {
    KernelOps ops = TestData.kernels(impl);
    int batch = 5;
    int channels = 3;
    int numel = batch * channels * spatial;
    SplittableRandom rnd = TestData.rng(17L * spatial);
    float[] x = TestData.gaussian(rnd, numel, 2, -1);
    float[] dy = TestData.gaussian(rnd, numel, 1, 0);
    float[] weight = {0.5f, 2f, -1f};
    float[] bias = {0f, 1f, -3f};
    float[] mean = {-1.1f, -0.9f, 0.3f};
    float[] var = {3.5f, 4.5f, 0.25f};
    float[] y = new float[numel];
    KernelCalls.forwardInference(ops, x, y, batch, channels, spatial, weight, bias, mean, var,
        1e-3, 1);
    double[] xd = ReferenceBatchNorm.toDouble(x);
    double[] w = ReferenceBatchNorm.toDouble(weight);
    double[] yRef = ReferenceBatchNorm.normalize(xd, batch, channels, spatial,
        ReferenceBatchNorm.toDouble(mean), ReferenceBatchNorm.toDouble(var), w,
        ReferenceBatchNorm.toDouble(bias), 1e-3);
    assertClose("y eval", y, yRef, tolerance(maxAbs(yRef) + 1, 1)); // elementwise

    float[] dx = new float[numel];
    float[] weightGrad = new float[channels];
    float[] biasGrad = new float[channels];
    KernelCalls.backwardInference(ops, x, dy, dx, batch, channels, spatial, weight, mean, var,
        1e-3, weightGrad, biasGrad, 1);
    ReferenceBatchNorm.Backward back = ReferenceBatchNorm.backwardInference(xd,
        ReferenceBatchNorm.toDouble(dy), batch, channels, spatial, w,
        ReferenceBatchNorm.toDouble(mean), ReferenceBatchNorm.toDouble(var), 1e-3);
    TestData.assertBackwardClose("eval ", dx, weightGrad, biasGrad, back, w,
        TestData.invStd(ReferenceBatchNorm.toDouble(var), 1e-3), dy, 1);
    // Without parameter gradients the sums are skipped; dx is the same.
    float[] dx2 = new float[numel];
    KernelCalls.backwardInference(ops, x, dy, dx2, batch, channels, spatial, weight, mean,
        var, 1e-3, null, null, 1);
    assertBitwiseEqual("dx without parameter gradients", dx2, dx);
  }

  /** The shifted one-pass statistics keep full accuracy at a large common offset. */
  @ParameterizedTest(name = "{0}, spatial {1}")
  @MethodSource("implementationsAndSizes")
  void largeOffsetsStayAccurate(String impl, int spatial) {
    KernelOps ops = TestData.kernels(impl);
    int batch = Math.max(2, 600 / spatial);
    int channels = 2;
    int numel = batch * channels * spatial;
    for (double offset : new double[] {1e4, -3e5}) {
      float[] x = TestData.gaussian(TestData.rng(spatial), numel, 1, offset);
      float[] y = new float[numel];
      float[] saveMean = new float[channels];
      float[] saveInvStd = new float[channels];
      KernelCalls.forwardTraining(ops, x, y, batch, channels, spatial, null, null, null, null,
          0, 1e-5, saveMean, saveInvStd, 1);
      ReferenceBatchNorm.Forward ref = ReferenceBatchNorm.forwardTraining(
          ReferenceBatchNorm.toDouble(x), batch, channels, spatial, null, null, 1e-5);
      assertClose("y at offset " + offset, y, ref.y(),
          tolerance(maxAbs(ref.y()) + 1, (long) batch * spatial));
    }
  }

  /**
   * Every thread count and both pass strategies give bitwise the same results, for each
   * implementation; so does computing in place.
   */
  @ParameterizedTest(name = "{0}, ({1}, {2}, {3})")
  @MethodSource("implementationsAndParallelShapes")
  void resultsAreBitwiseIdenticalForEveryThreadCountAndStrategy(String impl, int batch,
      int channels, int spatial) {
    KernelOps ops = TestData.kernels(impl);
    int numel = batch * channels * spatial;
    float[] x = TestData.gaussian(TestData.rng(5), numel, 2, 3);
    float[] dy = TestData.gaussian(TestData.rng(6), numel, 1, 0);
    float[] weight = new float[channels];
    for (int c = 0; c < channels; c++) {
      weight[c] = 1 + 0.1f * c;
    }
    float[][] expected = null;
    long sharedBefore = ChannelParallel.itemsRunByWorkers();
    for (int mode : new int[] {KernelCalls.AUTO, KernelCalls.BLOCKED,
        KernelCalls.STREAMED}) {
      for (int threads : new int[] {1, 2, 3, 8}) {
        float[][] got = runAll(ops, x, dy, weight, batch, channels, spatial, threads, mode);
        if (expected == null) {
          expected = got;
        } else {
          for (int k = 0; k < got.length; k++) {
            assertBitwiseEqual("mode " + mode + ", threads " + threads + ", result " + k, got[k],
                expected[k]);
          }
        }
      }
    }
    // The comparison means something only if calls were shared: observed, not assumed. Workers
    // slow to wake leave a call's items to the caller, so repeat a two-thread call, comparing its
    // bits, until one is shared (a 1-core machine has no workers, and says so here).
    assumeTrue(Runtime.getRuntime().availableProcessors() > 1, "one processor: no worker threads");
    long deadline = System.nanoTime() + 20_000_000_000L;
    while (ChannelParallel.itemsRunByWorkers() == sharedBefore && System.nanoTime() < deadline) {
      float[][] got = runAll(ops, x, dy, weight, batch, channels, spatial, 2, KernelCalls.AUTO);
      for (int k = 0; k < got.length; k++) {
        assertBitwiseEqual("threads 2, repeated, result " + k, got[k], expected[k]);
      }
    }
    assertThat(ChannelParallel.itemsRunByWorkers()).as("work items run by worker threads")
        .isGreaterThan(sharedBefore);
    // In place: y written over x gives the same y.
    float[] inPlace = x.clone();
    KernelCalls.forwardTraining(ops, inPlace, inPlace, batch, channels, spatial, weight, null,
        null, null, 0, 1e-5, new float[channels], new float[channels], 2);
    assertBitwiseEqual("in place", inPlace, expected[0]);
  }

  /**
   * The elementwise passes walk whole rows in one kernel call (every channel of a row, in memory
   * order) when there are enough rows; a single row is cut by channel instead. Both give bitwise
   * the same eval y and eval dx (without parameter gradients), out of place and in place, on every
   * implementation. (The training passes' rows are checked against the blocked order above.)
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("io.github.batchnorm4j.testing.TestData#implementations")
  void evalPassesOfWholeRowsEqualRowByRow(String impl) {
    KernelOps ops = TestData.kernels(impl);
    for (int[] shape : new int[][] {{128, 32, 64}, {80, 64, 26}, {1100, 40, 3}, {24, 160, 49}}) {
      int batch = shape[0];
      int channels = shape[1];
      int spatial = shape[2];
      int row = channels * spatial;
      SplittableRandom rnd = TestData.rng(spatial);
      float[] x = TestData.gaussian(rnd, batch * row, 3, 2);
      EvalState p = EvalState.draw(rnd, channels);
      float[] y = p.forward(ops, x, batch, channels, spatial, 1);
      float[] dx = p.backward(ops, x, y, batch, channels, spatial, 1);
      float[] byRow = new float[x.length];
      float[] dxByRow = new float[x.length];
      for (int n = 0; n < batch; n++) {
        float[] xn = Arrays.copyOfRange(x, n * row, (n + 1) * row);
        float[] yn = p.forward(ops, xn, 1, channels, spatial, 1);
        System.arraycopy(yn, 0, byRow, n * row, row);
        System.arraycopy(p.backward(ops, xn, yn, 1, channels, spatial, 1), 0, dxByRow, n * row,
            row);
      }
      String what = Arrays.toString(shape);
      assertBitwiseEqual(what + " whole rows vs row by row", y, byRow);
      assertBitwiseEqual(what + " eval dx, whole rows vs row by row", dx, dxByRow);
      float[] inPlace = x.clone();
      KernelCalls.forwardInference(ops, inPlace, inPlace, batch, channels, spatial,
          p.weight(), p.bias(), p.mean(), p.var(), 1e-5, 2);
      assertBitwiseEqual(what + " in place, two threads", inPlace, byRow);
    }
  }

  /**
   * With short planes (one value for BatchNorm1d's (N, C), or fewer than a vector holds) the eval
   * passes walk the rows with the channels side by side; on the same data regrouped as (1, C,
   * N * S), each channel is one long plane and the plane kernels run instead. Every element gets
   * the same arithmetic either way, so eval y and eval dx are bitwise the same.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("io.github.batchnorm4j.testing.TestData#implementations")
  void evalPassesOfShortPlanesEqualTheRegroupedPlanes(String impl) {
    KernelOps ops = TestData.kernels(impl);
    int[][] shapes = {{5000, 67, 1}, {40, 8, 1}, {300, 3, 1}, {9000, 130, 1}, {2000, 9, 3},
      {700, 5, 7}, {3000, 16, 2}, {100, 1, 5}};
    for (int[] shape : shapes) {
      int batch = shape[0];
      int channels = shape[1];
      int spatial = shape[2];
      int numel = batch * channels * spatial;
      SplittableRandom rnd = TestData.rng(batch);
      float[] x = TestData.gaussian(rnd, numel, 3, 2);
      float[] dy = TestData.gaussian(rnd, numel, 1, 0);
      EvalState p = EvalState.draw(rnd, channels);
      float[] y = p.forward(ops, x, batch, channels, spatial, 2);
      float[] dx = p.backward(ops, x, dy, batch, channels, spatial, 2);
      float[] xt = regroup(x, batch, channels, spatial);
      float[] dyt = regroup(dy, batch, channels, spatial);
      float[] yt = p.forward(ops, xt, 1, channels, batch * spatial, 1);
      float[] dxt = p.backward(ops, xt, dyt, 1, channels, batch * spatial, 1);
      String what = Arrays.toString(shape);
      assertBitwiseEqual(what + " eval y", regroup(y, batch, channels, spatial), yt);
      assertBitwiseEqual(what + " eval dx", regroup(dx, batch, channels, spatial), dxt);
      // With parameter gradients the sums ride along with dx: dx has the same bits, and the
      // gradients agree to rounding (the plane kernels add a long plane in vector lanes).
      float[][] withGrads = p.backwardWithGradients(ops, x, dy, batch, channels, spatial, 2);
      float[][] regrouped = p.backwardWithGradients(ops, xt, dyt, 1, channels, batch * spatial,
          1);
      assertBitwiseEqual(what + " eval dx with parameter gradients", withGrads[0], dx);
      for (int k = 1; k <= 2; k++) {
        for (int c = 0; c < channels; c++) {
          // Two results, each within the tolerance of the exact sum, differ by twice as much.
          assertThat((double) withGrads[k][c]).as(what + (k == 1 ? " dgamma " : " dbeta ") + c)
              .isCloseTo(regrouped[k][c],
                  within(2 * tolerance(Math.abs(regrouped[k][c]) + 1, (long) batch * spatial)));
        }
      }
    }
  }

  /** Random eval-mode parameters and running statistics of {@code channels} channels. */
  private record EvalState(float[] weight, float[] bias, float[] mean, float[] var) {
    static EvalState draw(SplittableRandom rnd, int channels) {
      float[] weight = TestData.gaussian(rnd, channels, 1, 1);
      float[] bias = TestData.gaussian(rnd, channels, 1, 0);
      float[] mean = TestData.gaussian(rnd, channels, 1, 2);
      float[] var = TestData.gaussian(rnd, channels, 1, 0);
      for (int c = 0; c < channels; c++) {
        var[c] = 0.5f + var[c] * var[c]; // positive, away from 0
      }
      return new EvalState(weight, bias, mean, var);
    }

    /** The eval forward's y. */
    float[] forward(KernelOps ops, float[] x, int batch, int channels, int spatial, int threads) {
      float[] y = new float[x.length];
      KernelCalls.forwardInference(ops, x, y, batch, channels, spatial, weight, bias, mean,
          var, 1e-5, threads);
      return y;
    }

    /** The eval backward's dx, dgamma and dbeta. */
    float[][] backwardWithGradients(KernelOps ops, float[] x, float[] dy, int batch, int channels,
        int spatial, int threads) {
      float[] dx = new float[x.length];
      float[] weightGrad = new float[channels];
      float[] biasGrad = new float[channels];
      KernelCalls.backwardInference(ops, x, dy, dx, batch, channels, spatial, weight, mean,
          var, 1e-5, weightGrad, biasGrad, threads);
      return new float[][] {dx, weightGrad, biasGrad};
    }

    /** The eval backward's dx, without parameter gradients. */
    float[] backward(KernelOps ops, float[] x, float[] dy, int batch, int channels, int spatial,
        int threads) {
      float[] dx = new float[x.length];
      KernelCalls.backwardInference(ops, x, dy, dx, batch, channels, spatial, weight, mean,
          var, 1e-5, null, null, threads);
      return dx;
    }
  }

  /** (N, C, S) data regrouped as (C, N, S): each channel's values contiguous, in (n, s) order. */
  private static float[] regroup(float[] a, int batch, int channels, int spatial) {
    float[] t = new float[a.length];
    for (int n = 0; n < batch; n++) {
      for (int c = 0; c < channels; c++) {
        System.arraycopy(a, (n * channels + c) * spatial, t, (c * batch + n) * spatial, spatial);
      }
    }
    return t;
  }


  /**
   * A run's last len % L values are summed as the end of a vector that overlaps values already
   * counted; those lanes are cleared bit for bit, so an infinity among them is still counted once
   * (a product by 0 would turn it into NaN): the mean of a channel holding +Inf is +Inf, as in
   * PyTorch, on every implementation.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("io.github.batchnorm4j.testing.TestData#implementations")
  void anInfinityNextToARunsTailIsCountedOnce(String impl) {
    KernelOps ops = TestData.kernels(impl);
    int spatial = 70; // a run of 8 vectors and a 6-value tail: the overlap covers values 62 and 63
    for (int at : new int[] {62, 63, 69}) {
      float[] x = new float[2 * spatial];
      Arrays.fill(x, 1f);
      x[at] = Float.POSITIVE_INFINITY;
      float[] saveMean = new float[1];
      float[] runningMean = new float[1];
      KernelCalls.forwardTraining(ops, x, new float[x.length], 2, 1, spatial, null, null,
          runningMean, new float[] {1f}, 0.1, 1e-5, saveMean, new float[1], 1);
      assertThat(saveMean[0]).as("mean with +Inf at " + at).isEqualTo(Float.POSITIVE_INFINITY);
      assertThat(runningMean[0]).as("running mean with +Inf at " + at)
          .isEqualTo(Float.POSITIVE_INFINITY);
    }
  }

  private static float[][] runAll(KernelOps ops, float[] x, float[] dy, float[] weight, int batch,
      int channels, int spatial, int threads, int mode) {
    int numel = x.length;
    float[] y = new float[numel];
    float[] runningMean = new float[channels];
    float[] runningVar = new float[channels];
    Arrays.fill(runningVar, 1f);
    float[] saveMean = new float[channels];
    float[] saveInvStd = new float[channels];
    KernelCalls.forwardTraining(ops, x, y, batch, channels, spatial, weight, null,
        runningMean, runningVar, 0.1, 1e-5, saveMean, saveInvStd, threads, mode);
    float[] dx = new float[numel];
    float[] weightGrad = new float[channels];
    float[] biasGrad = new float[channels];
    KernelCalls.backwardTraining(ops, x, dy, dx, batch, channels, spatial, weight, saveMean,
        saveInvStd, weightGrad, biasGrad, threads, mode);
    float[] yEval = new float[numel];
    KernelCalls.forwardInference(ops, x, yEval, batch, channels, spatial, weight, null,
        runningMean, runningVar, 1e-5, threads);
    float[] dxEval = new float[numel];
    float[] weightGradEval = new float[channels];
    float[] biasGradEval = new float[channels];
    KernelCalls.backwardInference(ops, x, dy, dxEval, batch, channels, spatial, weight,
        runningMean, runningVar, 1e-5, weightGradEval, biasGradEval, threads);
    return new float[][] {y, saveMean, saveInvStd, runningMean, runningVar, dx, weightGrad,
        biasGrad, yEval, dxEval, weightGradEval, biasGradEval};
  }
}
