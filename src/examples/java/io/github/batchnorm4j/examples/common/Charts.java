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
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

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
    if (chart instanceof XYChart xy) {
      roundXAxis(xy);
    }
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

  /**
   * Puts the x ticks on round numbers. Left alone, XChart puts the ticks of equally spaced x data
   * on data points (0, 9, 18, ... for 249 steps); with the axis bounds set to multiples of a round
   * step (1, 2 or 5 times a power of ten, about ten ticks) and one hidden point that breaks the
   * equal spacing, it puts them on round multiples.
   * Charts that set their own x bounds, or have no finite x data, are left as they are.
   *
   * @param chart the chart; its x-axis bounds are set
   */
  public static void roundXAxis(XYChart chart) {
    if (chart.getStyler().getXAxisMin() != null || chart.getStyler().getXAxisMax() != null
        || chart.getStyler().isXAxisLogarithmic()) {
      return;
    }
    double min = Double.POSITIVE_INFINITY;
    double max = Double.NEGATIVE_INFINITY;
    for (XYSeries s : chart.getSeriesMap().values()) {
      for (double x : s.getXData()) {
        if (Double.isFinite(x)) {
          min = Math.min(min, x);
          max = Math.max(max, x);
        }
      }
    }
    if (!(max > min)) {
      return;
    }
    double step = roundStep((max - min) / 10);
    double axisMin = Math.floor(min / step) * step;
    chart.getStyler().setXAxisMin(axisMin);
    chart.getStyler().setXAxisMax(Math.ceil(max / step) * step);
    // XChart also puts the ticks on the data when the x values are equally spaced; one hidden
    // point off that spacing (no y value, so nothing is drawn) makes it use the round step.
    XYSeries anchor = chart.addSeries(" round x ticks", new double[] {axisMin + 0.37 * step},
        new double[] {Double.NaN});
    anchor.setShowInLegend(false);
    anchor.setMarker(SeriesMarkers.NONE);
  }

  /**
   * {@return the smallest of 1, 2 and 5 times a power of ten that is at least {@code rough}}
   *
   * @param rough the tick spacing wanted, &gt; 0
   */
  static double roundStep(double rough) {
    double power = Math.pow(10, Math.floor(Math.log10(rough)));
    for (double m : new double[] {1, 2, 5, 10}) {
      if (m * power >= rough * (1 - 1e-12)) {
        return m * power;
      }
    }
    return 10 * power;
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
