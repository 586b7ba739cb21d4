package io.github.batchnorm4j.examples.common;

import java.io.PrintStream;
import java.lang.reflect.Method;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.DelegatingProgressBarConsumer;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * A one-line progress bar for the training loops, drawn by the progressbar library
 * (me.tongfei:progressbar): the task, the percentage, the bar, steps done of the total, elapsed
 * time and ETA, then a short status such as the loss.
 *
 * <p>In a terminal the library redraws the line in place, ten times a second. Anywhere else (a
 * pipe, a file, Maven's captured output, a test) a carriage return would leave a mess, so the line
 * is printed as a new line at every 10% instead.
 */
public final class ProgressBar {

  private static final int MAX_LENGTH = 120;

  private final me.tongfei.progressbar.ProgressBar bar;
  private final boolean interactive;
  private final int total;
  private int lastDecile = -1;
  private boolean closed;

  /**
   * Creates a bar.
   *
   * @param label the task's name, printed first
   * @param total the number of steps
   * @param out where the bar is drawn
   * @param interactive true to redraw one line in place (a terminal), false for a line per 10%
   */
  public ProgressBar(String label, int total, PrintStream out, boolean interactive) {
    this.total = Math.max(1, total);
    this.interactive = interactive;
    ProgressBarBuilder builder = new ProgressBarBuilder()
        .setTaskName(label)
        .setInitialMax(this.total)
        .setStyle(ProgressBarStyle.ASCII)
        .setMaxRenderedLength(MAX_LENGTH);
    if (interactive) {
      builder.setConsumer(new ConsoleProgressBarConsumer(out, MAX_LENGTH)).setUpdateIntervalMillis(100);
    } else {
      // No timed redraws: the line is printed by update() at each new decile.
      builder.setConsumer(new DelegatingProgressBarConsumer(out::println, MAX_LENGTH))
          .setUpdateIntervalMillis(Integer.MAX_VALUE)
          .continuousUpdate();
    }
    this.bar = builder.build();
  }

  /**
   * {@return a bar on standard output, redrawn in place when it is a terminal}
   *
   * @param label the task's name
   * @param total the number of steps
   */
  public static ProgressBar onConsole(String label, int total) {
    return new ProgressBar(label, total, System.out, isTerminal());
  }

  /**
   * True when standard output is a terminal. {@code System.console()} answers that on Java 17 to
   * 21; from Java 22 it returns a console even for a pipe, and {@code Console.isTerminal()} (looked
   * up by reflection, since this code compiles for 17) gives the answer.
   */
  static boolean isTerminal() {
    java.io.Console console = System.console();
    if (console == null) {
      return false;
    }
    try {
      // Looked up on the public class: the implementation class is not accessible.
      Method isTerminal = java.io.Console.class.getMethod("isTerminal");
      return (Boolean) isTerminal.invoke(console);
    } catch (ReflectiveOperationException e) {
      return true; // Java 17-21: a non-null console means a terminal
    }
  }

  /**
   * Shows that {@code done} of the total steps are finished, with a short status such as the loss.
   * The bar is finished (its last line printed) when done reaches the total.
   *
   * @param done the steps finished so far
   * @param status a short text after the bar
   */
  public void update(int done, String status) {
    if (closed) {
      return;
    }
    bar.stepTo(Math.min(done, total));
    bar.setExtraMessage(status);
    if (!interactive) {
      int decile = (int) (10L * done / total);
      if (decile != lastDecile) {
        lastDecile = decile;
        bar.refresh();
      }
    }
    if (done >= total) {
      closed = true;
      if (interactive) {
        bar.close(); // draws the final state and ends the line
      } else {
        bar.pause(); // the last decile is printed; stop without printing the line again
      }
    }
  }
}
