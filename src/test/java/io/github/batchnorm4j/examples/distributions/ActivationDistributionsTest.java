package io.github.batchnorm4j.examples.distributions;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.github.batchnorm4j.examples.ExampleTestSupport;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ActivationDistributionsTest {

  @TempDir
  Path dir;

  @Test
  void batchNormOutputStartsStandardisedAndTheChartIsWritten() throws Exception {
    ExampleTestSupport.Captured captured = new ExampleTestSupport.Captured();
    List<ActivationDistributions.Snapshot> snapshots = ActivationDistributions.run(
        new String[] {"--train-images", "1280", "--out", dir.toString()}, captured.out, false);
    // 20 steps: snapshots at steps 0, 5, 10 and 19, for each of the three panels.
    assertThat(snapshots).hasSize(12);
    ActivationDistributions.Snapshot bnAtStart = snapshots.stream()
        .filter(s -> s.panel().startsWith("BN: BN output") && s.step() == 0).findFirst()
        .orElseThrow();
    // gamma = 1 and beta = 0 at step 0: every channel is exactly standardised over the batch, so
    // all channels together have mean 0 and standard deviation 1 too.
    assertThat(bnAtStart.mean()).isCloseTo(0, within(1e-4));
    assertThat(bnAtStart.std()).isCloseTo(1, within(1e-3));
    assertThat(bnAtStart.fractionPositive()).isBetween(0.3, 0.7);
    ExampleTestSupport.assertPng(dir.resolve("distributions.png"));
  }
}
