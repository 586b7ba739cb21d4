package io.github.batchnorm4j.examples.common;

import java.io.PrintStream;
import java.lang.reflect.Method;
import java.util.Locale;

/**
 * A one-line text progress bar, written here rather than taken from a library so that it behaves
 * the same in a terminal, in Maven's output and in a log file.
 *
 * <p>In a terminal the line is redrawn in place with a carriage return, at most ten times a second.
 * Anywhere else (a pipe, a file, a test) a carriage return would leave a mess, so it prints a new
 * line at every 10% instead.
 */
public final class ProgressBar {

  private static final int WIDTH = 30;

  private final String label;
  private final int total;
  private final PrintStream out;
  private final boolean interactive;
  private final long startNanos = System.nanoTime();
  private long lastDrawNanos;
  private int lastDecile = -1;

  public ProgressBar(String label, int total, PrintStream out, boolean interactive) {
    this.label = label;
    this.total = Math.max(1, total);
    this.out = out;
    this.interactive = interactive;
  }

  /** A bar on standard output, redrawn in place when it is a terminal. */
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

  /** Shows that {@code done} of the total steps are finished, with a short status such as the loss. */
  public void update(int done, String status) {
    long now = System.nanoTime();
    if (interactive) {
      if (done < total && now - lastDrawNanos < 100_000_000L) {
        return;
      }
      lastDrawNanos = now;
      out.print("\r" + line(done, status, now) + "  ");
      if (done >= total) {
        out.println();
      }
      out.flush();
    } else {
      int decile = (int) (10L * done / total);
      if (decile != lastDecile) {
        lastDecile = decile;
        out.println(line(done, status, now));
      }
    }
  }

  private String line(int done, String status, long now) {
    int filled = (int) ((long) WIDTH * done / total);
    double elapsed = (now - startNanos) / 1e9;
    double eta = done == 0 ? Double.NaN : elapsed * (total - done) / done;
    return String.format(Locale.ROOT, "%-6s %3d%% [%s%s] %d/%d %s %5.1fs elapsed, ETA %s", label,
        100L * done / total, "#".repeat(filled), ".".repeat(WIDTH - filled), done, total, status,
        elapsed, Double.isNaN(eta) ? "?" : String.format(Locale.ROOT, "%.0fs", eta));
  }
}
