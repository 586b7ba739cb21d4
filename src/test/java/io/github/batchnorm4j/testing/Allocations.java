package io.github.batchnorm4j.testing;

import static org.assertj.core.api.Assumptions.assumeThat;

import java.lang.management.ManagementFactory;
import java.time.Duration;

/** The JVM's per-thread allocation counters, for the zero-allocation tests. */
public final class Allocations {

  private Allocations() {}

  /**
   * The JVM's per-thread allocation counters, enabled; the calling test is skipped (not passed)
   * on a JVM without them.
   */
  public static com.sun.management.ThreadMXBean counters() {
    java.lang.management.ThreadMXBean bean = ManagementFactory.getThreadMXBean();
    assumeThat(bean).isInstanceOf(com.sun.management.ThreadMXBean.class);
    com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) bean;
    assumeThat(threads.isThreadAllocatedMemorySupported()).isTrue();
    threads.setThreadAllocatedMemoryEnabled(true);
    return threads;
  }

  /**
   * The least number of bytes the calling thread allocates in one of three windows of {@code
   * steps} steps. Anything allocated per call shows in every window; a one-off event of the JVM
   * (a recompilation, a class loaded late) lands in one window and is not the code under test.
   */
  public static long leastAllocatedInThreeWindows(com.sun.management.ThreadMXBean threads,
      Runnable step, int steps) {
    long least = Long.MAX_VALUE;
    for (int window = 0; window < 3; window++) {
      long before = threads.getCurrentThreadAllocatedBytes();
      for (int i = 0; i < steps; i++) {
        step.run();
      }
      least = Math.min(least, threads.getCurrentThreadAllocatedBytes() - before);
    }
    return least;
  }

  /**
   * How long a test's calls of {@link #leastAllocated} may keep measuring, together, while their
   * windows allocate: see {@link #deadline}.
   */
  public static final Duration PATIENCE = Duration.ofSeconds(20);

  /** {@return the {@link System#nanoTime} {@link #PATIENCE} from now, for {@link #leastAllocated}} */
  public static long deadline() {
    return System.nanoTime() + PATIENCE.toNanos();
  }

  /**
   * The least number of bytes the threads {@code ids} allocate in one window of {@code steps}
   * steps: at least three windows, and more, until {@code deadline} (from {@link #deadline}, shared
   * by a test's calls), while no window so far stayed below {@code bound} (the test's own limit; the counters' result arrays alone put a few dozen
   * bytes in each window). Anything allocated per call shows in every window, however long this
   * waits. What the extra windows wait for is the JIT: on a loaded machine C2 may not yet have
   * compiled the Vector API kernels after a test's warm-up, and until it has, their vectors are
   * objects (a CI run with other work on the machine saw about 80 KB a training call, a quiet run
   * of the same commit none; this is the likely cause, not a proven one); a one-off event of the
   * JVM (a recompilation, a class loaded late) lands in one window.
   */
  public static long leastAllocated(com.sun.management.ThreadMXBean threads, long[] ids,
      Runnable step, int steps, long bound, long deadline) {
    long least = Long.MAX_VALUE;
    for (int window = 0; window < 3 || (least >= bound && System.nanoTime() - deadline < 0);
        window++) {
      long before = total(threads.getThreadAllocatedBytes(ids));
      for (int i = 0; i < steps; i++) {
        step.run();
      }
      least = Math.min(least, total(threads.getThreadAllocatedBytes(ids)) - before);
    }
    return least;
  }

  /** The sum of per-thread counters, ignoring those of threads that ended (-1). */
  public static long total(long[] values) {
    long s = 0;
    for (long v : values) {
      s += Math.max(0, v);
    }
    return s;
  }
}
