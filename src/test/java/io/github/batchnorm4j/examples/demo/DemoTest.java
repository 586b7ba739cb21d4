package io.github.batchnorm4j.examples.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.batchnorm4j.examples.ExampleTestSupport;
import io.github.batchnorm4j.examples.common.Flags;
import io.github.batchnorm4j.examples.common.Trainer.History;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A fast smoke test of the demo: a few steps on a few hundred images. */
class DemoTest {

  @TempDir
  Path dir;

  @Test
  void trainsBothNetworksPrintsTheTableAndWritesTheCharts() throws Exception {
    ExampleTestSupport.Captured captured = new ExampleTestSupport.Captured();
    // The shallow network: in 24 steps the four-convolution network without BN has barely left
    // chance level (the very effect the demo shows), so it would not test that training works.
    Demo.Result result = Demo.run(new String[] {"--epochs", "1", "--train-images", "768",
        "--test-images", "200", "--batch-size", "32", "--convolutions", "2",
        "--out", dir.toString()}, captured.out, false);

    for (History h : new History[] {result.plain(), result.batchNorm()}) {
      assertThat(h.stepLoss()).hasSize(24);
      assertThat(h.diverged()).isFalse();
      // The loss falls: the last steps are clearly better than the first ones (chance: ln 10).
      assertThat(h.meanLoss(19, 24)).as("%s: late vs early loss", h.name())
          .isLessThan(h.meanLoss(0, 5) - 0.3);
      assertThat(h.epochs()).hasSize(1);
      assertThat(h.epochs().get(0).testAccuracy()).isGreaterThan(0.3);
    }
    String text = captured.text();
    assertThat(text).contains("test accuracy", "wall time", "100%");
    assertThat(result.charts()).hasSize(2);
    for (Path chart : result.charts()) {
      assertThat(chart.getParent()).isEqualTo(dir);
      ExampleTestSupport.assertPng(chart);
    }
  }

  @Test
  void helpListsEveryFlag() {
    ExampleTestSupport.Captured captured = new ExampleTestSupport.Captured();
    assertThat(Demo.run(new String[] {"--help"}, captured.out, false)).isNull();
    assertThat(captured.text()).contains("--epochs", "--batch-size", "--lr", "--out", "--seed",
        "--help");
  }

  @Test
  void rejectsUnknownFlagsAndBadValues() {
    ExampleTestSupport.Captured captured = new ExampleTestSupport.Captured();
    assertThatThrownBy(() -> Demo.run(new String[] {"--epoch", "2"}, captured.out, false))
        .isInstanceOf(Flags.UsageException.class).hasMessageContaining("--epoch");
    assertThatThrownBy(() -> Demo.run(new String[] {"--lr", "fast"}, captured.out, false))
        .isInstanceOf(Flags.UsageException.class).hasMessageContaining("--lr");
    assertThatThrownBy(() -> Demo.run(new String[] {"--epochs", "0"}, captured.out, false))
        .isInstanceOf(Flags.UsageException.class).hasMessageContaining("--epochs");
    assertThatThrownBy(() -> Demo.run(new String[] {"--convolutions", "3"}, captured.out, false))
        .isInstanceOf(Flags.UsageException.class).hasMessageContaining("--convolutions");
  }
}
