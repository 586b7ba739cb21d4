package io.github.batchnorm4j.examples.distributions;

import io.github.batchnorm4j.examples.common.Charts;
import io.github.batchnorm4j.examples.common.Flags;
import io.github.batchnorm4j.examples.common.ProgressBar;
import io.github.batchnorm4j.examples.common.Trainer;
import io.github.batchnorm4j.examples.data.Mnist;
import io.github.batchnorm4j.examples.nn.SmallCnn;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * Histograms of the last convolution's (conv4's) pre-activations, the input of its ReLU, during
 * training, with and without batch norm, from the same initial weights and batches.
 *
 * <p>Three panels: without BN, the ReLU input is the raw conv4 output; with BN it is the BN output;
 * and for comparison the BN network's raw conv4 output, before its BN, which is free to drift
 * because the BN after it undoes any shift and scale.
 *
 * <pre>
 * ./mvnw -q test-compile exec:java@distributions
 * ./mvnw -q test-compile exec:java@distributions -Dexec.args="--out docs/tutorial/images"
 * </pre>
 */
public final class ActivationDistributions {

  /** The layer whose pre-activations are shown: conv4, the deepest convolution (0-based 3). */
  static final int LAYER = 3;

  private ActivationDistributions() {}

  public static void main(String[] args) {
    try {
      run(args, System.out, true);
    } catch (Flags.UsageException e) {
      System.err.println("error: " + e.getMessage() + " (run with --help for the options)");
      System.exit(2);
    }
  }

  static Flags flags() {
    return new Flags("./mvnw -q test-compile exec:java@distributions -Dexec.args=\"...\"",
        "Histograms of conv4's pre-activations during training, with and without BatchNorm2d.")
        .option("epochs", "1", "epochs of training")
        .option("lr", "0.02", "learning rate (SGD, momentum 0.9)")
        .option("train-images", "8000", "training images")
        .option("seed", "1", "seed of the weights and of the batches")
        .option("out", "target/examples", "folder for the chart distributions.png");
  }

  /** The summary of one panel at one step. */
  record Snapshot(String panel, int step, double mean, double std, double fractionPositive) {}

  static List<Snapshot> run(String[] args, PrintStream out, boolean console) {
    Flags flags = flags();
    if (!flags.parse(args, out)) {
      return null;
    }
    Trainer.Config config = new Trainer.Config(flags.integer("epochs", 1), 64,
        flags.number("lr"), 0.9, flags.longValue("seed"));
    Mnist mnist = Mnist.load();
    Mnist.Split train = mnist.train().first(
        Math.min(Mnist.TRAIN_COUNT, flags.integer("train-images", 64)));
    Mnist.Split test = mnist.test().first(200);
    Path outDir = Path.of(flags.string("out"));
    int steps = config.stepsPerEpoch(train.count()) * config.epochs();
    int[] snapshotSteps = distinctSorted(0, Math.min(steps - 1, 10), steps / 4, steps - 1);

    String[] panels = {"no BN: conv4 output = ReLU input", "BN: conv4 output (BN input)",
        "BN: BN output = ReLU input"};
    // values[panel][snapshot]
    float[][][] values = new float[3][snapshotSteps.length][];
    for (int k = 0; k < 2; k++) {
      boolean withBn = k == 1;
      SmallCnn net = SmallCnn.create(withBn, config.seed());
      ProgressBar bar = console ? ProgressBar.onConsole(withBn ? "BN" : "no BN", steps)
          : new ProgressBar(withBn ? "BN" : "no BN", steps, out, false);
      Trainer.train(withBn ? "BN" : "no BN", net, train, test, config, bar, (step, model) -> {
        int s = Arrays.binarySearch(snapshotSteps, step);
        if (s >= 0) {
          // the batch of this step, seen by the weights after `step` updates
          if (withBn) {
            values[1][s] = model.convOutput(LAYER).data().clone();
            values[2][s] = model.reluInput(LAYER).data().clone();
          } else {
            values[0][s] = model.reluInput(LAYER).data().clone();
          }
        }
      });
    }

    List<Snapshot> snapshots = new ArrayList<>();
    out.println();
    out.println("Pre-activations of conv4 (the last convolution) over one training batch, all 16 channels:");
    out.println("panel                               step      mean       std   fraction > 0");
    List<XYChart> charts = new ArrayList<>();
    java.awt.Color[] colors = {Charts.ORANGE, Charts.GREEN, Charts.BLUE, Charts.PURPLE};
    // One x range for all three panels, so that their widths can be compared at a glance.
    double[] range = {Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY};
    for (int p = 0; p < 3; p++) {
      double[] r = range(values[p]);
      range[0] = Math.min(range[0], r[0]);
      range[1] = Math.max(range[1], r[1]);
    }
    for (int p = 0; p < 3; p++) {
      XYChart chart = Charts.lineChart(panels[p], "value", "density", 560, 420);
      chart.getStyler().setXAxisDecimalPattern("0.#");
      chart.getStyler().setXAxisMin(range[0]);
      chart.getStyler().setXAxisMax(range[1]);
      for (int s = 0; s < snapshotSteps.length; s++) {
        float[] v = values[p][s];
        double mean = 0;
        int positive = 0;
        for (float x : v) {
          mean += x;
          positive += x > 0 ? 1 : 0;
        }
        mean /= v.length;
        double var = 0;
        for (float x : v) {
          var += (x - mean) * (x - mean);
        }
        double std = Math.sqrt(var / v.length);
        Snapshot snap = new Snapshot(panels[p], snapshotSteps[s], mean, std,
            (double) positive / v.length);
        snapshots.add(snap);
        out.printf(Locale.ROOT, "%-34s %5d %9.4f %9.4f %10.1f%%%n", panels[p], snap.step(),
            snap.mean(), snap.std(), 100 * snap.fractionPositive());
        double[][] hist = histogram(v, range[0], range[1], 60);
        XYSeries series = chart.addSeries("step " + snapshotSteps[s], hist[0], hist[1]);
        series.setMarker(SeriesMarkers.NONE);
        series.setLineColor(colors[s % colors.length]);
      }
      charts.add(chart);
    }
    Path chart = Charts.saveGrid(charts, 1, 3, outDir, "distributions");
    out.println("Chart written to " + chart.toAbsolutePath());
    return snapshots;
  }

  private static int[] distinctSorted(int... steps) {
    return Arrays.stream(steps).filter(s -> s >= 0).distinct().sorted().toArray();
  }

  /** The 0.5% and 99.5% quantiles over all snapshots, so that outliers do not squash the plot. */
  private static double[] range(float[][] snapshots) {
    int total = 0;
    for (float[] s : snapshots) {
      total += s.length;
    }
    float[] all = new float[total];
    int k = 0;
    for (float[] s : snapshots) {
      System.arraycopy(s, 0, all, k, s.length);
      k += s.length;
    }
    Arrays.sort(all);
    double lo = all[(int) (0.005 * (total - 1))];
    double hi = all[(int) (0.995 * (total - 1))];
    return new double[] {lo, hi > lo ? hi : lo + 1};
  }

  /** Bin centres and densities (fraction of values per unit of x) of values in [lo, hi). */
  static double[][] histogram(float[] values, double lo, double hi, int bins) {
    double width = (hi - lo) / bins;
    double[] centres = new double[bins];
    double[] density = new double[bins];
    for (int b = 0; b < bins; b++) {
      centres[b] = lo + (b + 0.5) * width;
    }
    for (float v : values) {
      int b = (int) Math.floor((v - lo) / width);
      if (b >= 0 && b < bins) {
        density[b] += 1.0 / (values.length * width);
      }
    }
    return new double[][] {centres, density};
  }
}
