package io.github.batchnorm4j.torch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.github.batchnorm4j.testing.TestData;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Checks the PyTorch harness itself against hand-computed values, so that the differential tests
 * and the golden fixtures rest on a harness that passes PyTorch's conventions through unchanged
 * (momentum as the weight of the new value, as a double; eps; eval with running statistics).
 */
class LiveTorchBatchNormTest {

  private static TorchBatchNorm torch;

  @BeforeAll
  static void open() {
    torch = TorchBatchNorm.open();
  }

  @AfterAll
  static void close() {
    torch.close();
  }

  @Test
  void loadsLibtorch271OfflineThroughTheNativeRoute() {
    assertThat(torch.torchVersion()).isEqualTo("2.7.1");
    assertThat(torch.passesUndefinedAffine()).isTrue();
    assertThat(System.getProperty("ai.djl.offline")).isEqualTo("true");
  }

  @Test
  void trainingStepMatchesHandComputedValues() {
    // One channel, x = [1, 2, 3, 4]: mean 2.5, biased var 1.25, unbiased 5/3.
    double eps = 1e-5;
    double inv = 1 / Math.sqrt(1.25 + eps);
    TorchBatchNorm.Result r = torch.run(new int[] {4, 1}, new float[] {1, 2, 3, 4},
        new float[] {1, 0, 0, 0}, new float[] {2}, new float[] {0.5f}, new float[] {1}, new float[] {2},
        true, 0.3, eps);
    float[] x = {1, 2, 3, 4};
    for (int i = 0; i < 4; i++) {
      assertThat((double) r.y()[i]).as("y[%d]", i).isCloseTo((x[i] - 2.5) * inv * 2 + 0.5, within(1e-6));
    }
    // momentum 0.3 is the weight of the NEW value: 0.7 * 1 + 0.3 * 2.5, 0.7 * 2 + 0.3 * 5/3
    assertThat((double) r.runningMean()[0]).isCloseTo(0.7 + 0.75, within(1e-6));
    assertThat((double) r.runningVar()[0]).isCloseTo(1.4 + 0.5, within(1e-6));
    // dy = e_0: dbeta = 1, dgamma = xhat_0, dx = g*inv*(dy - 1/4 - xhat * xhat_0 / 4)
    double xhat0 = (1 - 2.5) * inv;
    assertThat((double) r.biasGrad()[0]).isCloseTo(1.0, within(1e-6));
    assertThat((double) r.weightGrad()[0]).isCloseTo(xhat0, within(1e-6));
    for (int i = 0; i < 4; i++) {
      double xhat = (x[i] - 2.5) * inv;
      double dx = 2 * inv * ((i == 0 ? 1 : 0) - 0.25 - xhat * xhat0 / 4);
      assertThat((double) r.dx()[i]).as("dx[%d]", i).isCloseTo(dx, within(1e-6));
    }
  }

  @Test
  void momentumFactorIsPassedAsADoubleWithoutRounding() {
    // f = 1/3 is not a float; with old = 0 the new running mean is exactly f * mean rounded once.
    float[] x = {0, 3, 0, 3};
    TorchBatchNorm.Result r = torch.run(new int[] {4, 1}, x, null, null, null,
        new float[] {0}, new float[] {0}, true, 1.0 / 3.0, 1e-5);
    assertThat(r.runningMean()[0]).isEqualTo((float) (1.5 / 3.0));
    // unbiased var = 9/4 * 4/3 = 3: running var = (1/3) * 3 = 1 exactly
    assertThat(r.runningVar()[0]).isEqualTo(1f);
  }

  @Test
  void evalUsesRunningStatisticsAndChangesNothing() {
    TorchBatchNorm.Result r = torch.run(new int[] {2, 2}, new float[] {1, 2, 3, 4},
        new float[] {1, 1, 1, 1}, new float[] {2, 1}, new float[] {0.5f, 0}, new float[] {1, 0},
        new float[] {4, 1}, false, 0.1, 1e-5);
    assertThat((double) r.y()[0]).isCloseTo((1 - 1) / Math.sqrt(4 + 1e-5) * 2 + 0.5, within(1e-6));
    assertThat((double) r.y()[3]).isCloseTo(4 / Math.sqrt(1 + 1e-5), within(1e-6));
    assertThat(r.runningMean()).containsExactly(1, 0);
    assertThat(r.runningVar()).containsExactly(4, 1);
    assertThat((double) r.dx()[0]).isCloseTo(2 / Math.sqrt(4 + 1e-5), within(1e-6));
    assertThat((double) r.weightGrad()[0]).isCloseTo((0 + 2) / Math.sqrt(4 + 1e-5), within(1e-6));
    assertThat(r.biasGrad()).containsExactly(2, 2);
  }

  @Test
  void onePerChannelInTrainingIsRejectedWithPyTorchsMessage() {
    assertThatThrownBy(() -> torch.run(new int[] {1, 3}, new float[3], null, null, null,
        new float[3], new float[] {1, 1, 1}, true, 0.1, 1e-5))
        .hasMessageContaining("Expected more than 1 value per channel when training");
  }

  /**
   * affine=false through undefined weight and bias (native route) equals ones and zeros through
   * DJL's public route, bit for bit, and so does everything else.
   */
  @Test
  void nativeAndPublicRoutesAgreeBitForBit() {
    SplittableRandom rnd = new SplittableRandom(5);
    int[] shape = {3, 4, 7, 13};
    float[] x = TestData.wellConditionedInput(shape, rnd);
    float[] dy = TestData.gaussian(rnd, x.length, 1, 0);
    float[] rm = {0.1f, -0.2f, 0.3f, 1f};
    float[] rv = {1f, 2f, 0.5f, 1.5f};
    try (TorchBatchNorm publicRoute = TorchBatchNorm.open(false)) {
      assertThat(publicRoute.passesUndefinedAffine()).isFalse();
      for (boolean training : new boolean[] {true, false}) {
        TorchBatchNorm.Result a = torch.run(shape, x, dy, null, null, rm, rv, training, 0.1, 1e-5);
        TorchBatchNorm.Result b = publicRoute.run(shape, x, dy, null, null, rm, rv, training, 0.1, 1e-5);
        assertThat(b.y()).as("y, training=" + training).containsExactly(a.y());
        assertThat(b.dx()).as("dx, training=" + training).containsExactly(a.dx());
        assertThat(b.runningMean()).containsExactly(a.runningMean());
        assertThat(b.runningVar()).containsExactly(a.runningVar());
        float[] w = {1.2f, 0.7f, 1f, 0.9f};
        float[] bias = {0.1f, 0f, -0.3f, 0.2f};
        TorchBatchNorm.Result c = torch.run(shape, x, dy, w, bias, rm, rv, training, 0.1, 1e-5);
        TorchBatchNorm.Result d = publicRoute.run(shape, x, dy, w, bias, rm, rv, training, 0.1, 1e-5);
        assertThat(d.y()).containsExactly(c.y());
        assertThat(d.dx()).containsExactly(c.dx());
        assertThat(d.weightGrad()).containsExactly(c.weightGrad());
        assertThat(d.biasGrad()).containsExactly(c.biasGrad());
      }
    }
  }
}
