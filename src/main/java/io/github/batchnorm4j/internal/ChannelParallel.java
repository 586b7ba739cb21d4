package io.github.batchnorm4j.internal;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs a per-channel task over contiguous channel ranges on up to {@code threads} threads.
 *
 * <p>Every channel is computed entirely by one thread, in the same order as on one thread, so the
 * results are bitwise identical for every thread count. Small tensors run on the caller's thread
 * only: below {@link #MIN_PARALLEL_ELEMENTS} elements, handing work to another thread costs more
 * than it saves.
 */
public final class ChannelParallel {

  /** Tensors with fewer elements than this always run on the caller's thread. */
  public static final int MIN_PARALLEL_ELEMENTS = 1 << 15;

  /** The work for channels {@code [c0, c1)}. */
  @FunctionalInterface
  public interface RangeTask {
    /** Computes channels {@code c0 <= c < c1}. */
    void run(int c0, int c1);
  }

  private ChannelParallel() {}

  /**
   * Runs {@code task} over channels {@code [0, channels)}.
   *
   * @param threads the most threads to use, including the caller's; 1 runs on the caller only
   * @param channels the number of channels
   * @param elements the tensor's element count, to decide whether threads pay off
   */
  public static void run(int threads, int channels, long elements, RangeTask task) {
    if (!worthSplitting(threads, channels, elements)) {
      task.run(0, channels);
      return;
    }
    int parts = Math.min(threads, channels);
    @SuppressWarnings("unchecked")
    Future<?>[] pending = new Future<?>[parts - 1];
    for (int p = 1; p < parts; p++) {
      int c0 = start(p, parts, channels);
      int c1 = start(p + 1, parts, channels);
      pending[p - 1] = Pool.EXECUTOR.submit(() -> task.run(c0, c1));
    }
    task.run(0, start(1, parts, channels));
    for (Future<?> f : pending) {
      try {
        f.get();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while waiting for batch-norm worker threads", e);
      } catch (ExecutionException e) {
        Throwable cause = e.getCause();
        if (cause instanceof RuntimeException) {
          throw (RuntimeException) cause;
        }
        if (cause instanceof Error) {
          throw (Error) cause;
        }
        throw new IllegalStateException(cause);
      }
    }
  }

  /**
   * Returns true if {@link #run} would use more than the caller's thread. Callers test this first
   * so that the single-threaded path calls the kernel directly, without allocating a task.
   */
  public static boolean worthSplitting(int threads, int channels, long elements) {
    return Math.min(threads, channels) > 1 && elements >= MIN_PARALLEL_ELEMENTS;
  }

  private static int start(int part, int parts, int channels) {
    return (int) ((long) part * channels / parts);
  }

  /** Lazily created, so that single-threaded use never starts a thread. */
  private static final class Pool {
    static final ExecutorService EXECUTOR;

    static {
      AtomicInteger counter = new AtomicInteger();
      EXECUTOR = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "batchnorm4j-worker-" + counter.incrementAndGet());
        t.setDaemon(true);
        return t;
      });
    }
  }
}
