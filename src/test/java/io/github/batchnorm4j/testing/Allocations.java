package io.github.batchnorm4j.testing;

import static org.assertj.core.api.Assumptions.assumeThat;

import java.lang.management.ManagementFactory;

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
}
