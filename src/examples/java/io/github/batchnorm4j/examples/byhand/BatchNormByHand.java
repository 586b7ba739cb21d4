package io.github.batchnorm4j.examples.byhand;

import io.github.batchnorm4j.BatchNorm2d;
import io.github.batchnorm4j.Shape;
import io.github.batchnorm4j.Tensor;
import io.github.batchnorm4j.examples.common.Charts;
import io.github.batchnorm4j.examples.common.Flags;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * Batch normalization by hand on a tiny (N, C, H, W) = (2, 2, 2, 2) tensor: every intermediate
 * value of the forward and backward pass, computed here with the textbook formulas in double
 * precision, printed beside what the library's {@link BatchNorm2d} returns.
 *
 * <pre>
 * ./mvnw -q test-compile exec:java@by-hand
 * ./mvnw -q test-compile exec:java@by-hand -Dexec.args="--out docs/tutorial/images"
 * </pre>
 */
public final class BatchNormByHand {

  static final int N = 2;
  static final int C = 2;
  static final int H = 2;
  static final int W = 2;
  static final int M = N * H * W; // values per channel

  /** The input, (n, c, h, w) row-major: channel 0 holds 1..8, channel 1 a spread-out mix. */
  static final float[] X = {
      1, 2, 3, 4, /* n=0 c=0 */ -1, 0, 3, 10, /* n=0 c=1 */
      5, 6, 7, 8, /* n=1 c=0 */ 2, 2, 5, -3 /* n=1 c=1 */};

  /** dL/dy for the backward pass, an arbitrary fixed pattern. */
  static final float[] DY = {
      0.1f, -0.2f, 0.3f, 0.0f, 0.5f, 0.5f, -1.0f, 0.2f,
      -0.4f, 0.2f, 0.1f, 0.6f, 0.0f, -0.3f, 0.4f, 0.1f};

  /** gamma and beta as if learned; a new module starts from gamma = 1 and beta = 0. */
  static final float[] GAMMA = {2.0f, 0.5f};
  static final float[] BETA = {1.0f, -1.0f};

  private BatchNormByHand() {}

  public static void main(String[] args) {
    try {
      run(args, System.out);
    } catch (Flags.UsageException e) {
      System.err.println("error: " + e.getMessage() + " (run with --help for the options)");
      System.exit(2);
    }
  }

  static Flags flags() {
    return new Flags("./mvnw -q test-compile exec:java@by-hand -Dexec.args=\"...\"",
        "Computes BatchNorm2d on a (2, 2, 2, 2) tensor step by step and compares with the library.")
        .option("out", "target/examples", "folder for the chart by-hand.png");
  }

  /**
   * Runs the example.
   *
   * @return the largest difference between the hand computation and the library over all outputs
   *     (y, running statistics, dx, dgamma, dbeta), or NaN when only the help was printed
   */
  static double run(String[] args, PrintStream out) {
    Flags flags = flags();
    if (!flags.parse(args, out)) {
      return Double.NaN;
    }
    Path outDir = Path.of(flags.string("out"));

    // ---- The library ---------------------------------------------------------------------
    BatchNorm2d bn = new BatchNorm2d(C);
    out.printf(Locale.ROOT, "A new %s starts with gamma = %s and beta = %s, running mean = %s,"
            + " running var = %s.%n", bn, str(bn.weight()), str(bn.bias()), str(bn.runningMean()),
        str(bn.runningVar()));
    System.arraycopy(GAMMA, 0, bn.weight(), 0, C); // pretend training has moved them
    System.arraycopy(BETA, 0, bn.bias(), 0, C);
    out.printf(Locale.ROOT, "We set gamma = %s and beta = %s, as if training had learned them.%n",
        str(GAMMA), str(BETA));
    Tensor x = Tensor.of(Shape.of(N, C, H, W), X.clone());
    Tensor y = bn.forward(x); // training mode: batch statistics
    Tensor dx = bn.backward(Tensor.of(x.shape(), DY.clone()));

    double eps = bn.eps();
    double worst = 0;
    double[] xhatAll = new double[X.length];
    double[] handDx = new double[X.length];
    for (int c = 0; c < C; c++) {
      int[] idx = indicesOfChannel(c);
      out.printf(Locale.ROOT, "%n===== channel %d: its m = N*H*W = %d values =====%n", c, M);

      // ---- Forward, step by step ----------------------------------------------------------
      double sum = 0;
      for (int i : idx) {
        sum += X[i];
      }
      double mu = sum / M;
      double squares = 0;
      for (int i : idx) {
        squares += (X[i] - mu) * (X[i] - mu);
      }
      double var = squares / M; // biased: divide by m
      double std = Math.sqrt(var + eps);
      out.printf(Locale.ROOT, "1. mean      mu_B      = (1/m) sum x_i          = %s / %d = %.6f%n",
          fmt(sum), M, mu);
      out.printf(Locale.ROOT, "2. variance  sigma^2_B = (1/m) sum (x_i - mu)^2 = %.6f / %d = %.6f%n",
          squares, M, var);
      out.printf(Locale.ROOT, "3. normalize xhat_i    = (x_i - mu) / sqrt(sigma^2_B + eps),"
          + " sqrt(%.6f + %s) = %.6f%n", var, eps, std);
      out.printf(Locale.ROOT, "4. scale and shift y_i = gamma * xhat_i + beta, gamma = %s, beta = %s%n",
          fmt(GAMMA[c]), fmt(BETA[c]));
      out.println("   (n,h,w)      x_i    x_i - mu      xhat_i    y_i by hand  y_i library   difference");
      for (int i : idx) {
        double xhat = (X[i] - mu) / std;
        double yHand = GAMMA[c] * xhat + BETA[c];
        xhatAll[i] = xhat;
        double diff = Math.abs(yHand - y.data()[i]);
        worst = Math.max(worst, diff);
        out.printf(Locale.ROOT, "   %-9s %6s %11.6f %11.6f %12.6f %12.6f %12.1e%n", position(i),
            fmt(X[i]), X[i] - mu, xhat, yHand, y.data()[i], diff);
      }
      double xhatMean = 0;
      double xhatVar = 0;
      for (int i : idx) {
        xhatMean += xhatAll[i] / M;
      }
      for (int i : idx) {
        xhatVar += (xhatAll[i] - xhatMean) * (xhatAll[i] - xhatMean) / M;
      }
      out.printf(Locale.ROOT, "   xhat has mean %.6f and variance %.6f (1 minus eps/(sigma^2+eps));"
          + " y has mean beta and standard deviation about |gamma|.%n", xhatMean + 0.0, xhatVar);

      // ---- Running statistics ---------------------------------------------------------------
      double runningMean = 0.9 * 0 + 0.1 * mu;
      double unbiased = var * M / (M - 1);
      double runningVar = 0.9 * 1 + 0.1 * unbiased;
      out.printf(Locale.ROOT, "5. running statistics (momentum 0.1, starting at mean 0, var 1):%n");
      out.printf(Locale.ROOT, "   running_mean = 0.9 * 0 + 0.1 * mu_B = %.6f   library %.6f%n",
          runningMean, bn.runningMean()[c]);
      out.printf(Locale.ROOT, "   running_var  = 0.9 * 1 + 0.1 * sigma^2_B * m/(m-1)"
          + " = 0.9 + 0.1 * %.6f * %d/%d = %.6f   library %.6f%n", var, M, M - 1, runningVar,
          bn.runningVar()[c]);
      out.printf(Locale.ROOT, "   (the normalization used the biased %.6f; the running estimate"
          + " uses the unbiased %.6f)%n", var, unbiased);
      worst = Math.max(worst, Math.abs(runningMean - bn.runningMean()[c]));
      worst = Math.max(worst, Math.abs(runningVar - bn.runningVar()[c]));

      // ---- Backward, step by step (the chain rule of Ioffe and Szegedy, 2015) -----------------
      out.printf(Locale.ROOT, "%n   Backward pass for channel %d, given dL/dy:%n", c);
      double dbeta = 0;
      double dgamma = 0;
      for (int i : idx) {
        dbeta += DY[i];
        dgamma += DY[i] * xhatAll[i];
      }
      double dvar = 0;
      for (int i : idx) {
        double dxhat = DY[i] * GAMMA[c];
        dvar += dxhat * (X[i] - mu) * -0.5 * Math.pow(var + eps, -1.5);
      }
      double dmu = 0;
      for (int i : idx) {
        dmu += -DY[i] * GAMMA[c] / std;
      }
      // the term dvar * sum(-2 (x - mu)) / m vanishes because sum (x - mu) = 0
      out.printf(Locale.ROOT, "6. dL/dbeta      = sum dy_i              = %.6f   library %.6f%n",
          dbeta, bn.biasGrad()[c]);
      out.printf(Locale.ROOT, "7. dL/dgamma     = sum dy_i * xhat_i     = %.6f   library %.6f%n",
          dgamma, bn.weightGrad()[c]);
      out.printf(Locale.ROOT, "8. dL/dxhat_i    = dy_i * gamma%n");
      out.printf(Locale.ROOT, "9. dL/dsigma^2_B = sum dxhat_i (x_i - mu) (-1/2)(sigma^2_B + eps)^(-3/2)"
          + " = %.6f%n", dvar);
      out.printf(Locale.ROOT, "10. dL/dmu_B     = sum -dxhat_i / sqrt(sigma^2_B + eps)"
          + "                 = %.6f%n", dmu);
      out.printf(Locale.ROOT, "11. dL/dx_i      = dxhat_i / sqrt(sigma^2_B + eps) + dL/dsigma^2_B"
          + " * 2 (x_i - mu) / m + dL/dmu_B / m%n");
      out.printf(Locale.ROOT, "    compact form: dL/dx_i = gamma / sqrt(sigma^2_B + eps) *"
          + " (dy_i - dbeta/m - xhat_i * dgamma/m)%n");
      out.println("   (n,h,w)     dy_i   dx_i (chain)  dx_i (compact)  dx_i library   difference");
      double sumDx = 0;
      double sumDxXhat = 0;
      for (int i : idx) {
        double dxhat = DY[i] * GAMMA[c];
        double chain = dxhat / std + dvar * 2 * (X[i] - mu) / M + dmu / M;
        double compact = GAMMA[c] / std * (DY[i] - dbeta / M - xhatAll[i] * dgamma / M);
        handDx[i] = chain;
        double diff = Math.max(Math.abs(chain - dx.data()[i]), Math.abs(compact - dx.data()[i]));
        worst = Math.max(worst, diff);
        sumDx += dx.data()[i];
        sumDxXhat += dx.data()[i] * xhatAll[i];
        out.printf(Locale.ROOT, "   %-9s %6s %13.6f %15.6f %13.6f %12.1e%n", position(i),
            fmt(DY[i]), chain, compact, dx.data()[i], diff);
      }
      // Shifting a channel's input leaves xhat alone, so the first sum is 0 but for rounding;
      // scaling it changes xhat only through eps, so the second is this eps term, not 0.
      double epsTerm = GAMMA[c] / std * dgamma * eps / (var + eps);
      out.printf(Locale.ROOT, "   Check: sum dx_i = %.1e (0 but for float rounding: shifting a"
          + " channel's input does not change xhat)%n", sumDx);
      out.printf(Locale.ROOT, "          sum dx_i * xhat_i = %.1e; gamma / sqrt(sigma^2_B + eps) *"
          + " dL/dgamma * eps / (sigma^2_B + eps) = %.1e (0 without eps)%n", sumDxXhat, epsTerm);
      worst = Math.max(worst, Math.abs(dbeta - bn.biasGrad()[c]));
      worst = Math.max(worst, Math.abs(dgamma - bn.weightGrad()[c]));
    }
    out.printf(Locale.ROOT, "%nLargest difference between the hand computation and the library: %.1e"
        + " (float rounding).%n", worst);

    Path chart = Charts.saveGrid(List.of(forwardChart(y.data(), xhatAll),
        backwardChart(handDx, dx.data())), 1, 2, outDir, "by-hand");
    out.println("Chart written to " + chart.toAbsolutePath());
    return worst;
  }

  private static XYChart forwardChart(float[] y, double[] xhat) {
    XYChart chart = Charts.lineChart("Forward: each channel is normalized, then scaled and shifted",
        "input x", "value", 640, 480);
    for (int c = 0; c < C; c++) {
      int[] idx = indicesOfChannel(c);
      double[] xs = new double[M];
      double[] hats = new double[M];
      double[] ys = new double[M];
      for (int k = 0; k < M; k++) {
        xs[k] = X[idx[k]];
        hats[k] = xhat[idx[k]];
        ys[k] = y[idx[k]];
      }
      scatter(chart, "channel " + c + ": xhat (mean 0, var 1)", xs, hats,
          c == 0 ? Charts.BLUE : Charts.ORANGE, SeriesMarkers.CIRCLE);
      scatter(chart, "channel " + c + ": y = " + fmt(GAMMA[c]) + " xhat " + (BETA[c] < 0 ? "- " : "+ ")
          + fmt(Math.abs(BETA[c])), xs, ys,
          c == 0 ? Charts.GREEN : Charts.RED, SeriesMarkers.DIAMOND);
    }
    chart.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.InsideNW);
    return chart;
  }

  private static XYChart backwardChart(double[] hand, float[] library) {
    XYChart chart = Charts.lineChart("Backward: dL/dx by hand vs the library", "dL/dx by hand",
        "dL/dx from BatchNorm2d.backward", 640, 480);
    for (int c = 0; c < C; c++) {
      int[] idx = indicesOfChannel(c);
      double[] h = new double[M];
      double[] l = new double[M];
      for (int k = 0; k < M; k++) {
        h[k] = hand[idx[k]];
        l[k] = library[idx[k]];
      }
      scatter(chart, "channel " + c, h, l, c == 0 ? Charts.BLUE : Charts.ORANGE,
          SeriesMarkers.CIRCLE);
    }
    double lo = -1;
    double hi = 1;
    for (double v : hand) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    XYSeries diagonal = chart.addSeries("y = x", new double[] {lo, hi}, new double[] {lo, hi});
    diagonal.setMarker(SeriesMarkers.NONE);
    diagonal.setLineColor(Charts.GREY);
    chart.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.InsideNW);
    return chart;
  }

  private static void scatter(XYChart chart, String name, double[] x, double[] y,
      java.awt.Color color, org.knowm.xchart.style.markers.Marker marker) {
    XYSeries s = chart.addSeries(name, x, y);
    s.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
    s.setMarker(marker);
    s.setMarkerColor(color);
  }

  /** The flat indices of channel c's values, in (n, h, w) order. */
  static int[] indicesOfChannel(int c) {
    int[] idx = new int[M];
    int k = 0;
    for (int n = 0; n < N; n++) {
      for (int s = 0; s < H * W; s++) {
        idx[k++] = (n * C + c) * H * W + s;
      }
    }
    return idx;
  }

  private static String position(int flat) {
    int n = flat / (C * H * W);
    int s = flat % (H * W);
    return "(" + n + "," + s / W + "," + s % W + ")";
  }

  private static String fmt(double v) {
    return v == Math.rint(v) ? String.format(Locale.ROOT, "%.0f", v)
        : String.format(Locale.ROOT, "%.2f", v).replaceAll("0+$", "");
  }

  private static String str(float[] a) {
    StringBuilder sb = new StringBuilder("[");
    for (int i = 0; i < a.length; i++) {
      sb.append(i > 0 ? ", " : "").append(fmt(a[i]));
    }
    return sb.append(']').toString();
  }
}
