package io.github.batchnorm4j.examples.traineval;

import io.github.batchnorm4j.BatchNorm1d;
import io.github.batchnorm4j.BatchNorm2d;
import io.github.batchnorm4j.Shape;
import io.github.batchnorm4j.Tensor;
import io.github.batchnorm4j.examples.common.Charts;
import io.github.batchnorm4j.examples.common.Flags;
import io.github.batchnorm4j.examples.common.ProgressBar;
import io.github.batchnorm4j.examples.common.Trainer;
import io.github.batchnorm4j.examples.data.Mnist;
import io.github.batchnorm4j.examples.nn.SmallCnn;
import io.github.batchnorm4j.examples.nn.SoftmaxCrossEntropy;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.CategorySeries;

/**
 * Train mode versus eval mode at prediction time. Trains the demo network with batch norm, then
 * measures its test accuracy when it predicts
 * <ul>
 *   <li>in eval mode (running statistics), whatever the batch size, even one image at a time;
 *   <li>in training mode (batch statistics) with batches of 1 to 500 images;
 *   <li>in eval mode with the running statistics still at their initial values (mean 0, var 1),
 *       as if they had never been trained.
 * </ul>
 *
 * <pre>
 * ./mvnw -q test-compile exec:java@train-eval
 * ./mvnw -q test-compile exec:java@train-eval -Dexec.args="--out docs/tutorial/images"
 * </pre>
 */
public final class TrainVersusEval {

  static final int[] TRAIN_MODE_BATCHES = {1, 2, 4, 16, 64, 500};

  private TrainVersusEval() {}

  public static void main(String[] args) {
    try {
      run(args, System.out, true);
    } catch (Flags.UsageException e) {
      System.err.println("error: " + e.getMessage() + " (run with --help for the options)");
      System.exit(2);
    }
  }

  static Flags flags() {
    return new Flags("./mvnw -q test-compile exec:java@train-eval -Dexec.args=\"...\"",
        "Compares predicting in train mode and eval mode, with small batches and initial running"
            + " statistics.")
        .option("epochs", "1", "epochs of training before the comparison")
        .option("lr", "0.02", "learning rate (SGD, momentum 0.9)")
        .option("train-images", "8000", "training images")
        .option("test-images", "2000", "test images to predict")
        .option("seed", "1", "seed of the weights and of the batches")
        .option("out", "target/examples", "folder for the chart train-eval.png");
  }

  /** Test accuracy per scenario, in the order of the chart. */
  static Map<String, Double> run(String[] args, PrintStream out, boolean console) {
    Flags flags = flags();
    if (!flags.parse(args, out)) {
      return null;
    }
    Trainer.Config config = new Trainer.Config(flags.integer("epochs", 1), 64,
        flags.number("lr"), 0.9, flags.longValue("seed"));
    Mnist mnist = Mnist.load();
    Mnist.Split train = mnist.train().first(
        Math.min(Mnist.TRAIN_COUNT, flags.integer("train-images", 64)));
    Mnist.Split test = mnist.test().first(
        Math.min(Mnist.TEST_COUNT, flags.integer("test-images", 1)));
    Path outDir = Path.of(flags.string("out"));

    SmallCnn net = SmallCnn.create(true, config.seed());
    int steps = config.stepsPerEpoch(train.count()) * config.epochs();
    out.printf(Locale.ROOT, "Training the demo network with BatchNorm2d: %d steps of 64 images,"
        + " lr %s.%n", steps, config.learningRate());
    ProgressBar bar = console ? ProgressBar.onConsole("train", steps)
        : new ProgressBar("train", steps, out, false);
    Trainer.train("BN", net, train, test, config, bar, null);
    List<BatchNorm2d> bns = net.batchNorms();
    float[][] trainedStats = saveRunningStats(bns);

    Map<String, Double> accuracy = new LinkedHashMap<>();
    out.println();
    out.printf(Locale.ROOT, "Test accuracy on %d images:%n", test.count());

    // Eval mode: each image is normalized with the running statistics, so the batch size is
    // irrelevant; one image at a time gives the same predictions as 500.
    double evalBig = accuracy(net, test, 500, false);
    double evalOne = accuracy(net, test, 1, false);
    report(out, accuracy, "eval, batch 500", evalBig,
        "net.eval(): normalized with running_mean and running_var");
    report(out, accuracy, "eval, batch 1", evalOne, "same predictions, one image at a time");

    // Train mode: each batch is normalized with its own statistics, and every forward also
    // updates the running statistics, which we restore after each measurement.
    for (int batch : TRAIN_MODE_BATCHES) {
      restoreRunningStats(bns, trainedStats);
      double acc = accuracy(net, test, batch, true);
      report(out, accuracy, "train, batch " + batch, acc,
          "forgot net.eval(): normalized with the statistics of " + batch
              + (batch == 1 ? " image" : " images"));
    }
    // How far the last pass (batch 500) moved the last module's running mean; saved stats are
    // [mean, var, count] per module.
    int last = bns.size() - 1;
    double drift = relativeChange(bns.get(last).runningMean(), trainedStats[3 * last]);
    restoreRunningStats(bns, trainedStats);

    // Eval mode with untrained running statistics: mean 0 and variance 1 mean "no normalization".
    for (BatchNorm2d bn : bns) {
      bn.resetRunningStats();
    }
    double untrained = accuracy(net, test, 500, false);
    report(out, accuracy, "eval, initial running stats", untrained,
        "running_mean = 0, running_var = 1, as if never updated");
    restoreRunningStats(bns, trainedStats);

    out.printf(Locale.ROOT, "Predicting the test set in train mode also moved the last BN's running mean"
        + " by %.1f%% (|change| / |value|): a model that predicts in train mode changes itself.%n",
        100 * drift);

    // One image, three answers.
    out.println();
    out.println("One test image, three predictions (probability of its true label):");
    int label = test.labels()[0];
    out.printf(Locale.ROOT, "  eval mode, alone:                         %.4f%n",
        probabilityOfLabel(net, test, 0, 1, false, label));
    out.printf(Locale.ROOT, "  train mode, alone:                        %.4f%n",
        probabilityOfLabel(net, test, 0, 1, true, label));
    restoreRunningStats(bns, trainedStats);
    out.printf(Locale.ROOT, "  train mode, in a batch with images 1-63:  %.4f%n",
        probabilityOfLabel(net, test, 0, 64, true, label));
    restoreRunningStats(bns, trainedStats);
    out.println("  In train mode the answer for one image depends on which other images share its"
        + " batch.");

    // A BatchNorm1d in train mode cannot normalize a single sample at all.
    out.println();
    out.println("BatchNorm1d in train mode, one sample of 4 features:");
    try {
      new BatchNorm1d(4).forward(Tensor.zeros(Shape.of(1, 4)));
      out.println("  (no error)");
    } catch (IllegalArgumentException e) {
      out.println("  IllegalArgumentException: " + e.getMessage());
    }

    Path chart = Charts.save(chart(accuracy), outDir, "train-eval");
    out.println("Chart written to " + chart.toAbsolutePath());
    return accuracy;
  }

  private static void report(PrintStream out, Map<String, Double> accuracy, String name,
      double value, String note) {
    accuracy.put(name, value);
    out.printf(Locale.ROOT, "  %-30s %7.2f%%   %s%n", name, 100 * value, note);
  }

  /** Accuracy on {@code data} in batches of {@code batchSize}, in train or eval mode. */
  static double accuracy(SmallCnn net, Mnist.Split data, int batchSize, boolean trainMode) {
    if (trainMode) {
      net.train();
    } else {
      net.eval();
    }
    int correct = 0;
    for (int from = 0; from < data.count(); from += batchSize) {
      int to = Math.min(data.count(), from + batchSize);
      float[] images = java.util.Arrays.copyOfRange(data.images(), from * Mnist.IMAGE_SIZE,
          to * Mnist.IMAGE_SIZE);
      int[] predicted = SoftmaxCrossEntropy.argmax(net.forward(SmallCnn.imagesTensor(images,
          to - from)));
      for (int i = 0; i < predicted.length; i++) {
        correct += predicted[i] == data.labels()[from + i] ? 1 : 0;
      }
    }
    net.train();
    return (double) correct / data.count();
  }

  /** The softmax probability of {@code label} for image {@code from}, predicted with its batch. */
  private static double probabilityOfLabel(SmallCnn net, Mnist.Split data, int from, int count,
      boolean trainMode, int label) {
    if (trainMode) {
      net.train();
    } else {
      net.eval();
    }
    float[] images = java.util.Arrays.copyOfRange(data.images(), from * Mnist.IMAGE_SIZE,
        (from + count) * Mnist.IMAGE_SIZE);
    Tensor logits = net.forward(SmallCnn.imagesTensor(images, count));
    net.train();
    double max = Double.NEGATIVE_INFINITY;
    for (int k = 0; k < SmallCnn.CLASSES; k++) {
      max = Math.max(max, logits.data()[k]);
    }
    double sum = 0;
    for (int k = 0; k < SmallCnn.CLASSES; k++) {
      sum += Math.exp(logits.data()[k] - max);
    }
    return Math.exp(logits.data()[label] - max) / sum;
  }

  /** Copies [mean1, var1, mean2, var2, ...] and the batch counters. */
  private static float[][] saveRunningStats(List<BatchNorm2d> bns) {
    List<float[]> stats = new ArrayList<>();
    for (BatchNorm2d bn : bns) {
      stats.add(bn.runningMean().clone());
      stats.add(bn.runningVar().clone());
      stats.add(new float[] {bn.numBatchesTracked()});
    }
    return stats.toArray(new float[0][]);
  }

  private static void restoreRunningStats(List<BatchNorm2d> bns, float[][] saved) {
    for (int i = 0; i < bns.size(); i++) {
      BatchNorm2d bn = bns.get(i);
      System.arraycopy(saved[3 * i], 0, bn.runningMean(), 0, bn.numFeatures());
      System.arraycopy(saved[3 * i + 1], 0, bn.runningVar(), 0, bn.numFeatures());
      bn.setNumBatchesTracked((long) saved[3 * i + 2][0]);
    }
  }

  private static double relativeChange(float[] now, float[] before) {
    double d = 0;
    double n = 0;
    for (int i = 0; i < now.length; i++) {
      d += Math.pow(now[i] - before[i], 2);
      n += Math.pow(before[i], 2);
    }
    return Math.sqrt(d / n);
  }

  private static CategoryChart chart(Map<String, Double> accuracy) {
    CategoryChart chart = new CategoryChartBuilder().width(900).height(520)
        .title("Test accuracy of one trained network, predicting in eval or train mode")
        .xAxisTitle("mode and prediction batch size").yAxisTitle("test accuracy (%)").build();
    chart.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
    chart.getStyler().setXAxisLabelRotation(30);
    chart.getStyler().setOverlapped(true);
    chart.getStyler().setYAxisMin(0.0);
    chart.getStyler().setYAxisMax(100.0);
    chart.getStyler().setLabelsVisible(true);
    chart.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.InsideNE);
    List<String> names = new ArrayList<>(accuracy.keySet());
    List<Double> evalValues = new ArrayList<>();
    List<Double> trainValues = new ArrayList<>();
    for (String name : names) {
      // Rounded to the printed 2 decimals, so that a bar is labelled 95.85, not 95.85000000000001.
      double pct = Math.round(10_000 * accuracy.get(name)) / 100.0;
      boolean eval = name.startsWith("eval");
      // null: no bar for this series in this category (the chart overlays the two series)
      evalValues.add(eval ? pct : null);
      trainValues.add(eval ? null : pct);
    }
    CategorySeries e = chart.addSeries("eval mode", names, evalValues);
    e.setFillColor(Charts.BLUE);
    CategorySeries t = chart.addSeries("train mode", names, trainValues);
    t.setFillColor(Charts.ORANGE);
    return chart;
  }
}
