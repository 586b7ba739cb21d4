package io.github.batchnorm4j.examples.demo;

import io.github.batchnorm4j.Tensor;
import io.github.batchnorm4j.examples.common.Charts;
import io.github.batchnorm4j.examples.common.Flags;
import io.github.batchnorm4j.examples.common.ProgressBar;
import io.github.batchnorm4j.examples.common.Trainer;
import io.github.batchnorm4j.examples.common.Trainer.Config;
import io.github.batchnorm4j.examples.common.Trainer.EpochResult;
import io.github.batchnorm4j.examples.common.Trainer.History;
import io.github.batchnorm4j.examples.data.Mnist;
import io.github.batchnorm4j.examples.nn.SmallCnn;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.stream.IntStream;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * The demo: trains the same small convolutional network on MNIST twice, from the same initial
 * weights and with the same batches in the same order, once without batch normalization and once
 * with a {@code BatchNorm2d} between each convolution and its ReLU, then compares the two.
 *
 * <pre>
 * ./mvnw -q test-compile exec:java@demo
 * ./mvnw -q test-compile exec:java@demo -Dexec.args="--epochs 3 --lr 0.1"
 * ./mvnw -q test-compile exec:java@demo -Dexec.args="--help"
 * </pre>
 */
public final class Demo {

  private Demo() {}

  /** The flags and their defaults; the defaults are the run the tutorial quotes. */
  static Flags flags() {
    return new Flags("./mvnw -q test-compile exec:java@demo -Dexec.args=\"...\"",
        "Trains a small CNN on 8,000 MNIST digits with and without BatchNorm2d and compares them.")
        .option("epochs", "2", "passes over the training images")
        .option("batch-size", "64", "images per optimizer step (and per batch-norm batch)")
        .option("lr", "0.02", "learning rate of SGD")
        .option("momentum", "0.9", "SGD momentum")
        .option("seed", "1", "seed of the initial weights and of the batch order")
        .option("convolutions", "4", "convolution layers in the network: 4, or 2 for a shallow one")
        .option("train-images", "8000", "how many of the 8,000 training images to use")
        .option("test-images", "2000", "how many of the 2,000 test images to evaluate on")
        .option("out", "target/demo", "folder for the PNG charts");
  }

  public static void main(String[] args) {
    try {
      run(args, System.out, true);
    } catch (Flags.UsageException e) {
      System.err.println("error: " + e.getMessage() + " (run with --help for the options)");
      System.exit(2);
    }
  }

  /** The two runs' histories, for the smoke test. */
  record Result(History plain, History batchNorm, List<Path> charts) {}

  /**
   * Runs the demo.
   *
   * @param console true to draw the progress bars in place when stdout is a terminal
   * @return the histories, or null when only the help was printed
   */
  static Result run(String[] args, PrintStream out, boolean console) {
    Flags flags = flags();
    if (!flags.parse(args, out)) {
      return null;
    }
    int convolutions = flags.integer("convolutions");
    if (convolutions != 2 && convolutions != 4) {
      throw new Flags.UsageException("--convolutions must be 2 or 4 but is " + convolutions);
    }
    Config config = new Config(flags.integer("epochs", 1), flags.integer("batch-size", 2),
        flags.number("lr"), flags.number("momentum"), flags.longValue("seed"));
    if (!(config.learningRate() > 0) || !(config.momentum() >= 0 && config.momentum() < 1)) {
      throw new Flags.UsageException("need --lr > 0 and --momentum in [0, 1)");
    }
    Mnist mnist = Mnist.load();
    Mnist.Split train = mnist.train().first(
        Math.min(flags.integer("train-images", 2), Mnist.TRAIN_COUNT));
    Mnist.Split test = mnist.test().first(
        Math.min(flags.integer("test-images", 1), Mnist.TEST_COUNT));
    Path outDir = Path.of(flags.string("out"));

    int steps = config.stepsPerEpoch(train.count()) * config.epochs();
    out.printf(Locale.ROOT, "MNIST: %d training and %d test images. %d epochs x %d steps of %d "
            + "images, SGD lr %s momentum %s, seed %d.%n", train.count(), test.count(),
        config.epochs(), config.stepsPerEpoch(train.count()), config.batchSize(),
        fmt(config.learningRate()), fmt(config.momentum()), config.seed());

    SmallCnn plainNet = SmallCnn.create(false, config.seed(), convolutions);
    SmallCnn bnNet = SmallCnn.create(true, config.seed(), convolutions);
    out.println("without BN: " + plainNet.summary());
    out.println("with BN:    " + bnNet.summary());
    out.println("Both start from the same weights and see the same batches in the same order.");
    // The one layer batch norm does not normalize is the final linear classifier. Its input is
    // larger with BN, which makes the same learning rate a bigger step for it (see the tutorial).
    Tensor firstBatch = SmallCnn.imagesTensor(java.util.Arrays.copyOf(train.images(),
        Math.min(train.count(), config.batchSize()) * Mnist.IMAGE_SIZE),
        Math.min(train.count(), config.batchSize()));
    out.printf(Locale.ROOT, "Root mean square of the classifier's input at the start: no BN %.3f,"
            + " BN %.3f.%n", rms(SmallCnn.create(false, config.seed(), convolutions), firstBatch),
        rms(SmallCnn.create(true, config.seed(), convolutions), firstBatch));
    out.println();

    // The JVM compiles the hot loops while the first run is going; warm both networks up on a
    // few throwaway steps first so that the wall times compare the networks, not the JIT.
    warmUp(train, test, config, convolutions);

    History plain = Trainer.train("no BN", plainNet, train, test, config,
        bar("no BN", steps, out, console), null);
    History bn = Trainer.train("BN", bnNet, train, test, config,
        bar("BN", steps, out, console), null);

    out.println();
    printTable(plain, bn, config, train.count(), out);

    String suffix = "lr" + fmt(config.learningRate())
        + (config.seed() == 1 ? "" : "-seed" + config.seed())
        + (convolutions == 4 ? "" : "-conv" + convolutions);
    Path lossChart = Charts.save(lossChart(plain, bn, config, convolutions), outDir,
        "demo-loss-" + suffix);
    Path accuracyChart = Charts.save(
        accuracyChart(plain, bn, config, train.count(), convolutions), outDir,
        "demo-accuracy-" + suffix);
    out.println();
    out.println("Charts written to " + outDir.toAbsolutePath() + ":");
    out.println("  " + lossChart.getFileName() + "  training loss per step, both runs");
    out.println("  " + accuracyChart.getFileName()
        + "  training-batch accuracy per step and test accuracy per epoch");
    return new Result(plain, bn, List.of(lossChart, accuracyChart));
  }

  private static void warmUp(Mnist.Split train, Mnist.Split test, Config config,
      int convolutions) {
    Mnist.Split few = train.first(Math.min(train.count(), 10 * config.batchSize()));
    Config one = new Config(1, config.batchSize(), config.learningRate(), config.momentum(),
        config.seed());
    for (boolean withBn : new boolean[] {false, true}) {
      Trainer.train("warm-up", SmallCnn.create(withBn, config.seed() + 1, convolutions), few,
          test.first(Math.min(test.count(), 100)), one, null, null);
    }
  }

  private static ProgressBar bar(String label, int steps, PrintStream out, boolean console) {
    return console && out == System.out ? ProgressBar.onConsole(label, steps)
        : new ProgressBar(label, steps, out, false);
  }

  private static void printTable(History plain, History bn, Config config, int trainCount,
      PrintStream out) {
    out.println("                 mean training loss      test loss (eval mode)   test accuracy");
    out.println("epoch            no BN        BN         no BN        BN         no BN     BN");
    for (int e = 0; e < config.epochs(); e++) {
      EpochResult p = plain.epochs().get(e);
      EpochResult b = bn.epochs().get(e);
      out.printf(Locale.ROOT, "%-12d %9s %9s    %9s %9s    %8s %8s%n", p.epoch(),
          num(p.trainLoss()), num(b.trainLoss()), num(p.testLoss()), num(b.testLoss()),
          pct(p.testAccuracy()), pct(b.testAccuracy()));
    }
    int stepsPerEpoch = config.stepsPerEpoch(trainCount);
    int last = plain.stepLoss().length;
    int window = Math.min(stepsPerEpoch, 50);
    out.printf(Locale.ROOT, "training loss, mean of steps 1-%d:   %9s %9s%n", window,
        num(plain.meanLoss(0, window)), num(bn.meanLoss(0, window)));
    out.printf(Locale.ROOT, "training loss, mean of last %d steps: %8s %9s%n", window,
        num(plain.meanLoss(last - window, last)), num(bn.meanLoss(last - window, last)));
    out.printf(Locale.ROOT, "wall time                            %7.1fs %8.1fs%n", plain.seconds(),
        bn.seconds());
    for (History h : List.of(plain, bn)) {
      if (h.diverged()) {
        out.printf(Locale.ROOT, "The %s run diverged at step %d (the loss became NaN or infinite)"
            + " and stopped learning.%n", h.name(), h.divergedAtStep() + 1);
      }
    }
  }

  static XYChart lossChart(History plain, History bn, Config config, int convolutions) {
    XYChart chart = Charts.lineChart("Training loss, " + convolutions + " conv layers, lr "
            + fmt(config.learningRate()) + ", batch " + config.batchSize(), "step (updates so far)",
        "cross-entropy loss", 900, 500);
    addStepSeries(chart, plain, plain.stepLoss(), 1, Charts.ORANGE);
    addStepSeries(chart, bn, bn.stepLoss(), 1, Charts.BLUE);
    chart.getStyler().setYAxisMin(0.0);
    chart.getStyler().setYAxisMax(2.5);
    chart.getStyler().setXAxisDecimalPattern("#");
    // Below the plot: inside, it hid the no-BN curve (near 2.3 all along at lr 0.1).
    chart.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.OutsideS);
    return chart;
  }

  static XYChart accuracyChart(History plain, History bn, Config config, int trainCount,
      int convolutions) {
    XYChart chart = Charts.lineChart("Accuracy, " + convolutions + " conv layers, lr "
        + fmt(config.learningRate()) + ", batch " + config.batchSize(), "step (updates so far)",
        "accuracy (%)", 900, 500);
    addStepSeries(chart, plain, plain.stepAccuracy(), 100, Charts.ORANGE);
    addStepSeries(chart, bn, bn.stepAccuracy(), 100, Charts.BLUE);
    int stepsPerEpoch = config.stepsPerEpoch(trainCount);
    for (History h : List.of(plain, bn)) {
      // One measurement per epoch: markers only, since nothing was measured between them.
      double[] x = h.epochs().stream().mapToDouble(e -> e.epoch() * stepsPerEpoch).toArray();
      double[] y = h.epochs().stream().mapToDouble(e -> 100 * e.testAccuracy()).toArray();
      XYSeries s = chart.addSeries(h.name() + ", test set after each epoch", x, y);
      s.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
      s.setMarker(h == plain ? SeriesMarkers.DIAMOND : SeriesMarkers.CIRCLE);
      s.setMarkerColor(h == plain ? Charts.RED : Charts.GREEN);
    }
    chart.getStyler().setMarkerSize(10);
    chart.getStyler().setYAxisMin(0.0);
    chart.getStyler().setYAxisMax(100.0);
    chart.getStyler().setXAxisDecimalPattern("#");
    // Below the plot: inside, it hid the last test marker of the no-BN run at lr 0.1.
    chart.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.OutsideS);
    return chart;
  }

  /** The per-step curves are smoothed over this many steps; the legend says so. */
  static final int SMOOTHING_STEPS = 10;

  /** Adds a per-step curve times {@code scale}, smoothed, and only up to the last finite value. */
  private static void addStepSeries(XYChart chart, History h, double[] values, double scale,
      java.awt.Color color) {
    int finite = 0;
    while (finite < values.length && Double.isFinite(values[finite])) {
      finite++;
    }
    String label = h.name() + ", training batches, moving average of " + SMOOTHING_STEPS
        + " steps" + (h.diverged() ? " (diverged)" : "");
    if (finite == 0) {
      // Nothing to draw, but keep the legend entry so the reader sees the run existed.
      chart.addSeries(label, new double[] {0}, new double[] {Double.NaN}).setLineColor(color);
      return;
    }
    double[] smooth = Charts.movingAverage(java.util.Arrays.copyOf(values, finite), SMOOTHING_STEPS);
    for (int i = 0; i < smooth.length; i++) {
      smooth[i] *= scale;
    }
    // x = the number of updates made before the step's loss was measured: 0, 1, 2, ...
    double[] x = IntStream.range(0, finite).asDoubleStream().toArray();
    XYSeries s = chart.addSeries(label, x, smooth);
    s.setMarker(SeriesMarkers.NONE);
    s.setLineColor(color);
  }

  /** The root mean square of the classifier's input for one forward of a fresh copy of a net. */
  private static double rms(SmallCnn net, Tensor images) {
    net.forward(images);
    double sum = 0;
    float[] v = net.classifierInput().data();
    for (float x : v) {
      sum += (double) x * x;
    }
    return Math.sqrt(sum / v.length);
  }

  static String fmt(double v) {
    return v == Math.rint(v) && Math.abs(v) < 1e6 ? Long.toString((long) v)
        : new java.math.BigDecimal(Double.toString(v)).stripTrailingZeros().toPlainString();
  }

  private static String num(double v) {
    return Double.isFinite(v) ? String.format(Locale.ROOT, "%.4f", v) : "NaN";
  }

  private static String pct(double v) {
    return String.format(Locale.ROOT, "%.2f%%", 100 * v);
  }
}
