package io.github.batchnorm4j.examples.demo;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.batchnorm4j.examples.common.Charts;
import io.github.batchnorm4j.examples.common.Trainer.Config;
import io.github.batchnorm4j.examples.common.Trainer.EpochResult;
import io.github.batchnorm4j.examples.common.Trainer.History;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries;

/**
 * The demo's charts (issue 15): test accuracy as markers per epoch, not a line between epochs;
 * the smoothing named in the legend; accuracy in %; x ticks on round numbers.
 */
class DemoChartsTest {

  @TempDir
  Path dir;

  private static History history(String name, double accuracy) {
    double[] loss = new double[250];
    double[] acc = new double[250];
    Arrays.fill(loss, 1.0);
    Arrays.fill(acc, accuracy);
    return new History(name, loss, acc,
        List.of(new EpochResult(1, 1, 1, 0.5), new EpochResult(2, 1, 1, 0.9)), 1, -1);
  }

  @Test
  void accuracyIsInPercentWithTestMarkersOnlyAndTheSmoothingNamed() {
    Config config = new Config(2, 64, 0.02, 0.9, 1);
    XYChart chart = Demo.accuracyChart(history("no BN", 0.25), history("BN", 0.75), config, 8000, 4);
    assertThat(chart.getYAxisTitle()).isEqualTo("accuracy (%)");
    assertThat(chart.getStyler().getYAxisMax()).isEqualTo(100.0);
    XYSeries test = chart.getSeriesMap().get("BN, test set after each epoch");
    assertThat(test.getXYSeriesRenderStyle()).isEqualTo(XYSeries.XYSeriesRenderStyle.Scatter);
    assertThat(test.getYData()).containsExactly(50.0, 90.0);
    XYSeries train = chart.getSeriesMap().get("BN, training batches, moving average of 10 steps");
    assertThat(train).isNotNull();
    assertThat(train.getYData()[100]).isEqualTo(75.0);
    assertThat(Demo.lossChart(history("no BN", 0.25), history("BN", 0.75), config, 4)
        .getSeriesMap().keySet()).allSatisfy(k -> assertThat(k).contains("moving average of 10 steps"));
  }

  @Test
  void xTicksFallOnRoundNumbers() {
    Config config = new Config(2, 64, 0.02, 0.9, 1);
    XYChart chart = Demo.accuracyChart(history("no BN", 0.25), history("BN", 0.75), config, 8000, 4);
    Charts.save(chart, dir, "accuracy");
    assertThat(chart.getStyler().getXAxisMin()).isEqualTo(0.0);
    assertThat(chart.getStyler().getXAxisMax()).isEqualTo(250.0); // steps 0-250, a multiple of 50
  }

  @Test
  void roundStepsAreOneTwoOrFiveTimesAPowerOfTen() {
    XYChart chart = Charts.lineChart("t", "x", "y", 100, 100);
    chart.addSeries("s", new double[] {0, 99}, new double[] {0, 1});
    Charts.roundXAxis(chart);
    assertThat(chart.getStyler().getXAxisMax()).isEqualTo(100.0);
    XYChart small = Charts.lineChart("t", "x", "y", 100, 100);
    small.addSeries("s", new double[] {-0.37, 0.41}, new double[] {0, 1});
    Charts.roundXAxis(small);
    assertThat(small.getStyler().getXAxisMin()).isCloseTo(-0.4, org.assertj.core.data.Offset.offset(1e-12));
    assertThat(small.getStyler().getXAxisMax()).isCloseTo(0.5, org.assertj.core.data.Offset.offset(1e-12));
  }
}
