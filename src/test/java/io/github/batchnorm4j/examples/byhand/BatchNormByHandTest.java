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
    // sum dx_i * xhat_i is not 0 but the eps term the program prints beside it (to its 2 digits).
    java.util.regex.Matcher m = java.util.regex.Pattern.compile(
        "sum dx_i \\* xhat_i = (\\S+); .* = (\\S+) \\(0 without eps\\)").matcher(captured.text());
    int checked = 0;
    double largest = 0;
    while (m.find()) {
      double sum = Double.parseDouble(m.group(1));
      double epsTerm = Double.parseDouble(m.group(2));
      // printed to 2 digits, plus float rounding of about 1e-8
      assertThat(sum).isCloseTo(epsTerm,
          org.assertj.core.api.Assertions.within(0.1 * Math.abs(epsTerm) + 3e-8));
      largest = Math.max(largest, Math.abs(epsTerm));
      checked++;
    }
    assertThat(checked).as("channels checked").isGreaterThanOrEqualTo(2);
    assertThat(largest).as("an eps term well above rounding").isGreaterThan(1e-6);
    ExampleTestSupport.assertPng(dir.resolve("by-hand.png"));
  }
}
