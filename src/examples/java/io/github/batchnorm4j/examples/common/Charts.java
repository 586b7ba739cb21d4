package io.github.batchnorm4j.examples.common;

import java.awt.Color;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.Styler;

/**
 * Draws the examples' charts with XChart and saves them as PNG files.
 *
 * <p>Everything goes through this class so that {@code java.awt.headless=true} is set before any
 * AWT class is loaded: the charts are drawn off screen, which works on a server, in CI and in a
 * terminal without a display.
 */
public final class Charts {

  static {
    System.setProperty("java.awt.headless", "true");
  }

  /** Colours that stay distinct for colour-blind readers (Okabe and Ito). */
  public static final Color BLUE = new Color(0, 114, 178);
  public static final Color ORANGE = new Color(230, 159, 0);
  public static final Color GREEN = new Color(0, 158, 115);
  public static final Color RED = new Color(213, 94, 0);
  public static final Color PURPLE = new Color(204, 121, 167);
  public static final Color GREY = new Color(120, 120, 120);

  private Charts() {}

  /** A line chart with the examples' common style. */
  public static XYChart lineChart(String title, String xTitle, String yTitle, int width,
      int height) {
    XYChart chart = new XYChartBuilder().width(width).height(height).title(title)
        .xAxisTitle(xTitle).yAxisTitle(yTitle).build();
    chart.getStyler().setChartBackgroundColor(Color.WHITE);
    chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
    chart.getStyler().setMarkerSize(5);
    chart.getStyler().setPlotGridLinesColor(new Color(225, 225, 225));
    return chart;
  }

  /**
   * Saves one chart as {@code dir/name.png}, creating the folder.
   *
   * @return the file written
   */
  public static Path save(Chart<?, ?> chart, Path dir, String name) {
    Path file = prepare(dir, name);
    try {
      BitmapEncoder.saveBitmap(chart, file.toString(), BitmapEncoder.BitmapFormat.PNG);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
    return file;
  }

  /** Saves several charts side by side in a grid of {@code rows} x {@code columns}. */
  public static <T extends Chart<?, ?>> Path saveGrid(List<T> charts, int rows, int columns,
      Path dir, String name) {
    Path file = prepare(dir, name);
    try {
      BitmapEncoder.saveBitmap(charts, rows, columns, file.toString(),
          BitmapEncoder.BitmapFormat.PNG);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
    return file;
  }

  private static Path prepare(Path dir, String name) {
    try {
      Files.createDirectories(dir);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create " + dir, e);
    }
    return dir.resolve(name.endsWith(".png") ? name : name + ".png");
  }

  /** A moving average over {@code window} points, to show a noisy per-step curve's trend. */
  public static double[] movingAverage(double[] values, int window) {
    double[] out = new double[values.length];
    double sum = 0;
    for (int i = 0; i < values.length; i++) {
      sum += values[i];
      if (i >= window) {
        sum -= values[i - window];
      }
      out[i] = sum / Math.min(i + 1, window);
    }
    return out;
  }
}
