package io.github.batchnorm4j;

import static io.github.batchnorm4j.testing.TestData.tolerance;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.OptionalDouble;
import org.junit.jupiter.api.Test;

/**
 * One test per numbered behaviour of the semantics document (docs/batchnorm-semantics.md), with
 * expected values worked out by hand from the formulas, not taken from the library's output.
 */
class SemanticsTest {

  /**
   * A float32 result within TestData's tolerance of the value worked out by hand: of its own
   * magnitude (of unit scale at least), computed from {@code reduced} values. Tight enough to see
   * eps = 1e-5 left out of a variance of order 1.
   */
  private static void assertNear(String what, float actual, double expected, long reduced) {
    assertThat((double) actual).as(what)
        .isCloseTo(expected, within(tolerance(Math.max(1, Math.abs(expected)), reduced)));
  }

  /** The classic golden case: one channel holding 1, 2, 3, 4. */
  private static Tensor oneTwoThreeFour() {
    return Tensor.of(Shape.of(4, 1), new float[] {1, 2, 3, 4});
  }

  @Test
  void item01_defaults() {
    BatchNorm2d bn = new BatchNorm2d(3);
    assertThat(bn.eps()).isEqualTo(1e-5);
    assertThat(bn.momentum()).isEqualTo(OptionalDouble.of(0.1));
    assertThat(bn.isAffine()).isTrue();
    assertThat(bn.tracksRunningStats()).isTrue();
    assertThat(bn.isTraining()).isTrue();
    assertThat(bn.numFeatures()).isEqualTo(3);
    assertThat(bn.threads()).isEqualTo(BatchNormOptions.AUTO_THREADS);
    assertThat(bn).hasToString(
        "BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=true, track_running_stats=true)");
    assertThat(BatchNorm3d.builder(2).cumulativeMovingAverage().build().momentum()).isEmpty();
  }

  @Test
  void item02_parametersStartAtOneAndZero() {
    BatchNorm2d bn = new BatchNorm2d(3);
    assertThat(bn.weight()).containsExactly(1f, 1f, 1f);
    assertThat(bn.bias()).containsExactly(0f, 0f, 0f);
    assertThat(bn.weightGrad()).containsExactly(0f, 0f, 0f);
    assertThat(bn.biasGrad()).containsExactly(0f, 0f, 0f);
    BatchNorm2d plain = BatchNorm2d.builder(3).affine(false).build();
    assertThat(plain.weight()).isNull();
    assertThat(plain.bias()).isNull();
    assertThat(plain.weightGrad()).isNull();
    assertThat(plain.biasGrad()).isNull();
  }

  @Test
  void item03_buffersStartAtZeroOneAndZeroCount() {
    BatchNorm1d bn = new BatchNorm1d(2);
    assertThat(bn.runningMean()).containsExactly(0f, 0f);
    assertThat(bn.runningVar()).containsExactly(1f, 1f);
    assertThat(bn.numBatchesTracked()).isZero();
    BatchNorm1d untracked = BatchNorm1d.builder(2).trackRunningStats(false).build();
    assertThat(untracked.runningMean()).isNull();
    assertThat(untracked.runningVar()).isNull();
    assertThat(untracked.numBatchesTracked()).isZero();
    untracked.forward(Tensor.of(Shape.of(3, 2), new float[] {1, 2, 3, 4, 5, 7}));
    assertThat(untracked.numBatchesTracked()).as("no counter without running stats").isZero();
    assertThatThrownBy(() -> untracked.setNumBatchesTracked(3))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("trackRunningStats(false)");
  }

  @Test
  void item04_resets() {
    BatchNorm1d bn = new BatchNorm1d(1);
    bn.forward(oneTwoThreeFour());
    bn.weight()[0] = 3;
    bn.bias()[0] = -2;
    bn.resetRunningStats();
    assertThat(bn.runningMean()).containsExactly(0f);
    assertThat(bn.runningVar()).containsExactly(1f);
    assertThat(bn.numBatchesTracked()).isZero();
    assertThat(bn.weight()).containsExactly(3f);
    bn.forward(oneTwoThreeFour());
    bn.resetParameters();
    assertThat(bn.runningMean()).containsExactly(0f);
    assertThat(bn.runningVar()).containsExactly(1f);
    assertThat(bn.numBatchesTracked()).isZero();
    assertThat(bn.weight()).containsExactly(1f);
    assertThat(bn.bias()).containsExactly(0f);
  }

  @Test
  void item05_stateDictKeysInPyTorchOrder() {
    assertThat(new BatchNorm2d(2).stateDictKeys()).containsExactly(
        "weight", "bias", "running_mean", "running_var", "num_batches_tracked");
    assertThat(BatchNorm2d.builder(2).affine(false).build().stateDictKeys())
        .containsExactly("running_mean", "running_var", "num_batches_tracked");
    assertThat(BatchNorm2d.builder(2).trackRunningStats(false).build().stateDictKeys())
        .containsExactly("weight", "bias");
  }

  @Test
  void item06_trainingForwardUsesBatchMeanAndBiasedVariance() {
    BatchNorm1d bn = new BatchNorm1d(1);
    float[] y = bn.forward(oneTwoThreeFour()).data();
    double invStd = 1 / Math.sqrt(1.25 + 1e-5); // mean 2.5, biased variance 5/4
    assertNear("y[0]", y[0], -1.5 * invStd, 4);
    assertNear("y[1]", y[1], -0.5 * invStd, 4);
    assertNear("y[2]", y[2], 0.5 * invStd, 4);
    assertNear("y[3]", y[3], 1.5 * invStd, 4);
  }

  @Test
  void item06_statisticsRunOverBatchAndAllSpatialPositionsPerChannel() {
    // (N=2, C=2, H=1, W=2): channel 0 holds 1, 3, 5, 7 and channel 1 holds 10, 10, 20, 20.
    float[] x = {1, 3, 10, 10, 5, 7, 20, 20};
    BatchNorm2d bn = new BatchNorm2d(2);
    bn.weight()[1] = 2;
    bn.bias()[1] = 1;
    float[] y = bn.forward(Tensor.of(Shape.of(2, 2, 1, 2), x)).data();
    double inv0 = 1 / Math.sqrt(5 + 1e-5); // mean 4, biased variance (9+1+1+9)/4 = 5
    double inv1 = 1 / Math.sqrt(25 + 1e-5); // mean 15, biased variance 25
    double[] expected = {-3 * inv0, -inv0, -5 * inv1 * 2 + 1, -5 * inv1 * 2 + 1,
        inv0, 3 * inv0, 5 * inv1 * 2 + 1, 5 * inv1 * 2 + 1};
    for (int i = 0; i < x.length; i++) {
      assertNear("y[" + i + "]", y[i], expected[i], 4);
    }
  }

  @Test
  void item08_functionalSavesMeanAndInverseStd() {
    float[] x = {1, 2, 3, 4};
    float[] y = new float[4];
    float[] mean = new float[1];
    float[] invStd = new float[1];
    BatchNormFunctional.forwardTraining(BatchNormOptions.defaults(), Shape.of(4, 1), x, y, null,
        null, 0, new BatchStatistics(mean, invStd));
    assertThat(mean[0]).isEqualTo(2.5f);
    assertThat(invStd[0]).isEqualTo((float) (1 / Math.sqrt(1.25 + 1e-5)));
  }

  @Test
  void item09_runningStatisticsUseTheUnbiasedVariance() {
    BatchNorm1d bn = new BatchNorm1d(1);
    bn.forward(oneTwoThreeFour());
    assertThat(bn.numBatchesTracked()).isEqualTo(1);
    assertNear("running mean", bn.runningMean()[0], 0.9 * 0 + 0.1 * 2.5, 4);
    // unbiased variance 5/3, not the biased 5/4 used for normalizing
    assertNear("running var", bn.runningVar()[0], 0.9 * 1 + 0.1 * 5.0 / 3, 4);
  }

  @Test
  void item09_momentumWeighsTheNewValue() {
    BatchNorm1d bn = BatchNorm1d.builder(1).momentum(0.25).build();
    bn.forward(oneTwoThreeFour());
    bn.forward(Tensor.of(Shape.of(2, 1), new float[] {10, 14})); // mean 12, unbiased var 8
    double m1 = 0.25 * 2.5;
    double v1 = 0.75 + 0.25 * 5.0 / 3;
    assertNear("running mean", bn.runningMean()[0], 0.75 * m1 + 0.25 * 12, 4);
    assertNear("running var", bn.runningVar()[0], 0.75 * v1 + 0.25 * 8, 4);
    assertThat(bn.numBatchesTracked()).isEqualTo(2);
  }

  @Test
  void item09_cumulativeMovingAverageIsThePlainAverageOfTheBatches() {
    BatchNorm1d bn = BatchNorm1d.builder(1).cumulativeMovingAverage().build();
    bn.forward(oneTwoThreeFour()); // mean 2.5, unbiased var 5/3
    bn.forward(Tensor.of(Shape.of(2, 1), new float[] {10, 14})); // mean 12, unbiased var 8
    bn.forward(Tensor.of(Shape.of(3, 1), new float[] {0, 0, 3})); // mean 1, unbiased var 3
    assertNear("running mean", bn.runningMean()[0], (2.5 + 12 + 1) / 3, 4);
    assertNear("running var", bn.runningVar()[0], (5.0 / 3 + 8 + 3) / 3, 4);
    assertThat(bn.numBatchesTracked()).isEqualTo(3);
  }

  @Test
  void item09_momentumZeroFreezesAndOneReplaces() {
    BatchNorm1d frozen = BatchNorm1d.builder(1).momentum(0).build();
    frozen.forward(oneTwoThreeFour());
    assertThat(frozen.runningMean()).containsExactly(0f);
    assertThat(frozen.runningVar()).containsExactly(1f);
    assertThat(frozen.numBatchesTracked()).isEqualTo(1);
    BatchNorm1d replace = BatchNorm1d.builder(1).momentum(1).build();
    replace.forward(oneTwoThreeFour());
    assertThat(replace.runningMean()).containsExactly(2.5f);
    assertThat(replace.runningVar()).containsExactly((float) (5.0 / 3));
  }

  @Test
  void item10_oneValuePerChannelInTrainingIsAnErrorThatChangesNothing() {
    BatchNorm2d bn = new BatchNorm2d(4);
    Tensor single = Tensor.zeros(Shape.of(1, 4, 1, 1));
    assertThatThrownBy(() -> bn.forward(single))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("expected more than 1 value per channel when training")
        .hasMessageContaining("(1, 4, 1, 1)");
    assertThat(bn.numBatchesTracked()).isZero();
    assertThat(bn.runningMean()).containsOnly(0f);
    assertThat(bn.runningVar()).containsOnly(1f);
    bn.eval(); // with running statistics a single value is fine in eval mode
    Tensor two = Tensor.of(Shape.of(1, 4, 1, 1), new float[] {2, 2, 2, 2});
    // running mean 0 and variance 1: y = 2 / sqrt(1 + eps)
    assertThat(bn.forward(two).data()).containsOnly((float) (2 / Math.sqrt(1 + 1e-5)));
  }

  @Test
  void item11_evalNormalizesWithRunningStatisticsAndChangesNothing() {
    BatchNorm2d bn = new BatchNorm2d(2);
    bn.runningMean()[0] = 1;
    bn.runningMean()[1] = -2;
    bn.runningVar()[0] = 4;
    bn.runningVar()[1] = 0.25f;
    bn.weight()[1] = 3;
    bn.bias()[0] = 0.5f;
    bn.eval();
    float[] x = {3, 5, -2, 0};
    float[] y = bn.forward(Tensor.of(Shape.of(1, 2, 1, 2), x)).data();
    assertNear("y[0]", y[0], (3 - 1) / Math.sqrt(4 + 1e-5) + 0.5, 1); // elementwise in eval
    assertNear("y[1]", y[1], (5 - 1) / Math.sqrt(4 + 1e-5) + 0.5, 1);
    assertNear("y[2]", y[2], 0, 1);
    assertNear("y[3]", y[3], 2 / Math.sqrt(0.25 + 1e-5) * 3, 1);
    assertThat(bn.runningMean()).containsExactly(1f, -2f);
    assertThat(bn.runningVar()).containsExactly(4f, 0.25f);
    assertThat(bn.numBatchesTracked()).isZero();
  }

  @Test
  void item12_withoutRunningStatisticsEvalUsesBatchStatistics() {
    BatchNorm1d bn = BatchNorm1d.builder(1).trackRunningStats(false).build();
    float[] train = bn.forward(oneTwoThreeFour()).data();
    bn.eval();
    float[] eval = bn.forward(oneTwoThreeFour()).data();
    assertThat(eval).containsExactly(train);
    assertNear("eval y[0]", eval[0], -1.5 / Math.sqrt(1.25 + 1e-5), 4);
    // batch statistics need more than one value even in eval mode, as in PyTorch
    assertThatThrownBy(() -> bn.forward(Tensor.of(Shape.of(1, 1), new float[] {1})))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("more than 1 value per channel");
  }

  @Test
  void item13_trainingBackwardOnTheGoldenCase() {
    BatchNorm1d bn = new BatchNorm1d(1);
    bn.weight()[0] = 2;
    bn.forward(oneTwoThreeFour());
    float[] dy = {1, 0, 0, 0};
    float[] dx = bn.backward(Tensor.of(Shape.of(4, 1), dy)).data();
    double inv = 1 / Math.sqrt(1.25 + 1e-5);
    double[] xhat = {-1.5 * inv, -0.5 * inv, 0.5 * inv, 1.5 * inv};
    double dbeta = 1;
    double dgamma = xhat[0];
    for (int i = 0; i < 4; i++) {
      double expected = 2 * inv * (dy[i] - dbeta / 4 - xhat[i] * dgamma / 4);
      assertNear("dx[" + i + "]", dx[i], expected, 4);
    }
    assertNear("dgamma", bn.weightGrad()[0], dgamma, 4);
    assertThat(bn.biasGrad()[0]).isEqualTo(1f);
  }

  @Test
  void item14_evalBackwardTreatsRunningStatisticsAsConstants() {
    BatchNorm1d bn = new BatchNorm1d(1);
    bn.runningMean()[0] = 1;
    bn.runningVar()[0] = 3;
    bn.weight()[0] = -2;
    bn.eval();
    bn.forward(oneTwoThreeFour());
    float[] dy = {1, 2, 3, 4};
    float[] dx = bn.backward(Tensor.of(Shape.of(4, 1), dy)).data();
    double inv = 1 / Math.sqrt(3 + 1e-5);
    for (int i = 0; i < 4; i++) {
      assertNear("dx[" + i + "]", dx[i], dy[i] * -2 * inv, 1); // elementwise in eval
    }
    // sum dy * (x - 1) * inv = (0 + 2 + 6 + 12) * inv
    assertNear("dgamma", bn.weightGrad()[0], 20 * inv, 4);
    assertThat(bn.biasGrad()[0]).isEqualTo(10f);
  }

  @Test
  void item15_parameterGradientsAccumulateUntilZeroGrad() {
    BatchNorm1d bn = new BatchNorm1d(1);
    bn.forward(oneTwoThreeFour());
    Tensor dy = Tensor.of(Shape.of(4, 1), new float[] {1, 2, 3, 5});
    bn.backward(dy);
    float once = bn.weightGrad()[0];
    bn.forward(oneTwoThreeFour());
    bn.backward(dy);
    assertThat(bn.weightGrad()[0]).isEqualTo(2 * once);
    assertThat(bn.biasGrad()[0]).isEqualTo(22f);
    bn.zeroGrad();
    assertThat(bn.weightGrad()).containsExactly(0f);
    assertThat(bn.biasGrad()).containsExactly(0f);
  }

  @Test
  void backwardNeedsAForwardInTheCurrentMode() {
    BatchNorm1d bn = new BatchNorm1d(1);
    Tensor dy = Tensor.zeros(Shape.of(4, 1));
    assertThatThrownBy(() -> bn.backward(dy)).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("before any forward");
    bn.forward(oneTwoThreeFour());
    bn.train(); // not a change of mode
    bn.backward(dy);
    bn.eval();
    assertThatThrownBy(() -> bn.backward(dy)).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("mode changed from training to eval");
    bn.forward(oneTwoThreeFour());
    bn.backward(dy);
  }

  @Test
  void inPlaceForwardWorksButHasNoBackward() {
    BatchNorm1d bn = new BatchNorm1d(1);
    Tensor x = oneTwoThreeFour();
    bn.forward(x, x);
    assertNear("y[0] in place", x.data()[0], -1.5 / Math.sqrt(1.25 + 1e-5), 4);
    assertThatThrownBy(() -> bn.backward(Tensor.zeros(Shape.of(4, 1))))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("in-place");
  }

  @Test
  void emptyBatchGivesEmptyOutputAndCountsTheBatchLikePyTorch() {
    BatchNorm2d bn = new BatchNorm2d(3);
    Tensor y = bn.forward(Tensor.zeros(Shape.of(0, 3, 4, 4)));
    assertThat(y.shape()).isEqualTo(Shape.of(0, 3, 4, 4));
    assertThat(bn.numBatchesTracked()).isEqualTo(1);
    assertThat(bn.runningMean()).containsOnly(0f);
    assertThat(bn.runningVar()).containsOnly(1f);
    assertThat(bn.backward(Tensor.zeros(Shape.of(0, 3, 4, 4))).data()).isEmpty();
  }

  @Test
  void nanPropagatesWithinItsChannelWithoutAnException() {
    BatchNorm1d bn = new BatchNorm1d(2);
    float[] x = {1, 2, 3, Float.NaN, 5, 4}; // channel 1 holds 2, NaN, 4
    float[] y = bn.forward(Tensor.of(Shape.of(3, 2), x)).data();
    assertThat(y[0]).isNotNaN();
    assertThat(y[1]).isNaN();
    assertThat(y[3]).isNaN();
    assertThat(bn.runningMean()[0]).isNotNaN();
    assertThat(bn.runningMean()[1]).isNaN();
    assertThat(bn.runningVar()[1]).isNaN();
  }

  @Test
  void modulesAcceptTheirRanksOnly() {
    new BatchNorm1d(3).forward(Tensor.zeros(Shape.of(2, 3)));
    new BatchNorm1d(3).forward(Tensor.zeros(Shape.of(2, 3, 5)));
    new BatchNorm2d(3).forward(Tensor.zeros(Shape.of(2, 3, 5, 1)));
    new BatchNorm3d(3).forward(Tensor.zeros(Shape.of(2, 3, 1, 2, 3)));
    assertThatThrownBy(() -> new BatchNorm1d(3).forward(Tensor.zeros(Shape.of(2, 3, 4, 4))))
        .hasMessage("input has rank 4 but BatchNorm1d expects rank 2 (N, C) or rank 3 (N, C, L);"
            + " input shape (2, 3, 4, 4)");
    assertThatThrownBy(() -> new BatchNorm3d(3).forward(Tensor.zeros(Shape.of(2, 3, 4, 4))))
        .hasMessage("input has rank 4 but BatchNorm3d expects rank 5 (N, C, D, H, W);"
            + " input shape (2, 3, 4, 4)");
  }
}
