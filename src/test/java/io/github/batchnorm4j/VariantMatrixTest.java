package io.github.batchnorm4j;

import static io.github.batchnorm4j.testing.TestData.assertBitwiseEqual;
import static io.github.batchnorm4j.testing.TestData.assertClose;
import static io.github.batchnorm4j.testing.TestData.maxAbs;
import static io.github.batchnorm4j.testing.TestData.tolerance;

import io.github.batchnorm4j.internal.BatchNormKernels;
import io.github.batchnorm4j.internal.BatchNormKernels.PassOrder;
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
 * Every variant on one kernel path: channels-first and channels-last, with and without the fused
 * ReLU, with PyTorch's unbiased and the biased running variance; each on both kernel
 * implementations, through the training forward and backward and the eval forward and backward,
 * against the float64 reference and with the same bits on 1, 2 and 3 threads. Module-level
 * behaviour is checked by {@link InferenceTransformsTest} (with {@link FrozenBatchNorm2d}),
 * {@link ChannelsLastTest} and {@link ConventionsTest}.
 */
class VariantMatrixTest {

  private static final double EPS = 1e-5;
  private static final double FACTOR = 0.3;

  /** (N, C, S): elements enough for two threads, awkward plane sizes, (N, C), and a small one. */
  private static final int[][] SHAPES = {
    {8, 24, 221}, // 13 x 17 planes, 42,432 values: threads share the work
    {1500, 37, 1}, // (N, C): one value per plane in both layouts
    {16, 9, 250}, // channels-last with fewer channels than a vector lane count
    {3, 5, 7}, // tiny: the scalar tails only
  };

  static Stream<Arguments> variants() {
    List<Arguments> args = new ArrayList<>();
    for (String impl : TestData.implementations()) {
      for (Layout layout : Layout.values()) {
        for (Activation activation : Activation.values()) {
          for (boolean unbiased : new boolean[] {true, false}) {
            for (int[] shape : SHAPES) {
              args.add(Arguments.of(impl, layout, activation, unbiased, shape[0], shape[1],
                  shape[2]));
            }
          }
        }
      }
    }
    return args.stream();
  }

  /** All outputs of one training step and one eval step. */
  private record Results(float[] y, float[] saveMean, float[] saveInvStd, float[] runningMean,
      float[] runningVar, float[] dx, float[] weightGrad, float[] biasGrad, float[] yEval,
      float[] dxEval, float[] weightGradEval, float[] biasGradEval) {

    float[][] all() {
      return new float[][] {y, saveMean, saveInvStd, runningMean, runningVar, dx, weightGrad,
          biasGrad, yEval, dxEval, weightGradEval, biasGradEval};
    }
  }

  @ParameterizedTest(name = "{0} {1} {2} unbiased={3} ({4}, {5}, {6})")
  @MethodSource("variants")
  void everyPassMatchesTheFloat64ReferenceWithTheSameBitsForEveryThreadCount(String impl,
      Layout layout, Activation activation, boolean unbiased, int n, int c, int s) {
    KernelOps ops = TestData.kernels(impl);
    SplittableRandom rnd = TestData.rng(1000L * n + 10L * c + s);
    int numel = n * c * s;
    float[] x = TestData.gaussian(rnd, numel, 1.5, 0.5);
    float[] dy = TestData.gaussian(rnd, numel, 1, 0);
    float[] weight = TestData.gaussian(rnd, c, 0.5, 1);
    float[] bias = TestData.gaussian(rnd, c, 0.5, 0);
    boolean last = layout == Layout.CHANNELS_LAST;
    boolean relu = activation == Activation.RELU;

    Results one = run(ops, last, relu, unbiased, n, c, s, x, dy, weight, bias, 1);
    for (int threads : new int[] {2, 3}) {
      Results more = run(ops, last, relu, unbiased, n, c, s, x, dy, weight, bias, threads);
      for (int k = 0; k < one.all().length; k++) {
        assertBitwiseEqual(threads + " threads, result " + k, more.all()[k], one.all()[k]);
      }
    }
    for (PassOrder order : PassOrder.values()) { // every pass order gives the same bits too
      Results ordered = run(ops, last, relu, unbiased, n, c, s, x, dy, weight, bias, 2, order);
      for (int k = 0; k < one.all().length; k++) {
        assertBitwiseEqual(order + ", result " + k, ordered.all()[k], one.all()[k]);
      }
    }

    // The float64 reference, on the data in channels-first order.
    long m = (long) n * s;
    double[] xd = last ? TestData.toChannelsFirst(x, n, c, s) : ReferenceBatchNorm.toDouble(x);
    double[] w = ReferenceBatchNorm.toDouble(weight);
    double[] b = ReferenceBatchNorm.toDouble(bias);
    ReferenceBatchNorm.Forward fwd = ReferenceBatchNorm.forwardTraining(xd, n, c, s, w, b, EPS);
    double[] yRef = inLayout(relu ? ReferenceBatchNorm.relu(fwd.y()) : fwd.y(), last, n, c, s);
    assertClose("y", one.y(), yRef, tolerance(maxAbs(fwd.y()) + maxAbs(b), m));
    assertClose("saved mean", one.saveMean(), fwd.stats().mean(),
        tolerance(maxAbs(fwd.stats().mean()) + 1, m));
    double[] invStd = new double[c];
    for (int ch = 0; ch < c; ch++) {
      invStd[ch] = 1 / Math.sqrt(fwd.stats().biasedVar()[ch] + EPS);
    }
    assertClose("saved invStd", one.saveInvStd(), invStd, tolerance(maxAbs(invStd), m));
    double[] rm = new double[c];
    double[] rv = new double[c];
    Arrays.fill(rv, 1);
    ReferenceBatchNorm.updateRunning(fwd.stats(), rm, rv, FACTOR, unbiased);
    assertClose("running mean", one.runningMean(), rm, tolerance(maxAbs(rm) + 1, m));
    assertClose("running var", one.runningVar(), rv, tolerance(maxAbs(rv) + 1, m));

    // Training backward: the gradient reaching the normalization, masked by our own output.
    double[] g = ReferenceBatchNorm.toDouble(dy);
    if (relu) {
      g = ReferenceBatchNorm.reluBackward(g, one.y());
    }
    double[] gFirst = last ? TestData.toChannelsFirst(toFloat(g), n, c, s) : g;
    ReferenceBatchNorm.Backward back =
        ReferenceBatchNorm.backwardTraining(xd, gFirst, n, c, s, w, EPS);
    double termScale = maxAbs(w) * maxAbs(invStd) * (maxAbs(g) + 1);
    assertClose("dx", one.dx(), inLayout(back.dx(), last, n, c, s), tolerance(termScale, m));
    // dgamma and dbeta are sums over m values rounded to float: held to their own magnitude.
    assertClose("dgamma", one.weightGrad(), back.dWeight(),
        tolerance(maxAbs(back.dWeight()) + 1, m));
    assertClose("dbeta", one.biasGrad(), back.dBias(), tolerance(maxAbs(back.dBias()) + 1, m));

    // Eval with the updated running statistics, forward then backward.
    double[] runMean = ReferenceBatchNorm.toDouble(one.runningMean());
    double[] runVar = ReferenceBatchNorm.toDouble(one.runningVar());
    double[] yEval = ReferenceBatchNorm.normalize(xd, n, c, s, runMean, runVar, w, b, EPS);
    assertClose("eval y", one.yEval(), inLayout(relu ? ReferenceBatchNorm.relu(yEval) : yEval,
        last, n, c, s), tolerance(maxAbs(yEval) + maxAbs(b), 1));
    double[] gEval = ReferenceBatchNorm.toDouble(dy);
    if (relu) {
      gEval = ReferenceBatchNorm.reluBackward(gEval, one.yEval());
    }
    double[] gEvalFirst = last ? TestData.toChannelsFirst(toFloat(gEval), n, c, s) : gEval;
    ReferenceBatchNorm.Backward evalBack = ReferenceBatchNorm.backwardInference(xd, gEvalFirst, n,
        c, s, w, runMean, runVar, EPS);
    assertClose("eval dx", one.dxEval(), inLayout(evalBack.dx(), last, n, c, s),
        tolerance(termScale, 1));
    assertClose("eval dgamma", one.weightGradEval(), evalBack.dWeight(),
        tolerance(maxAbs(evalBack.dWeight()) + 1, m));
    assertClose("eval dbeta", one.biasGradEval(), evalBack.dBias(),
        tolerance(maxAbs(evalBack.dBias()) + 1, m));
  }

  static Stream<Arguments> masks() {
    List<Arguments> args = new ArrayList<>();
    for (String impl : TestData.implementations()) {
      for (Layout layout : Layout.values()) {
        // plane lengths below a vector, a vector and a tail, one and several blocks of 64
        for (int[] shape : new int[][] {{40, 6, 3}, {8, 5, 49}, {6, 4, 64}, {4, 3, 197}}) {
          args.add(Arguments.of(impl, layout, shape[0], shape[1], shape[2]));
        }
      }
    }
    return args.stream();
  }

  /**
   * The fused ReLU's mask as PyTorch's {@code threshold_backward} applies it: where the output is
   * {@code <= 0} (+0, -0, negative) the gradient is exactly 0 even when dy is NaN or infinite, and
   * a NaN output (of either sign) passes dy. So the backward's bits must not change when dy is
   * replaced by non-finite values where the mask is 0, nor when a NaN output is replaced by a
   * positive one. A mask applied by multiplying (NaN * 0 = NaN) fails the first; a mask that reads
   * the sign bit alone fails the second.
   */
  @ParameterizedTest(name = "{0} {1} ({2}, {3}, {4})")
  @MethodSource("masks")
  void theReluMaskZeroesNonFiniteGradientsAndPassesNaNOutputs(String impl, Layout layout, int n,
      int c, int s) {
    KernelOps ops = TestData.kernels(impl);
    boolean last = layout == Layout.CHANNELS_LAST;
    SplittableRandom rnd = TestData.rng(77L * n + s);
    int numel = n * c * s;
    float[] x = TestData.gaussian(rnd, numel, 1, 0);
    float[] dy = TestData.gaussian(rnd, numel, 1, 0);
    float[] weight = TestData.gaussian(rnd, c, 0.5, 1);
    float[] mean = TestData.gaussian(rnd, c, 0.1, 0);
    float[] invStd = new float[c];
    float[] runningVar = new float[c];
    Arrays.fill(invStd, 1.25f);
    Arrays.fill(runningVar, 0.64f);
    // A ReLU output of every kind: masked (+0, -0, negative, -infinity), passing (positive,
    // subnormal, +infinity) and NaN of both signs, which passes.
    float[] kinds = {0f, -0f, -1.5f, Float.NEGATIVE_INFINITY, 0.75f, Float.MIN_VALUE,
        Float.POSITIVE_INFINITY, Float.NaN, Float.intBitsToFloat(0xffc00000)};
    float[] output = new float[numel];
    float[] noNaN = new float[numel]; // NaN outputs replaced by a positive value
    float[] poisoned = dy.clone(); // dy non-finite where the mask is 0
    float[] zeroed = dy.clone(); // dy 0 there
    float[] poison = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY};
    for (int i = 0; i < numel; i++) {
      float o = kinds[rnd.nextInt(kinds.length)];
      output[i] = o;
      noNaN[i] = Float.isNaN(o) ? 2f : o;
      if (o <= 0f) {
        poisoned[i] = poison[rnd.nextInt(poison.length)];
        zeroed[i] = 0f;
      }
    }
    float[][] expected = backwards(ops, last, n, c, s, x, noNaN, zeroed, weight, mean, invStd,
        runningVar);
    float[][] actual = backwards(ops, last, n, c, s, x, output, poisoned, weight, mean, invStd,
        runningVar);
    String[] names = {"dx", "dgamma", "dbeta", "eval dx", "eval dgamma", "eval dbeta"};
    for (int k = 0; k < names.length; k++) {
      assertBitwiseEqual(impl + " " + names[k], actual[k], expected[k]);
    }
  }

  /** The training and the eval backward with the ReLU mask of {@code output}, on two threads. */
  private static float[][] backwards(KernelOps ops, boolean last, int n, int c, int s, float[] x,
      float[] output, float[] dy, float[] weight, float[] mean, float[] invStd,
      float[] runningVar) {
    int numel = x.length;
    float[] dx = new float[numel];
    float[] weightGrad = new float[c];
    float[] biasGrad = new float[c];
    BatchNormKernels.backwardTraining(ops, n, c, s, last, x, output, dy, dx, weight, mean,
        invStd, weightGrad, biasGrad, 2, PassOrder.AUTO);
    float[] dxEval = new float[numel];
    float[] weightGradEval = new float[c];
    float[] biasGradEval = new float[c];
    BatchNormKernels.backwardInference(ops, n, c, s, last, x, output, dy, dxEval, weight, mean,
        runningVar, EPS, weightGradEval, biasGradEval, 2);
    return new float[][] {dx, weightGrad, biasGrad, dxEval, weightGradEval, biasGradEval};
  }

  private static Results run(KernelOps ops, boolean last, boolean relu, boolean unbiased, int n,
      int c, int s, float[] x, float[] dy, float[] weight, float[] bias, int threads) {
    return run(ops, last, relu, unbiased, n, c, s, x, dy, weight, bias, threads, PassOrder.AUTO);
  }

  private static Results run(KernelOps ops, boolean last, boolean relu, boolean unbiased, int n,
      int c, int s, float[] x, float[] dy, float[] weight, float[] bias, int threads,
      PassOrder order) {
    int numel = x.length;
    float[] y = new float[numel];
    float[] saveMean = new float[c];
    float[] saveInvStd = new float[c];
    float[] runningMean = new float[c];
    float[] runningVar = new float[c];
    Arrays.fill(runningVar, 1f);
    BatchNormKernels.forwardTraining(ops, n, c, s, last, x, y, weight, bias, runningMean,
        runningVar, FACTOR, unbiased, EPS, relu, saveMean, saveInvStd, threads, order);
    float[] dx = new float[numel];
    float[] weightGrad = new float[c];
    float[] biasGrad = new float[c];
    BatchNormKernels.backwardTraining(ops, n, c, s, last, x, relu ? y : null, dy, dx, weight,
        saveMean, saveInvStd, weightGrad, biasGrad, threads, order);
    float[] yEval = new float[numel];
    BatchNormKernels.forwardInference(ops, n, c, s, last, x, yEval, weight, bias, runningMean,
        runningVar, EPS, relu, threads);
    float[] dxEval = new float[numel];
    float[] weightGradEval = new float[c];
    float[] biasGradEval = new float[c];
    BatchNormKernels.backwardInference(ops, n, c, s, last, x, relu ? yEval : null, dy, dxEval,
        weight, runningMean, runningVar, EPS, weightGradEval, biasGradEval, threads);
    return new Results(y, saveMean, saveInvStd, runningMean, runningVar, dx, weightGrad,
        biasGrad, yEval, dxEval, weightGradEval, biasGradEval);
  }

  private static double[] inLayout(double[] channelsFirst, boolean last, int n, int c, int s) {
    return last ? TestData.toChannelsLast(channelsFirst, n, c, s) : channelsFirst;
  }

  private static float[] toFloat(double[] v) {
    float[] out = new float[v.length];
    for (int i = 0; i < v.length; i++) {
      out[i] = (float) v[i];
    }
    return out;
  }
}
