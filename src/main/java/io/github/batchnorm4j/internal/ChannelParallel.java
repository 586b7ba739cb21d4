package io.github.batchnorm4j.internal;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;

/**
 * Runs numbered work items on the caller's thread and up to {@code threads - 1} persistent worker
 * threads, allocating nothing per call.
 *
 * <p>A call publishes its {@link Work} and item count, wakes the workers it may use, and works
 * itself. The items are cut into one contiguous region per participant; each claims the items of
 * its own region in order (so each thread streams through adjacent memory, which the hardware
 * prefetchers need), then helps with the others' regions, and the call returns when every item has
 * finished. Because items are claimed dynamically, a busy core (this is often a shared machine)
 * slows its share down without stalling the others, and the caller never waits for a worker that
 * has not woken yet: it simply does the items itself.
 *
 * <p>Which thread runs an item never changes a result: the work is partitioned into items by the
 * shape of the data alone, and each item's arithmetic is fixed (see {@link BatchNormKernels}).
 *
 * <h2>Threads</h2>
 * The workers are daemon threads, created lazily by the first call that wants them (single-threaded
 * use never starts one) and kept for the life of the JVM; at most {@code availableProcessors - 1}
 * of them exist, and one call never uses more threads than there are processors. After its items
 * of a call a worker yields its processor once, then spins for {@link #SPIN_NANOS} (20 µs) so that
 * the next pass of the same call, or a call made right after it, finds it awake, then parks. The
 * yield matters on a busy machine: the scheduler can wake a worker on its caller's own
 * processor, and a worker that spun there kept its caller off the processor until it parked
 * (measured on a loaded 2-core machine, docs/kernels.md: a call of two 1 µs items kept its caller
 * 105 and 120 µs in two of three rounds with a 100 µs spin and no yield, 7 to 15 µs with the yield
 * and a 20 µs spin). The pool serves one call at a time; a call that finds it busy (another
 * thread's call is running) runs all its items on its own thread instead of waiting, with the
 * same results.
 */
public final class ChannelParallel {

  /**
   * The thread count that means "automatic": up to {@link #automaticThreads()} threads for calls
   * of at least {@link #MIN_AUTOMATIC_ELEMENTS} elements, or of at least {@link
   * #MIN_BACK_TO_BACK_ELEMENTS} when they come back to back (see {@link #effectiveThreads}). The
   * public name is {@code BatchNormOptions.AUTO_THREADS}.
   */
  public static final int AUTOMATIC = 0;

  /** The system property that caps {@link #automaticThreads()}. */
  public static final String THREADS_PROPERTY = "batchnorm4j.threads";

  /**
   * Calls with fewer elements than this always run on the caller's thread, whatever the thread
   * count: the planner's work items hold about 16,384 values, so there is little to share below
   * it. For experiments, {@code -Dbatchnorm4j.minParallelElements=n}
   * overrides it.
   */
  public static final int MIN_PARALLEL_ELEMENTS =
      intProperty("batchnorm4j.minParallelElements", 1 << 15);

  /**
   * With {@link #AUTOMATIC} threads, calls with fewer elements than this run on the caller's
   * thread, unless they come back to back ({@link #effectiveThreads}): 262,144 (2^18). On the
   * measured 2-core machine (docs/kernels.md, "Threads"), two threads won 1.9 to 2 times there
   * when the worker was still awake from the call before, and roughly broke even (0.81 to 1.66)
   * when it had parked since and had to be woken, as in a network where other layers run between
   * the calls; on smaller calls a woken worker lost up to 3.7 times with the fast kernels. An
   * explicit thread count shares from {@link #MIN_PARALLEL_ELEMENTS}. For experiments, {@code
   * -Dbatchnorm4j.minAutomaticElements=n} overrides it.
   */
  public static final int MIN_AUTOMATIC_ELEMENTS =
      intProperty("batchnorm4j.minAutomaticElements", 1 << 18);

  /**
   * {@link #MIN_AUTOMATIC_ELEMENTS} for the calls with sums (the training passes, and the eval
   * backward when it computes the weight gradients) on the scalar kernels, whose sums are not
   * vectorized: 131,072 (2^17). Measured as above (docs/kernels.md,
   * "Threads"), a parked worker woken for each call: at 131,072 values two threads ran the
   * scalar training forward and backward 1.44 and 1.51 times faster on JDK 17, 1.46 and 1.48 on
   * JDK 25, while the eval pass broke even or lost (0.96 and 0.74), so a lone elementwise pass
   * keeps {@link #MIN_AUTOMATIC_ELEMENTS}. {@code -Dbatchnorm4j.minAutomaticElements=n} overrides
   * this one too.
   */
  public static final int MIN_AUTOMATIC_SCALAR_ELEMENTS =
      intProperty("batchnorm4j.minAutomaticElements", 1 << 17);

  /**
   * With {@link #AUTOMATIC} threads, calls from this size are shared when they come back to back
   * ({@link #effectiveThreads}), whatever the kernels' own threshold: 131,072 (2^17). Measured
   * back to back against threads(1) on the 2-core machine (docs/kernels.md, "Threads"): from
   * 131,072 values two threads won up to 2 times with either kernels; on 32,768 and 65,536
   * values the Vector API kernels' calls, 5 to 45 µs, gained nothing and lost up to 16% (the
   * worker hardly ran any of their items). {@code -Dbatchnorm4j.minBackToBackElements=n}
   * overrides it for experiments.
   */
  public static final int MIN_BACK_TO_BACK_ELEMENTS =
      intProperty("batchnorm4j.minBackToBackElements", 1 << 17);

  /**
   * How long an idle worker spins before it parks, and how long a caller spins waiting for items
   * still running on workers before it parks: 20 µs. Meant to cover the gap between the two
   * passes of a training call (the caller's per-channel arithmetic) and calls made back to back;
   * short, because the spin is CPU time taken from the application's other threads whenever the
   * next call comes later, as it does in a network (measured in docs/kernels.md). For
   * experiments, {@code -Dbatchnorm4j.spinNanos=n} overrides it.
   */
  static final long SPIN_NANOS = intProperty("batchnorm4j.spinNanos", 20_000);

  /** The number of processors, the most threads a call uses. */
  static final int PROCESSORS = Math.max(1, Runtime.getRuntime().availableProcessors());

  /** The most threads an {@link #AUTOMATIC} call uses; see {@link #automaticThreads()}. */
  private static final int AUTOMATIC_LIMIT = automaticLimit(System.getProperty(THREADS_PROPERTY),
      PROCESSORS, message -> System.getLogger("io.github.batchnorm4j")
          .log(System.Logger.Level.WARNING, message));

  /** Numbered work, published to the workers without allocating. */
  public interface Work {
    /**
     * Runs item {@code item}; items are independent of each other.
     *
     * @param item the item's number, in [0, items)
     */
    void run(int item);
  }

  private ChannelParallel() {}

  /**
   * {@return the most threads a call with {@link #AUTOMATIC} threads uses in this JVM: the number
   * of processors, capped by {@code -Dbatchnorm4j.threads} when that is a valid integer}
   */
  public static int automaticThreads() {
    return AUTOMATIC_LIMIT;
  }

  /**
   * The most threads an {@link #AUTOMATIC} call uses, given the value of {@link
   * #THREADS_PROPERTY}: {@code processors}, or {@code min(processors, value)} for an integer value
   * &gt;= 1. Anything else is reported to {@code warn} once, with the property, the value and the
   * expected form, and ignored: results never depend on the thread count, so a mistyped tuning knob
   * should cost speed at worst, not fail a job.
   *
   * @param value the property's value, or null when it is not set
   * @param processors the number of processors, &gt;= 1
   * @param warn receives the warning for an invalid value
   * @return the limit, in [1, processors]
   */
  public static int automaticLimit(String value, int processors,
      java.util.function.Consumer<String> warn) {
    if (value == null) {
      return processors;
    }
    String v = value.trim();
    int cap = -1;
    try {
      cap = Integer.parseInt(v);
    } catch (NumberFormatException e) {
      // reported below
    }
    if (cap < 1) {
      warn.accept("ignoring -D" + THREADS_PROPERTY + "=" + value + ": expected an integer >= 1"
          + " (the most threads one call of a module with the default threads may use); using "
          + processors + " (the number of processors)");
      return processors;
    }
    return Math.min(processors, cap);
  }

  /**
   * Returns how many threads a call on {@code elements} elements with {@code items} items should
   * use: 1 for small tensors, else {@code min(limit, processors, items)}, where the limit is
   * {@code threads}, or {@link #automaticThreads()} for {@link #AUTOMATIC}. Small means fewer
   * than {@link #MIN_PARALLEL_ELEMENTS} elements, and with {@link #AUTOMATIC} threads also fewer
   * than {@code minAutomatic} unless the call has at least {@link #MIN_BACK_TO_BACK_ELEMENTS}
   * elements and comes <em>back to back</em>: less than {@link #SPIN_NANOS} after the end of the
   * calling thread's previous call of at least {@link #MIN_PARALLEL_ELEMENTS} elements.
   *
   * <p>Why two sizes (docs/kernels.md, "Threads"): a call that comes back to back finds a worker
   * that ran the previous call still spinning, or wakes it once for a run of such calls, and two
   * threads won from {@link #MIN_BACK_TO_BACK_ELEMENTS} on; a call that comes after other work must
   * first wake a parked worker, which on the measured VM costs its caller 7 to 9 µs, and two
   * threads only broke even from about {@code minAutomatic}.
   *
   * @param threads the most threads the caller allows, or {@link #AUTOMATIC}
   * @param elements the number of values the call touches
   * @param items the number of work items
   * @param minAutomatic the smallest call shared with {@link #AUTOMATIC} threads when it does not
   *     come back to back: {@link #MIN_AUTOMATIC_ELEMENTS} or {@link
   *     #MIN_AUTOMATIC_SCALAR_ELEMENTS}, by the kernels that run
   * @param previousCallEnd when the calling thread's previous call of at least {@link
   *     #MIN_PARALLEL_ELEMENTS} elements ended, by {@link System#nanoTime()}
   * @return the number of threads, &gt;= 1
   */
  public static int effectiveThreads(int threads, long elements, int items, int minAutomatic,
      long previousCallEnd) {
    if (elements < MIN_PARALLEL_ELEMENTS) {
      return 1;
    }
    int limit = threads;
    if (threads == AUTOMATIC) {
      if (elements < minAutomatic && (elements < MIN_BACK_TO_BACK_ELEMENTS
          || System.nanoTime() - previousCallEnd >= SPIN_NANOS)) {
        return 1;
      }
      limit = AUTOMATIC_LIMIT;
    }
    if (limit <= 1) {
      return 1;
    }
    return Math.max(1, Math.min(Math.min(limit, PROCESSORS), items));
  }

  /**
   * {@return how many work items the worker threads (not the callers) have run since the JVM
   * started} Tests use it to observe that a call was shared, or was not.
   */
  public static long itemsRunByWorkers() {
    Pool pool = Pool.INSTANCE;
    long sum = 0;
    for (int p = 1; p <= PROCESSORS; p++) {
      sum += pool.workerItems[p * Pool.PAD];
    }
    return sum;
  }

  private static int intProperty(String name, int fallback) {
    String value = System.getProperty(name);
    if (value == null) {
      return fallback;
    }
    try {
      return Math.max(0, Integer.parseInt(value.trim()));
    } catch (NumberFormatException e) {
      return fallback;
    }
  }

  /**
   * Runs {@code work.run(i)} for every {@code 0 <= i < items}, on at most {@code threads} threads
   * including the caller's. Returns when all items are done; an exception or error thrown by an
   * item is rethrown here (after the other items have finished).
   *
   * @param work the items' work
   * @param items the number of items
   * @param threads the most threads to use, the caller's included, or {@link #AUTOMATIC}
   */
  public static void run(Work work, int items, int threads) {
    int limit = threads == AUTOMATIC ? AUTOMATIC_LIMIT : threads;
    int t = Math.min(Math.min(limit, PROCESSORS), items);
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
    static final int PAD = 16;
    /** A claim index beyond any item: a closed region. */
    static final long CLOSED = 1L << 31;

    final AtomicBoolean busy = new AtomicBoolean();
    /** The generation of the current call, in the high 32 bits; bumping it wakes the workers. */
    final AtomicLong ticket = new AtomicLong();
    /**
     * Per participant's region: the generation (high 32 bits) and the next unclaimed item of the
     * region (low 32 bits), one counter every {@link #PAD} slots so that they do not share a
     * cache line.
     */
    final AtomicLongArray claims = new AtomicLongArray(PROCESSORS * PAD);
    final AtomicInteger finished = new AtomicInteger();
    // Written by the caller before the ticket publishes them; read by workers after reading it.
    Work work;
    int items;
    int helpers;
    Thread caller;
    volatile boolean callerParked;
    volatile Throwable failure;
    /**
     * Per participant p &gt;= 1 (worker p - 1), every {@link #PAD} slots, the items it has run;
     * written by that worker only. For {@link #itemsRunByWorkers()}.
     */
    final long[] workerItems = new long[(PROCESSORS + 1) * PAD];
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
      for (int q = 0; q <= wanted; q++) {
        claims.set(q * PAD, generation << 32);
      }
      ticket.set(generation << 32); // publishes the fields above
      for (int k = 0; k < wanted; k++) {
        Worker worker = workers[k];
        if (worker.parked) {
          LockSupport.unpark(worker);
        }
      }
      work(0, generation); // the caller works too
      // Wait for items still running on workers: spin briefly (an item takes microseconds), then
      // park, so that a worker preempted in the middle of an item can have this processor.
      long deadline = System.nanoTime() + SPIN_NANOS;
      int spins = 0;
      while (finished.get() < n) {
        if ((++spins & 63) != 0 || System.nanoTime() < deadline) {
          Thread.onSpinWait();
        } else {
          callerParked = true;
          if (finished.get() < n) {
            LockSupport.parkNanos(this, 100_000);
          }
          callerParked = false;
        }
      }
      // Close this generation's regions before any field is rewritten for the next call: a worker
      // that read the ticket of this call but was preempted until after it must not claim, under
      // this generation, an item of the next call's work (see work()).
      for (int q = 0; q <= wanted; q++) {
        claims.set(q * PAD, (generation << 32) | CLOSED);
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

    /**
     * Participant {@code p} (0 the caller, k + 1 worker k) works through its own contiguous region
     * of the items first, so that each thread streams through adjacent memory, then helps with
     * the others' regions. Returns when no item of this generation is left to claim.
     *
     * <p>The fields read here belong to {@code generation} while its claim counters still carry
     * it with an open index: the caller rewrites them only after every item has finished and it
     * has closed the counters, and then the compare-and-set below fails or finds nothing.
     */
    void work(int p, long generation) {
      Work w = work;
      int n = items;
      int parts = helpers + 1;
      if (w == null || p >= parts) {
        return;
      }
      for (int r = 0; r < parts; r++) {
        int q = (p + r) % parts;
        int start = (int) ((long) q * n / parts);
        int end = (int) ((long) (q + 1) * n / parts);
        while (true) {
          long t = claims.get(q * PAD);
          if ((t >>> 32) != generation) {
            return;
          }
          long item = start + (t & 0xFFFF_FFFFL);
          if (item >= end) {
            break;
          }
          if (claims.compareAndSet(q * PAD, t, t + 1)) {
            runItem(w, (int) item, p);
          }
        }
      }
    }

    void runItem(Work w, int item, int p) {
      try {
        w.run(item);
      } catch (Throwable e) {
        failure = e;
      }
      if (p > 0) {
        // Counted before the item is finished, so the caller sees it once its call returns.
        workerItems[p * PAD]++;
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
        long generation = awaitGeneration(seen) >>> 32;
        seen = generation;
        pool.work(index + 1, generation);
      }
    }

    /**
     * Waits for the next call: yields once (if the scheduler put this worker on its caller's
     * processor, the caller gets it back now rather than after the spin), spins for {@link
     * #SPIN_NANOS}, then parks until a call unparks it.
     */
    private long awaitGeneration(long seen) {
      Thread.yield();
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
