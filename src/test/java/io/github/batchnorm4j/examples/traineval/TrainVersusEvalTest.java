package io.github.batchnorm4j.examples.traineval;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.batchnorm4j.examples.ExampleTestSupport;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainVersusEvalTest {

  @TempDir
  Path dir;

  @Test
  void evalModeIsIndependentOfTheBatchAndTheChartIsWritten() throws Exception {
    ExampleTestSupport.Captured captured = new ExampleTestSupport.Captured();
    Map<String, Double> accuracy = TrainVersusEval.run(new String[] {"--train-images", "1280",
        "--test-images", "300", "--out", dir.toString()}, captured.out, false);
    // In eval mode every image is normalized with the same running statistics, so predicting one
    // image at a time must give exactly the same predictions as a batch of 500.
    assertThat(accuracy.get("eval, batch 1")).isEqualTo(accuracy.get("eval, batch 500"));
    assertThat(accuracy.get("eval, batch 500")).isGreaterThan(0.5);
    assertThat(accuracy).containsKeys("train, batch 1", "train, batch 500",
        "eval, initial running stats");
    assertThat(accuracy.values()).allSatisfy(a -> assertThat(a).isBetween(0.0, 1.0));
    // The library refuses a single value per channel in training mode.
    assertThat(captured.text()).contains("IllegalArgumentException", "more than 1 value");
    ExampleTestSupport.assertPng(dir.resolve("train-eval.png"));
  }
}
