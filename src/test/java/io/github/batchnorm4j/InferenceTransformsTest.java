package io.github.batchnorm4j;

import static io.github.batchnorm4j.testing.TestData.assertBitwiseEqual;
import static io.github.batchnorm4j.testing.TestData.assertClose;
import static io.github.batchnorm4j.testing.TestData.channelsFirstToLast;
import static io.github.batchnorm4j.testing.TestData.channelsLastToFirst;
import static io.github.batchnorm4j.testing.TestData.maxAbs;
import static io.github.batchnorm4j.testing.TestData.tolerance;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.batchnorm4j.testing.TestData;
import java.util.Map;
import java.util.SplittableRandom;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/** Fused ReLU, folding into a convolution or linear layer, and FrozenBatchNorm2d. */
class InferenceTransformsTest {

  private static BatchNorm2d trainedBn(int c, SplittableRandom rnd, Activation act) {
    BatchNorm2d bn = BatchNorm2d.builder(c).activation(act).eps(1e-3).build();
    System.arraycopy(TestData.uniform(rnd, c, 0.5, 1.5), 0, bn.weight(), 0, c);
    System.arraycopy(TestData.gaussian(rnd, c, 1, 0), 0, bn.bias(), 0, c);
    System.arraycopy(TestData.gaussian(rnd, c, 2, 0), 0, bn.runningMean(), 0, c);
    System.arraycopy(TestData.uniform(rnd, c, 0.2, 3.2), 0, bn.runningVar(), 0, c);
    return bn;
  }

  /** Data with a spread that cycles through 1, 2 and 3 along the memory order. */
  private static float[] data(SplittableRandom rnd, int length, double offset) {
    return TestData.gaussian(rnd, length, i -> 1 + i % 3, offset);
  }

  // ---------------------------------------------------------------------------------------------
  // Fused ReLU

  /**
   * BN + ReLU fused equals BN followed by ReLU: y = max(0, BN(x)), and the backward equals the plain
   * BN backward of dy masked where y <= 0; in training and eval mode.
   */
  @Property(tries = 60)
  void fusedReluEqualsBatchNormThenRelu(@ForAll boolean training, @ForAll @IntRange(min = 1, max = 6) int c,
      @ForAll long seed) {
    SplittableRandom rnd = TestData.rng(seed);
    Shape shape = Shape.of(3, c, 4, 5);
    BatchNorm2d fused = trainedBn(c, TestData.rng(seed), Activation.RELU);
    BatchNorm2d plain = trainedBn(c, TestData.rng(seed), Activation.NONE);
    if (!training) {
      fused.eval();
      plain.eval();
    }
    float[] x = data(rnd, shape.numel(), 0.5);
    float[] dy = data(rnd, shape.numel(), 0);
    Tensor yf = fused.forward(Tensor.of(shape, x));
    Tensor yp = plain.forward(Tensor.of(shape, x));
    float[] relu = yp.data().clone();
    float[] masked = dy.clone();
    for (int i = 0; i < relu.length; i++) {
      relu[i] = Math.max(relu[i], 0f);
      if (yf.data()[i] <= 0) {
        masked[i] = 0f;
      }
    }
    assertBitwiseEqual("y", yf.data(), relu);
    Tensor dxf = fused.backward(Tensor.of(shape, dy));
    Tensor dxp = plain.backward(Tensor.of(shape, masked));
    assertBitwiseEqual("dx", dxf.data(), dxp.data());
    assertBitwiseEqual("dweight", fused.weightGrad(), plain.weightGrad());
    assertBitwiseEqual("dbias", fused.biasGrad(), plain.biasGrad());
    if (training) {
      assertBitwiseEqual("running mean", fused.runningMean(), plain.runningMean());
      assertBitwiseEqual("running var", fused.runningVar(), plain.runningVar());
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Folding

  /** A direct 2-D convolution, stride 1, zero padding p, accumulated in double, rounded once. */
  static float[] conv2d(float[] x, int n, int cin, int h, int w, float[] weight, float[] bias, int cout,
      int k, int p) {
    int ho = h + 2 * p - k + 1;
    int wo = w + 2 * p - k + 1;
    float[] y = new float[n * cout * ho * wo];
    for (int b = 0; b < n; b++) {
      for (int o = 0; o < cout; o++) {
        for (int i = 0; i < ho; i++) {
          for (int j = 0; j < wo; j++) {
            double acc = bias == null ? 0 : bias[o];
            for (int ci = 0; ci < cin; ci++) {
              for (int u = 0; u < k; u++) {
                for (int v = 0; v < k; v++) {
                  int r = i + u - p;
                  int q = j + v - p;
                  if (r >= 0 && r < h && q >= 0 && q < w) {
                    acc += (double) x[((b * cin + ci) * h + r) * w + q] * weight[((o * cin + ci) * k + u) * k + v];
                  }
                }
              }
            }
            y[((b * cout + o) * ho + i) * wo + j] = (float) acc;
          }
        }
      }
    }
    return y;
  }

  @Property(tries = 40)
  void foldedConvolutionEqualsConvolutionThenEvalBatchNorm(@ForAll boolean withBias,
      @ForAll @IntRange(min = 1, max = 5) int cout, @ForAll long seed) {
    SplittableRandom rnd = TestData.rng(seed);
    int n = 2;
    int cin = 3;
    int h = 6;
    int w = 7;
    int k = 3;
    float[] x = data(rnd, n * cin * h * w, 0.3);
    Tensor weight = Tensor.of(Shape.of(cout, cin, k, k), data(rnd, cout * cin * k * k, 0));
    float[] bias = withBias ? data(rnd, cout, 1) : null;
    BatchNorm2d bn = trainedBn(cout, rnd, Activation.NONE).eval();
    float[] z = conv2d(x, n, cin, h, w, weight.data(), bias, cout, k, 1);
    float[] expected = bn.forward(Tensor.of(Shape.of(n, cout, h, w), z)).data();
    BatchNormFolding.Folded folded = BatchNormFolding.fold(weight, bias, bn);
    assertThat(folded.weight().shape()).isEqualTo(weight.shape());
    assertThat(folded.bias()).as("a convolution without bias gets one").hasSize(cout);
    float[] actual = conv2d(x, n, cin, h, w, folded.weight().data(), folded.bias(), cout, k, 1);
    // Both sides round the convolution's terms (the folded weights, or z before the batch norm)
    // and scale them by up to gamma / sqrt(var + eps): the magnitude is that scale times the
    // largest sum of |terms|, a convolution of |x| with |weight| (plus |bias|).
    float[] termSums = conv2d(abs(x), n, cin, h, w, abs(weight.data()), abs(bias), cout, k, 1);
    double magnitude = maxScale(bn) * maxAbs(termSums) + maxAbs(expected) + 1;
    assertClose("folded conv", actual, expected, tolerance(magnitude, cin * k * k));
  }

  /** A linear layer with a Keras-style (in, out) kernel: the output channel is the last dimension. */
  @Property(tries = 20)
  void foldedLinearEqualsLinearThenBatchNormForBothWeightLayouts(@ForAll long seed) {
    SplittableRandom rnd = TestData.rng(seed);
    int batch = 5;
    int in = 4;
    int out = 3;
    float[] x = data(rnd, batch * in, 0);
    float[] wOutIn = data(rnd, out * in, 0);
    float[] wInOut = new float[in * out];
    for (int o = 0; o < out; o++) {
      for (int i = 0; i < in; i++) {
        wInOut[i * out + o] = wOutIn[o * in + i];
      }
    }
    float[] bias = data(rnd, out, 0);
    BatchNorm1d bn = BatchNorm1d.builder(out).build();
    System.arraycopy(TestData.gaussian(rnd, out, 1, 0), 0, bn.runningMean(), 0, out);
    System.arraycopy(TestData.uniform(rnd, out, 0.5, 1.5), 0, bn.runningVar(), 0, out);
    System.arraycopy(TestData.gaussian(rnd, out, 1, 0), 0, bn.weight(), 0, out);
    bn.eval();
    float[] z = linear(x, batch, in, wOutIn, bias, out);
    float[] expected = bn.forward(Tensor.of(Shape.of(batch, out), z)).data();
    BatchNormFolding.Folded a = BatchNormFolding.fold(Tensor.of(Shape.of(out, in), wOutIn), bias, bn);
    BatchNormFolding.Folded b = BatchNormFolding.fold(Tensor.of(Shape.of(in, out), wInOut), bias, bn,
        Layout.CHANNELS_LAST);
    float[] termSums = linear(abs(x), batch, in, abs(wOutIn), abs(bias), out);
    assertClose("folded (out, in)", linear(x, batch, in, a.weight().data(), a.bias(), out),
        expected, tolerance(maxScale(bn) * maxAbs(termSums) + maxAbs(expected) + 1, in));
    float[] bT = new float[out * in];
    for (int o = 0; o < out; o++) {
      for (int i = 0; i < in; i++) {
        bT[o * in + i] = b.weight().data()[i * out + o];
      }
    }
    assertThat(bT).as("both layouts fold the same numbers").containsExactly(a.weight().data());
    assertThat(b.bias()).containsExactly(a.bias());
  }

  /** |v| for each value (null stays null). */
  private static float[] abs(float[] values) {
    if (values == null) {
      return null;
    }
    float[] out = new float[values.length];
    for (int i = 0; i < values.length; i++) {
      out[i] = Math.abs(values[i]);
    }
    return out;
  }

  /** The largest |gamma| / sqrt(runningVar + eps): the factor an eval batch norm scales by. */
  private static double maxScale(BatchNorm bn) {
    double max = 0;
    for (int c = 0; c < bn.runningVar().length; c++) {
      max = Math.max(max, Math.abs(bn.weight()[c]) / Math.sqrt(bn.runningVar()[c] + bn.eps()));
    }
    return max;
  }

  private static float[] linear(float[] x, int batch, int in, float[] wOutIn, float[] bias, int out) {
    float[] y = new float[batch * out];
    for (int b = 0; b < batch; b++) {
      for (int o = 0; o < out; o++) {
        double acc = bias[o];
        for (int i = 0; i < in; i++) {
          acc += (double) x[b * in + i] * wOutIn[o * in + i];
        }
        y[b * out + o] = (float) acc;
      }
    }
    return y;
  }

  @Test
  void foldingChecksItsArguments() {
    Tensor w = Tensor.zeros(Shape.of(4, 2));
    assertThatThrownBy(() -> BatchNormFolding.fold(w, null, BatchNorm1d.builder(4).trackRunningStats(false).build()))
        .hasMessageContaining("without running statistics");
    assertThatThrownBy(() -> BatchNormFolding.fold(w, null, new BatchNorm1d(3)))
        .hasMessageContaining("gamma has length 3 but the weight has 4 output channels (dimension 0)");
    assertThatThrownBy(() -> BatchNormFolding.fold(w, new float[2], new BatchNorm1d(4)))
        .hasMessageContaining("bias has length 2");
    float[] four = new float[4];
    assertThatThrownBy(() -> BatchNormFolding.fold(w, null, null, four, four, four, four, 1e-5))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("weight and weightLayout must not be null but weightLayout is null");
    assertThatThrownBy(() -> BatchNormFolding.fold(w, null, Layout.CHANNELS_FIRST, four, four,
        four, null, 1e-5))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("mean and var must not be null but var is null; weight shape (4, 2)");
  }

  // ---------------------------------------------------------------------------------------------
  // FrozenBatchNorm2d

  @Test
  void frozenBatchNormIsEvalModeThatNeverChanges() {
    SplittableRandom rnd = TestData.rng(11);
    BatchNorm2d bn = trainedBn(4, rnd, Activation.NONE).eval();
    FrozenBatchNorm2d frozen = FrozenBatchNorm2d.freeze(bn);
    Map<String, TypedTensor> before = frozen.stateDict();
    assertThat(before.keySet()).containsExactly("weight", "bias", "running_mean", "running_var");
    Shape shape = Shape.of(2, 4, 3, 5);
    for (int step = 0; step < 3; step++) {
      float[] x = data(rnd, shape.numel(), step);
      float[] dy = data(rnd, shape.numel(), 0);
      assertThat(frozen.forward(Tensor.of(shape, x)).data()).containsExactly(bn.forward(Tensor.of(shape, x)).data());
      float[] dx = frozen.backward(Tensor.of(shape, dy)).data();
      for (int i = 0; i < dx.length; i++) {
        int c = (i / 15) % 4;
        double expected = dy[i] * (double) bn.weight()[c] / Math.sqrt(bn.runningVar()[c] + bn.eps());
        assertThat((double) dx[i]).isCloseTo(expected,
            org.assertj.core.api.Assertions.within(tolerance(Math.abs(expected), 1)));
      }
    }
    assertThat(frozen.stateDict()).as("frozen state never changes").isEqualTo(before);
    // torchvision's keys; a BatchNorm2d checkpoint loads, its num_batches_tracked ignored
    FrozenBatchNorm2d loaded = new FrozenBatchNorm2d(4);
    assertThat(loaded.loadStateDict(bn.stateDict("backbone.bn1."), "backbone.bn1.", true).isEmpty()).isTrue();
    assertThat(loaded.stateDict()).isEqualTo(before);
    assertThatThrownBy(() -> loaded.loadStateDict(Map.of("weight", TypedTensor.ofFloats(Shape.of(3), new float[3]))))
        .hasMessageContaining("missing keys");
    assertThat(loaded.stateDict()).isEqualTo(before);
    assertThatThrownBy(() -> FrozenBatchNorm2d.freeze(BatchNorm2d.builder(4).trackRunningStats(false).build()))
        .hasMessageContaining("without running statistics");
    // channels-last and fused ReLU
    FrozenBatchNorm2d nhwc = FrozenBatchNorm2d.builder(4).eps(bn.eps()).layout(Layout.CHANNELS_LAST).activation(Activation.RELU).build();
    nhwc.loadStateDict(before);
    float[] x = data(rnd, shape.numel(), 0);
    float[] y = frozen.forward(Tensor.of(shape, x)).data();
    float[] yl = nhwc.forward(Tensor.of(Shape.of(2, 3, 5, 4), channelsFirstToLast(x, 2, 4, 15)))
        .data();
    float[] back = channelsLastToFirst(yl, 2, 4, 15);
    for (int i = 0; i < y.length; i++) {
      assertThat(back[i]).isEqualTo(Math.max(y[i], 0f));
    }
    // folding a frozen batch norm gives the same numbers as folding the module it froze
    Tensor w = Tensor.of(Shape.of(4, 2), data(rnd, 8, 0));
    assertThat(BatchNormFolding.fold(w, null, frozen, Layout.CHANNELS_FIRST).weight().data())
        .containsExactly(BatchNormFolding.fold(w, null, bn).weight().data());
  }
}
