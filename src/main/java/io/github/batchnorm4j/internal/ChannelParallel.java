package io.github.batchnorm4j.internal;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Runs numbered work items on the caller's thread and up to {@code threads - 1} persistent worker
 * threads, allocating nothing per call.
 *
 * <p>A call publishes its {@link Work} and item count, wakes the workers it may use, and works
 * itself: every participant claims the next unclaimed item until none is left, and the call returns
 * when every item has finished. Items are claimed dynamically, so a busy core (this is often a
 * shared machine) slows its share down without stalling the others, and the caller never waits for
 * a worker that has not woken yet: it simply does the items itself.
 *
 * <p>Which thread runs an item never changes a result: the work is partitioned into items by the
 * shape of the data alone, and each item's arithmetic is fixed (see {@link BatchNormKernels}).
 *
 * <h2>Threads</h2>
 * The workers are daemon threads, created lazily by the first call that wants them (single-threaded
 * use never starts one) and kept for the life of the JVM; at most {@code availableProcessors - 1}
 * of them exist, and one call never uses more threads than there are processors. After a call a
 * worker spins briefly (about {@link #SPIN_NANOS} ns) so that back-to-back calls find it awake, then
 * parks. The pool serves one call at a time; a call that finds it busy (another thread's call is
 * running) runs all its items on its own thread instead of waiting, with the same results.
 */
public final class ChannelParallel {

  /** Tensors with fewer elements than this always run on the caller's thread. */
  public static final int MIN_PARALLEL_ELEMENTS = 1 << 15;

  /** How long an idle worker spins before it parks. */
  static final long SPIN_NANOS = 100_000;

  /** The number of processors, the most threads a call uses. */
  static final int PROCESSORS = Math.max(1, Runtime.getRuntime().availableProcessors());

  /** Numbered work, published to the workers without allocating. */
  public interface Work {
    /** Runs item {@code item}; items are independent of each other. */
    void run(int item);
  }

  private ChannelParallel() {}

  /**
   * Returns how many threads a call on {@code elements} elements with {@code items} items should
   * use: 1 for small tensors, else {@code min(threads, processors, items)}.
   */
  public static int effectiveThreads(int threads, long elements, int items) {
    if (threads <= 1 || elements < MIN_PARALLEL_ELEMENTS) {
      return 1;
    }
    return Math.max(1, Math.min(Math.min(threads, PROCESSORS), items));
  }

  /**
   * Returns true if a call with these arguments could use more than the caller's thread.
   * Kept for callers that test first and call a kernel directly otherwise.
   */
  public static boolean worthSplitting(int threads, int channels, long elements) {
    return Math.min(threads, channels) > 1 && elements >= MIN_PARALLEL_ELEMENTS && PROCESSORS > 1;
  }

  /**
   * Runs {@code work.run(i)} for every {@code 0 <= i < items}, on at most {@code threads} threads
   * including the caller's. Returns when all items are done; an exception or error thrown by an
   * item is rethrown here (after the other items have finished).
   */
  public static void run(Work work, int items, int threads) {
    int t = Math.min(Math.min(threads, PROCESSORS), items);
    if (t <= 1) {
      for (int i = 0; i < items; i++) {
        work.run(i);
      }
      return;
    }
    Pool pool = Pool.INSTANCE;
    if (!pool.busy.compareAndSet(false, true)) {
      for (int i = 0; i < items; i++) {
        work.run(i);
      }
      return;
    }
    try {
      pool.invoke(work, items, t - 1);
    } finally {
      pool.busy.set(false);
    }
  }

  /** The shared workers and the state of the call in progress. */
  private static final class Pool {
    static final Pool INSTANCE = new Pool();

    final AtomicBoolean busy = new AtomicBoolean();
    /** Generation (high 32 bits) and next unclaimed item (low 32 bits) of the current call. */
    final AtomicLong ticket = new AtomicLong();
    final AtomicInteger finished = new AtomicInteger();
    // Written by the caller before the ticket publishes them; read by workers after reading it.
    Work work;
    int items;
    int helpers;
    Thread caller;
    volatile boolean callerParked;
    volatile Throwable failure;
    private Worker[] workers = new Worker[0];

    void invoke(Work w, int n, int wanted) {
      ensureWorkers(wanted);
      work = w;
      items = n;
      helpers = wanted;
      caller = Thread.currentThread();
      failure = null;
      finished.set(0);
      long generation = (ticket.get() >>> 32) + 1;
      ticket.set(generation << 32); // publishes the fields above
      for (int k = 0; k < wanted; k++) {
        Worker worker = workers[k];
        if (worker.parked) {
          LockSupport.unpark(worker);
        }
      }
      // The caller works too.
      for (long t = ticket.get(); (t >>> 32) == generation; t = ticket.get()) {
        int item = (int) t;
        if (item >= n) {
          break;
        }
        if (ticket.compareAndSet(t, t + 1)) {
          runItem(w, item);
        }
      }
      // Wait for items still running on workers.
      int spins = 0;
      while (finished.get() < n) {
        if (++spins < 20_000) {
          Thread.onSpinWait();
        } else {
          callerParked = true;
          if (finished.get() < n) {
            LockSupport.parkNanos(this, 100_000);
          }
          callerParked = false;
        }
      }
      work = null;
      caller = null;
      Throwable f = failure;
      if (f != null) {
        failure = null;
        if (f instanceof RuntimeException) {
          throw (RuntimeException) f;
        }
        if (f instanceof Error) {
          throw (Error) f;
        }
        throw new IllegalStateException(f);
      }
    }

    void runItem(Work w, int item) {
      try {
        w.run(item);
      } catch (Throwable e) {
        failure = e;
      }
      if (finished.incrementAndGet() == items && Thread.currentThread() != caller) {
        if (callerParked) {
          LockSupport.unpark(caller);
        }
      }
    }

    private void ensureWorkers(int wanted) {
      if (workers.length >= wanted) {
        return;
      }
      Worker[] grown = java.util.Arrays.copyOf(workers, wanted);
      for (int k = workers.length; k < wanted; k++) {
        Worker worker = new Worker(this, k);
        grown[k] = worker;
        worker.start();
      }
      workers = grown;
    }
  }

  private static final class Worker extends Thread {
    private final Pool pool;
    private final int index;
    volatile boolean parked;

    Worker(Pool pool, int index) {
      super("batchnorm4j-worker-" + (index + 1));
      this.pool = pool;
      this.index = index;
      setDaemon(true);
    }

    @Override
    public void run() {
      long seen = pool.ticket.get() >>> 32;
      while (true) {
        long t = awaitGeneration(seen);
        long generation = t >>> 32;
        seen = generation;
        // Fields read below belong to this generation while the ticket still carries it: the
        // caller rewrites them only after every item of this generation has been claimed and
        // finished, and then our compare-and-set fails.
        while ((t >>> 32) == generation) {
          Work w = pool.work;
          int n = pool.items;
          if (index >= pool.helpers || w == null) {
            break;
          }
          int item = (int) t;
          if (item >= n) {
            break;
          }
          if (pool.ticket.compareAndSet(t, t + 1)) {
            pool.runItem(w, item);
          }
          t = pool.ticket.get();
        }
      }
    }

    private long awaitGeneration(long seen) {
      long deadline = System.nanoTime() + SPIN_NANOS;
      int spins = 0;
      while (true) {
        long t = pool.ticket.get();
        if ((t >>> 32) != seen) {
          return t;
        }
        if ((++spins & 63) != 0 || System.nanoTime() < deadline) {
          Thread.onSpinWait();
          continue;
        }
        parked = true;
        t = pool.ticket.get();
        if ((t >>> 32) == seen) {
          LockSupport.park(this);
        }
        parked = false;
        deadline = System.nanoTime() + SPIN_NANOS;
        spins = 0;
      }
    }
  }
}
