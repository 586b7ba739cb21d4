package io.github.batchnorm4j.examples.byhand;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.batchnorm4j.examples.ExampleTestSupport;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BatchNormByHandTest {

  @TempDir
  Path dir;

  @Test
  void handComputationAgreesWithTheLibraryAndTheChartIsWritten() throws Exception {
    ExampleTestSupport.Captured captured = new ExampleTestSupport.Captured();
    double worst = BatchNormByHand.run(new String[] {"--out", dir.toString()}, captured.out);
    // Every printed library value (y, running stats, dx, dgamma, dbeta) matches the double
    // precision textbook formulas to float accuracy.
    assertThat(worst).isLessThan(1e-5);
    // Channel 0 holds 1..8: its mean is 4.5 and its biased variance 5.25, by arithmetic.
    assertThat(captured.text()).contains("= 36 / 8 = 4.500000", "= 42.000000 / 8 = 5.250000");
    ExampleTestSupport.assertPng(dir.resolve("by-hand.png"));
  }
}
