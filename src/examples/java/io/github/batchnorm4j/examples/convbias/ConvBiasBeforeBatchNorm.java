package io.github.batchnorm4j.examples.convbias;

import io.github.batchnorm4j.BatchNorm2d;
import io.github.batchnorm4j.Tensor;
import io.github.batchnorm4j.examples.common.Charts;
import io.github.batchnorm4j.examples.common.Flags;
import io.github.batchnorm4j.examples.common.Trainer;
import io.github.batchnorm4j.examples.data.Mnist;
import io.github.batchnorm4j.examples.nn.Conv2d;
import io.github.batchnorm4j.examples.nn.SmallCnn;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Random;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.lines.SeriesLines;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * Shows numerically that a convolution's bias is redundant when batch norm (in training mode)
 * follows it: changing the bias does not change the output, its gradient is zero, and training
 * never moves it. Without batch norm the same bias matters.
 *
 * <pre>
 * ./mvnw -q test-compile exec:java@conv-bias
 * ./mvnw -q test-compile exec:java@conv-bias -Dexec.args="--out docs/tutorial/images"
 * </pre>
 */
public final class ConvBiasBeforeBatchNorm {

  private ConvBiasBeforeBatchNorm() {}

  public static void main(String[] args) {
    try {
      run(args, System.out);
    } catch (Flags.UsageException e) {
      System.err.println("error: " + e.getMessage() + " (run with --help for the options)");
      System.exit(2);
    }
  }

  static Flags flags() {
    return new Flags("./mvnw -q test-compile exec:java@conv-bias -Dexec.args=\"...\"",
        "Shows that a convolution's bias has no effect and zero gradient when BatchNorm2d follows.")
        .option("steps", "100", "training steps for the part that trains both networks")
        .option("lr", "0.02", "learning rate of that training (SGD, momentum 0.9)")
        .option("seed", "1", "seed of the weights and of the batches")
        .option("out", "target/examples", "folder for the chart conv-bias.png");
  }

  /** What the example measured, for the test. */
  record Result(double outputChangeWithBn, double outputChangeWithoutBn, double biasGradWithBn,
      double biasGradWithoutBn, double biasDriftWithBn, double biasDriftWithoutBn) {}

  static Result run(String[] args, PrintStream out) {
    Flags flags = flags();
    if (!flags.parse(args, out)) {
      return null;
    }
    int steps = flags.integer("steps", 1);
    double lr = flags.number("lr");
    long seed = flags.longValue("seed");
    Path outDir = Path.of(flags.string("out"));

    Mnist mnist = Mnist.load();
    Mnist.Split batch = mnist.train().first(64);
    Tensor images = SmallCnn.imagesTensor(batch.images(), 64);

    // ---- 1. The output does not depend on the bias -----------------------------------------
    Conv2d conv = new Conv2d(1, 8, 3, 1, true, new Random(seed));
    Tensor before = new BatchNorm2d(8).forward(conv.forward(images));
    Tensor convBefore = conv.forward(images);
    float[] savedBias = conv.bias().value().clone();
    Random random = new Random(seed + 1);
    for (int c = 0; c < 8; c++) {
      conv.bias().value()[c] += (float) (5 * random.nextGaussian()); // a large change
    }
    Tensor after = new BatchNorm2d(8).forward(conv.forward(images));
    Tensor convAfter = conv.forward(images);
    System.arraycopy(savedBias, 0, conv.bias().value(), 0, 8);
    double changeWithBn = maxAbsDifference(before.data(), after.data());
    double changeWithoutBn = maxAbsDifference(convBefore.data(), convAfter.data());
    out.println("1. Add a random shift of about +-5 to each of the 8 conv biases (64 MNIST images):");
    out.printf(Locale.ROOT, "   largest change of the conv output:                 %.4f%n",
        changeWithoutBn);
    out.printf(Locale.ROOT, "   largest change of BatchNorm2d(conv output), train: %.1e"
        + "  (float rounding: the batch mean absorbs the shift)%n", changeWithBn);

    // ---- 2. The gradient of the bias is zero ---------------------------------------------------
    // Any loss will do; take L = sum r * ReLU(layer output) with fixed random r.
    float[] r = new float[64 * 8 * 28 * 28];
    for (int i = 0; i < r.length; i++) {
      r[i] = (float) random.nextGaussian();
    }
    double[] gradWithBn = biasGradient(conv, images, r, true);
    double[] gradWithoutBn = biasGradient(conv, images, r, false);
    double[] weightGradWithBn = lastWeightGradNorm;
    out.println();
    out.println("2. dL/d(conv bias) per channel for L = sum r * ReLU(...), r random:");
    out.println("   channel   conv -> ReLU    conv -> BN -> ReLU   (|dL/dweight| of that filter,"
        + " with BN)");
    double maxGradWithBn = 0;
    double maxGradWithoutBn = 0;
    for (int c = 0; c < 8; c++) {
      out.printf(Locale.ROOT, "   %7d   %12.4f   %18.1e   %.4f%n", c, gradWithoutBn[c],
          gradWithBn[c], weightGradWithBn[c]);
      maxGradWithBn = Math.max(maxGradWithBn, Math.abs(gradWithBn[c]));
      maxGradWithoutBn = Math.max(maxGradWithoutBn, Math.abs(gradWithoutBn[c]));
    }
    out.printf(Locale.ROOT, "   Largest |gradient| with BN / without BN: %.1e. With BN the bias gradient is"
        + " sum_i dL/dx_i%n   of the BN layer, and that sum is exactly 0; what is left is float"
        + " rounding.%n", maxGradWithBn / maxGradWithoutBn);

    // ---- 3. Training never moves the bias --------------------------------------------------------
    out.println();
    out.printf(Locale.ROOT, "3. Train the demo network (with and without BN) for %d steps,"
        + " lr %s, and follow conv2's bias:%n", steps, lr);
    Trainer.Config config = new Trainer.Config(1, 64, lr, 0.9, seed);
    Mnist.Split train = mnist.train().first(Math.min(Mnist.TRAIN_COUNT, steps * 64));
    Mnist.Split test = mnist.test().first(200);
    double[][] drift = new double[2][];
    double[][] weightDrift = new double[2][];
    for (int k = 0; k < 2; k++) {
      boolean withBn = k == 1;
      SmallCnn net = SmallCnn.create(withBn, seed);
      float[] bias0 = net.convs().get(1).bias().value().clone();
      float[] weight0 = net.convs().get(1).weight().value().clone();
      int total = config.stepsPerEpoch(train.count());
      double[] biasDistance = new double[total];
      double[] weightDistance = new double[total];
      Trainer.train(withBn ? "BN" : "no BN", net, train, test, config, null, (step, model) -> {
        // measured after `step` updates: the forward of step `step` uses those weights
        biasDistance[step] = relativeDistance(model.convs().get(1).bias().value(), bias0);
        weightDistance[step] = relativeDistance(model.convs().get(1).weight().value(), weight0);
      });
      drift[k] = biasDistance;
      weightDrift[k] = weightDistance;
      out.printf(Locale.ROOT, "   %-6s after %d updates: conv2 bias moved by %.2e, conv2 weights by"
              + " %.2e (|change| / |initial|)%n", withBn ? "BN" : "no BN", total - 1,
          biasDistance[total - 1], weightDistance[total - 1]);
    }
    out.println("   So with BN, build the convolution without a bias (PyTorch: bias=False):"
        + " it saves a parameter that can never learn.");

    Path chart = Charts.save(chart(drift, weightDrift), outDir, "conv-bias");
    out.println("Chart written to " + chart.toAbsolutePath());
    int last = drift[0].length - 1;
    return new Result(changeWithBn, changeWithoutBn, maxGradWithBn, maxGradWithoutBn,
        drift[1][last], drift[0][last]);
  }

  private static double[] lastWeightGradNorm;

  /** dL/d(bias) of {@code conv} for L = sum r * ReLU(BN(conv(x))) or sum r * ReLU(conv(x)). */
  private static double[] biasGradient(Conv2d conv, Tensor images, float[] r, boolean withBn) {
    conv.bias().zeroGrad();
    conv.weight().zeroGrad();
    Tensor z = conv.forward(images);
    BatchNorm2d bn = new BatchNorm2d(8);
    Tensor pre = withBn ? bn.forward(z) : z;
    // dL/d(pre) = r where pre > 0 (the ReLU), else 0
    Tensor grad = Tensor.zeros(pre.shape());
    for (int i = 0; i < r.length; i++) {
      grad.data()[i] = pre.data()[i] > 0 ? r[i] : 0f;
    }
    Tensor gradZ = withBn ? bn.backward(grad) : grad;
    conv.backward(gradZ);
    double[] result = new double[8];
    double[] weightNorm = new double[8];
    int k = conv.weight().value().length / 8;
    for (int c = 0; c < 8; c++) {
      result[c] = conv.bias().grad()[c];
      double s = 0;
      for (int j = 0; j < k; j++) {
        s += Math.pow(conv.weight().grad()[c * k + j], 2);
      }
      weightNorm[c] = Math.sqrt(s);
    }
    lastWeightGradNorm = weightNorm;
    return result;
  }

  private static double relativeDistance(float[] now, float[] start) {
    double d = 0;
    double n = 0;
    for (int i = 0; i < now.length; i++) {
      d += Math.pow(now[i] - start[i], 2);
      n += Math.pow(start[i], 2);
    }
    return Math.sqrt(d / n);
  }

  private static double maxAbsDifference(float[] a, float[] b) {
    double m = 0;
    for (int i = 0; i < a.length; i++) {
      m = Math.max(m, Math.abs(a[i] - b[i]));
    }
    return m;
  }

  private static XYChart chart(double[][] biasDrift, double[][] weightDrift) {
    XYChart chart = Charts.lineChart("How far conv2's parameters move during training",
        "step", "|change| / |initial value|", 900, 500);
    String[] names = {"no BN", "BN"};
    java.awt.Color[] colors = {Charts.ORANGE, Charts.BLUE};
    for (int k = 0; k < 2; k++) {
      double[] x = new double[biasDrift[k].length];
      for (int i = 0; i < x.length; i++) {
        x[i] = i;
      }
      XYSeries bias = chart.addSeries(names[k] + ": conv2 bias", x, biasDrift[k]);
      bias.setMarker(SeriesMarkers.NONE);
      bias.setLineColor(colors[k]);
      XYSeries weight = chart.addSeries(names[k] + ": conv2 weights", x, weightDrift[k]);
      weight.setMarker(SeriesMarkers.NONE);
      weight.setLineColor(colors[k]);
      weight.setLineStyle(SeriesLines.DASH_DASH);
    }
    chart.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.InsideNW);
    chart.getStyler().setXAxisDecimalPattern("#");
    return chart;
  }
}
