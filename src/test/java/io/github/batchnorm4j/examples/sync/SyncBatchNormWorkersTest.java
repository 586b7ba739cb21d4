package io.github.batchnorm4j.examples.sync;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.batchnorm4j.examples.ExampleTestSupport;
import org.junit.jupiter.api.Test;

class SyncBatchNormWorkersTest {

  @Test
  void synchronizedWorkersMatchOneModuleAndPerWorkerOnesDoNot() {
    ExampleTestSupport.Captured captured = new ExampleTestSupport.Captured();
    SyncBatchNormWorkers.Result r = SyncBatchNormWorkers.run(new String[0], captured.out);
    assertThat(r.syncY()).isLessThan(1e-5);
    assertThat(r.syncDx()).isLessThan(1e-5);
    assertThat(r.syncRunningVar()).isLessThan(1e-6);
    assertThat(r.perWorkerY()).isGreaterThan(0.01);
    // The lines chapter 8 quotes (the synchronized errors are float rounding, so only their
    // bounds are checked above: SIMD and scalar kernels may differ in the last bit).
    assertThat(captured.text()).contains(
        "8 MNIST images through conv1 (8 channels, 28 x 28), split over 4 workers as 2,2,2,2.",
        "per-worker BatchNorm2d                     1.03            -            -         0.0242",
        "|dgamma| about 131.)");
  }

  @Test
  void anUnevenSplitWithAnEmptyWorkerStillMatches() {
    ExampleTestSupport.Captured captured = new ExampleTestSupport.Captured();
    SyncBatchNormWorkers.Result r =
        SyncBatchNormWorkers.run(new String[] {"--split", "3,0,1,4"}, captured.out);
    assertThat(r.syncY()).isLessThan(1e-5);
    assertThat(r.syncDx()).isLessThan(1e-5);
  }
}
