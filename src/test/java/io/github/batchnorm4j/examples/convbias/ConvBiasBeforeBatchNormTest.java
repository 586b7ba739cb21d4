package io.github.batchnorm4j.examples.convbias;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.batchnorm4j.examples.ExampleTestSupport;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConvBiasBeforeBatchNormTest {

  @TempDir
  Path dir;

  @Test
  void theBiasHasNoEffectAndNoGradientOnlyWithBatchNorm() throws Exception {
    ExampleTestSupport.Captured captured = new ExampleTestSupport.Captured();
    ConvBiasBeforeBatchNorm.Result r = ConvBiasBeforeBatchNorm.run(
        new String[] {"--steps", "12", "--out", dir.toString()}, captured.out);
    // A bias shift of several units changes the raw conv output by as much...
    assertThat(r.outputChangeWithoutBn()).isGreaterThan(1.0);
    // ...and the normalized output by float rounding only.
    assertThat(r.outputChangeWithBn()).isLessThan(1e-4);
    assertThat(r.biasGradWithoutBn()).isGreaterThan(1.0);
    // Zero up to float rounding over 64 * 28 * 28 summed values: many orders of magnitude smaller.
    assertThat(r.biasGradWithBn()).isLessThan(1e-4 * r.biasGradWithoutBn());
    assertThat(r.biasDriftWithoutBn()).isGreaterThan(1e-3);
    assertThat(r.biasDriftWithBn()).isLessThan(1e-4);
    ExampleTestSupport.assertPng(dir.resolve("conv-bias.png"));
  }
}
