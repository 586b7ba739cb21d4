package io.github.batchnorm4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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

  /** (N, C, S) channels-first to (N, S, C) channels-last, or back with toFirst. */
  static float[] transpose(float[] a, int n, int c, int s, boolean toFirst) {
    float[] out = new float[a.length];
    for (int b = 0; b < n; b++) {
      for (int ch = 0; ch < c; ch++) {
        for (int p = 0; p < s; p++) {
          int first = (b * c + ch) * s + p;
          int last = (b * s + p) * c + ch;
          if (toFirst) {
            out[first] = a[last];
          } else {
            out[last] = a[first];
          }
        }
      }
    }
    return out;
  }

  static float[] random(SplittableRandom rnd, int length, double offset) {
    float[] a = new float[length];
    for (int i = 0; i < length; i++) {
      a[i] = (float) (offset + rnd.nextGaussian() * (1 + (i % 3)));
    }
    return a;
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

  static void close(String what, float[] expected, float[] actual, double tol) {
    assertThat(actual).as(what).hasSameSizeAs(expected);
    double scale = 1;
    for (float v : expected) {
      scale = Math.max(scale, Math.abs(v));
    }
    for (int i = 0; i < expected.length; i++) {
      assertThat((double) Math.abs(actual[i] - expected[i])).as("%s[%d]: %s vs %s", what, i, actual[i], expected[i])
          .isLessThanOrEqualTo(tol * scale);
    }
  }

  @Property(tries = 150)
  void channelsLastEqualsChannelsFirstOnTransposedData(
      @ForAll @IntRange(min = 3, max = 5) int rank, @ForAll @IntRange(min = 1, max = 5) int n,
      @ForAll @IntRange(min = 1, max = 9) int c, @ForAll boolean relu, @ForAll boolean unbiased,
      @ForAll boolean affine, @ForAll boolean track, @ForAll long seed) {
    SplittableRandom rnd = new SplittableRandom(seed);
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
      for (int ch = 0; ch < c; ch++) {
        first.weight()[ch] = last.weight()[ch] = (float) (0.5 + rnd.nextDouble());
        first.bias()[ch] = last.bias()[ch] = (float) rnd.nextGaussian();
      }
    }
    // The variant kernels (ReLU or biased running variance) add in the same order in both layouts
    // and agree bit for bit; the default channels-first kernels may group sums differently.
    boolean exact = relu || !unbiased;
    double tol = exact ? 0 : 2e-6;
    for (int step = 0; step < 3; step++) {
      if (step == 2) {
        first.eval();
        last.eval();
      }
      float[] x = random(rnd, sf.numel(), 3 * step);
      float[] dy = random(rnd, sf.numel(), 0);
      first.zeroGrad();
      last.zeroGrad();
      Tensor yf = first.forward(Tensor.of(sf, x));
      Tensor yl = last.forward(Tensor.of(sl, transpose(x, n, c, s, false)));
      close("y step " + step, yf.data(), transpose(yl.data(), n, c, s, true), tol);
      Tensor dxf = first.backward(Tensor.of(sf, dy));
      Tensor dxl = last.backward(Tensor.of(sl, transpose(dy, n, c, s, false)));
      close("dx step " + step, dxf.data(), transpose(dxl.data(), n, c, s, true), exact ? 0 : 4e-6);
      if (affine) {
        close("dweight step " + step, first.weightGrad(), last.weightGrad(), exact ? 0 : 4e-6);
        close("dbias step " + step, first.biasGrad(), last.biasGrad(), exact ? 0 : 4e-6);
      }
      if (track) {
        close("running mean step " + step, first.runningMean(), last.runningMean(), tol);
        close("running var step " + step, first.runningVar(), last.runningVar(), tol);
        assertThat(last.numBatchesTracked()).isEqualTo(first.numBatchesTracked());
      }
    }
  }

  @Property(tries = 6)
  void resultsAreBitwiseIdenticalForEveryThreadCount(@ForAll boolean relu, @ForAll long seed) {
    SplittableRandom rnd = new SplittableRandom(seed);
    Shape shape = Shape.of(8, 13, 11, 37); // NHWC with C = 37, above the parallel threshold
    float[] x = random(rnd, shape.numel(), 5);
    float[] dy = random(rnd, shape.numel(), 0);
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
    assertThat(results[1]).isEqualTo(results[0]);
    assertThat(results[2]).isEqualTo(results[0]);
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
    assertThatThrownBy(() -> BatchNormFunctional.backwardTraining(Layout.CHANNELS_LAST, Activation.RELU,
        new float[4], null, new float[4], new float[4], 2, 2, 1, null, new float[2], new float[2], null, null, 1))
        .hasMessageContaining("y (the forward's output) must not be null");
  }
}
