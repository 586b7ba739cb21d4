package io.github.batchnorm4j;

import static io.github.batchnorm4j.testing.TestData.assertClose;
import static io.github.batchnorm4j.testing.TestData.channelsFirstToLast;
import static io.github.batchnorm4j.testing.TestData.channelsLastToFirst;
import static io.github.batchnorm4j.testing.TestData.maxAbs;
import static io.github.batchnorm4j.testing.TestData.tolerance;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.batchnorm4j.testing.TestData;
import java.util.SplittableRandom;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

/**
 * Channels-last modules and functional calls equal channels-first ones on transposed data, forward
 * and backward, in both modes, with and without the fused ReLU and for both running-variance
 * conventions; and results do not depend on the thread count.
 */
class ChannelsLastTest {

  /** Data with a spread that cycles through 1, 2 and 3 along the memory order. */
  private static float[] data(SplittableRandom rnd, int length, double offset) {
    return TestData.gaussian(rnd, length, i -> 1 + i % 3, offset);
  }

  /** Shapes (first, last) for a module kind: rank 3 for 1d, 4 for 2d, 5 for 3d. */
  static int[][] shapes(int rank, int n, int c, SplittableRandom rnd) {
    int[] spatial = new int[rank - 2];
    for (int i = 0; i < spatial.length; i++) {
      spatial[i] = rnd.nextInt(1, 6);
    }
    int[] first = new int[rank];
    int[] last = new int[rank];
    first[0] = n;
    last[0] = n;
    first[1] = c;
    last[rank - 1] = c;
    for (int i = 0; i < spatial.length; i++) {
      first[2 + i] = spatial[i];
      last[1 + i] = spatial[i];
    }
    return new int[][] {first, last};
  }

  static BatchNorm build(int rank, int c, Layout layout, Activation act, boolean unbiased, boolean affine,
      boolean track) {
    BatchNorm.Builder<? extends BatchNorm> b = rank == 3 ? BatchNorm1d.builder(c)
        : rank == 4 ? BatchNorm2d.builder(c) : BatchNorm3d.builder(c);
    return b.layout(layout).activation(act).unbiasedRunningVar(unbiased).affine(affine)
        .trackRunningStats(track).momentum(0.3).build();
  }

  /**
   * The allowed difference between the two layouts' results: none when they add in the same order,
   * else twice the tolerance of one float32 result (each is within it of the exact value).
   */
  private static double between(float[] expected, long reduced) {
    return 2 * tolerance(maxAbs(expected) + 1, reduced);
  }

  @Property(tries = 150)
  void channelsLastEqualsChannelsFirstOnTransposedData(
      @ForAll @IntRange(min = 3, max = 5) int rank, @ForAll @IntRange(min = 1, max = 5) int n,
      @ForAll @IntRange(min = 1, max = 9) int c, @ForAll boolean relu, @ForAll boolean unbiased,
      @ForAll boolean affine, @ForAll boolean track, @ForAll long seed) {
    SplittableRandom rnd = TestData.rng(seed);
    int[][] shapes = shapes(rank, n, c, rnd);
    Shape sf = Shape.of(shapes[0]);
    Shape sl = Shape.of(shapes[1]);
    int s = sf.numel() / (n * c);
    if (n * s < 2) {
      return; // one value per channel cannot train
    }
    Activation act = relu ? Activation.RELU : Activation.NONE;
    BatchNorm first = build(rank, c, Layout.CHANNELS_FIRST, act, unbiased, affine, track);
    BatchNorm last = build(rank, c, Layout.CHANNELS_LAST, act, unbiased, affine, track);
    if (affine) {
      float[] weight = TestData.uniform(rnd, c, 0.5, 1.5);
      float[] bias = TestData.gaussian(rnd, c, 1, 0);
      System.arraycopy(weight, 0, first.weight(), 0, c);
      System.arraycopy(weight, 0, last.weight(), 0, c);
      System.arraycopy(bias, 0, first.bias(), 0, c);
      System.arraycopy(bias, 0, last.bias(), 0, c);
    }
    // The two layouts group the sums differently (rows of C values against planes), so they agree
    // to the rounding of a sum of m values, not bit for bit.
    long m = (long) n * s;
    for (int step = 0; step < 3; step++) {
      if (step == 2) {
        first.eval();
        last.eval();
      }
      float[] x = data(rnd, sf.numel(), 3 * step);
      float[] dy = data(rnd, sf.numel(), 0);
      long reduced = step == 2 ? 1 : m; // the eval step's outputs are elementwise
      first.zeroGrad();
      last.zeroGrad();
      Tensor yf = first.forward(Tensor.of(sf, x));
      Tensor yl = last.forward(Tensor.of(sl, channelsFirstToLast(x, n, c, s)));
      assertClose("y step " + step, channelsLastToFirst(yl.data(), n, c, s), yf.data(),
          between(yf.data(), reduced));
      Tensor dxf = first.backward(Tensor.of(sf, dy));
      Tensor dxl = last.backward(Tensor.of(sl, channelsFirstToLast(dy, n, c, s)));
      assertClose("dx step " + step, channelsLastToFirst(dxl.data(), n, c, s), dxf.data(),
          between(dxf.data(), reduced));
      if (affine) {
        assertClose("dweight step " + step, last.weightGrad(), first.weightGrad(),
            between(first.weightGrad(), m));
        assertClose("dbias step " + step, last.biasGrad(), first.biasGrad(),
            between(first.biasGrad(), m));
      }
      if (track) {
        assertClose("running mean step " + step, last.runningMean(), first.runningMean(),
            between(first.runningMean(), m));
        assertClose("running var step " + step, last.runningVar(), first.runningVar(),
            between(first.runningVar(), m));
        assertThat(last.numBatchesTracked()).isEqualTo(first.numBatchesTracked());
      }
    }
  }

  @Property(tries = 6)
  void resultsAreBitwiseIdenticalForEveryThreadCount(@ForAll boolean relu, @ForAll long seed) {
    SplittableRandom rnd = TestData.rng(seed);
    Shape shape = Shape.of(8, 13, 11, 37); // NHWC with C = 37, above the parallel threshold
    float[] x = data(rnd, shape.numel(), 5);
    float[] dy = data(rnd, shape.numel(), 0);
    float[][] results = new float[3][];
    int k = 0;
    for (int threads : new int[] {1, 2, 3}) {
      BatchNorm2d bn = BatchNorm2d.builder(37).layout(Layout.CHANNELS_LAST)
          .activation(relu ? Activation.RELU : Activation.NONE).threads(threads).build();
      Tensor y = bn.forward(Tensor.of(shape, x));
      Tensor dx = bn.backward(Tensor.of(shape, dy));
      float[] all = new float[2 * x.length + 4 * 37];
      System.arraycopy(y.data(), 0, all, 0, x.length);
      System.arraycopy(dx.data(), 0, all, x.length, x.length);
      System.arraycopy(bn.weightGrad(), 0, all, 2 * x.length, 37);
      System.arraycopy(bn.biasGrad(), 0, all, 2 * x.length + 37, 37);
      System.arraycopy(bn.runningMean(), 0, all, 2 * x.length + 74, 37);
      System.arraycopy(bn.runningVar(), 0, all, 2 * x.length + 111, 37);
      results[k++] = all;
    }
    TestData.assertBitwiseEqual("2 threads", results[1], results[0]);
    TestData.assertBitwiseEqual("3 threads", results[2], results[0]);
  }

  @Property(tries = 1)
  void channelsLastChecksTheLastDimension() {
    BatchNorm2d bn = BatchNorm2d.builder(3).layout(Layout.CHANNELS_LAST).build();
    assertThatThrownBy(() -> bn.forward(Tensor.zeros(Shape.of(2, 3, 4, 5))))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("5 channels (dimension 3, CHANNELS_LAST)").hasMessageContaining("(2, 3, 4, 5)");
    assertThatThrownBy(() -> bn.forward(Tensor.zeros(Shape.of(2, 4, 3))))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("input has rank 3 but BatchNorm2d expects rank 4 (N, H, W, C) channels-last;"
            + " input shape (2, 4, 3)");
    BatchNorm1d bn1 = BatchNorm1d.builder(3).layout(Layout.CHANNELS_LAST).build();
    assertThatThrownBy(() -> bn1.forward(Tensor.zeros(Shape.of(2, 4, 5, 3))))
        .hasMessage("input has rank 4 but BatchNorm1d expects rank 2 (N, C) or rank 3 (N, L, C)"
            + " channels-last; input shape (2, 4, 5, 3)");
    assertThat(bn.forward(Tensor.zeros(Shape.of(2, 4, 5, 3))).shape()).isEqualTo(Shape.of(2, 4, 5, 3));
    assertThat(bn).hasToString("BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=true,"
        + " track_running_stats=true, layout=CHANNELS_LAST)");
    assertThatThrownBy(() -> BatchNorm2d.builder(3).layout(null).build()).hasMessageContaining("layout");
    assertThatThrownBy(() -> BatchNormFunctional.backwardTraining(BatchNormOptions.defaults()
        .withLayout(Layout.CHANNELS_LAST).withActivation(Activation.RELU), Shape.of(2, 2),
        new float[4], null, new float[4], new float[4], null,
        new BatchStatistics(new float[2], new float[2]), null))
        .hasMessageContaining("y (the forward's output, the ReLU's mask) must not be null");
  }
}
