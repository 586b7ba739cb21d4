package io.github.batchnorm4j.internal;

import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Gets the Vector API kernels compiled before the library's calls use them. Until C2 has compiled
 * a Vector API loop, the interpreter and C1 run it with a heap box per vector operation: in a fresh
 * JVM the first training forward + backward on (32, 64, 56, 56) took 0.7 s with these kernels
 * against 0.15 to 0.2 s with the scalar ones on a quiet machine (1.8 to 3 s against 0.25 to 0.7 s
 * with the machine's load at 5 on its 2 cores).
 *
 * <p>So, while the warm-up runs, {@link KernelOps#forSize} hands out the scalar kernels wrapped in
 * a recording {@link Delegating}, which notes each kernel call's <em>signature</em> (which method,
 * with or without the ReLU mask, the run length and the channel count, both {@link #reduced}).
 * One daemon thread, {@value #THREAD_NAME}, waits until no new signature has appeared for {@link
 * #SETTLE_NANOS} (the program's first calls run without it competing), then runs the vector
 * kernels on small blocks with exactly those signatures: that makes the JIT compile the paths the
 * program uses, with profiles that match its calls, and nothing else (compiling every path of the
 * vector kernels took 3 to 10 times longer). Every few rounds it times one call of each signature on a block of about 2,048
 * values with the vector kernels and with the scalar ones. Compiled, the vector kernels took 0.1
 * to 3 ns per value and at most 2.3 times the scalar kernels' time; interpreted or C1-compiled,
 * 14 to 500 ns per value and 20 to 70 times the scalar time. A signature counts as compiled at
 * most {@link #MAX_NANOS_PER_VALUE} ns per value and {@link #COMPILED_RATIO} times the fastest
 * scalar call. Once every signature seen is compiled and no new one has appeared for {@link
 * #STABLE_ROUNDS} measuring rounds, it runs them once on two new threads (see {@code warmUp}),
 * measures again, and then the vector kernels take over (through a second {@link Delegating}, for
 * the reason given there) and the thread ends.
 *
 * <p>Its cost is bounded. After each round the thread sleeps as long as the round took (at least
 * 1 ms), so it takes at most half a core, leaving the other half to the caller and to the JIT
 * compiler threads it is waiting for. It stops after {@link #BUDGET_NANOS} of rounds (so at most
 * that much CPU): the vector kernels then take over if one signature at least came within {@link
 * #GIVE_UP_RATIO} times the scalar time (the rest compiles in use); if none did, this JVM does not
 * compile them (a C1-only JVM, {@code -XX:TieredStopAtLevel=1}) and the scalar kernels stay.
 *
 * <p>A signature the program first uses after the switch runs slowly on its first call, as every
 * path did before this warm-up existed. The thread allocates its blocks (about 150 KB) once; the
 * recording allocates nothing.
 */
final class VectorWarmUp implements Runnable {

  /** The name of the warm-up thread. */
  static final String THREAD_NAME = "batchnorm4j-warmup";

  /** The most time the warm-up spends in its rounds (its sleeps not counted). */
  static final long BUDGET_NANOS = TimeUnit.SECONDS.toNanos(2);

  /**
   * The longest the thread waits for a first kernel call to record (the selection may run before
   * any large tensor reaches the kernels, for a {@code KernelInfo} query); then it ends and the
   * vector kernels take over untested.
   */
  static final long IDLE_LIMIT_NANOS = TimeUnit.SECONDS.toNanos(60);

  /**
   * The warm-up starts once no new signature has been recorded for this long: the program's
   * first calls have run their paths by then (in the measured training step, the forward's two
   * passes and the backward's two record their signatures within about 100 ms of each other).
   */
  static final long SETTLE_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

  /** A vector call at most this many times the fastest scalar call counts as compiled... */
  static final double COMPILED_RATIO = 4.0;

  /** ...if it also takes at most this many nanoseconds per value. */
  static final double MAX_NANOS_PER_VALUE = 10.0;

  /** At the end of the budget, the vector kernels take over if one signature came this close. */
  static final double GIVE_UP_RATIO = 10.0;

  /** Measuring rounds with no new signature before the vector kernels take over. */
  static final int STABLE_ROUNDS = 3;

  /** Calls of each signature per round, on one plane or row. */
  static final int EXERCISE_CALLS = 16;

  /** Rounds between measurements while the rounds are slow. */
  static final int MEASURE_EVERY = 4;

  /** A round faster than this measures every time (the code is mostly compiled by then). */
  static final long FAST_ROUND_NANOS = TimeUnit.MILLISECONDS.toNanos(2);

  /** How many distinct signatures are recorded; more are run without being warmed. */
  static final int MAX_SIGNATURES = 64;

  /** How a warm-up ended. */
  enum Outcome {
    /** Every signature seen ran as fast as compiled code: the vector kernels take over. */
    COMPILED,
    /** The budget ran out with one signature at least close: the vector kernels take over. */
    BUDGET_SWITCH,
    /** The budget ran out with every signature still far slower: the scalar kernels stay. */
    BUDGET_STAY_SCALAR,
    /** No kernel call was recorded for a minute: the vector kernels take over untested. */
    IDLE,
    /** The warm-up failed with an exception: the scalar kernels stay. */
    FAILED
  }

  /** What the warm-up thread reports when it ends; read by {@link KernelOps}. */
  static final class Result {
    final Outcome outcome;
    final long nanos;
    final int rounds;
    final int signatures;
    final int compiled;
    /** The exception that ended a failed warm-up, else null. */
    final String failure;

    Result(Outcome outcome, long nanos, int rounds, int signatures, int compiled) {
      this(outcome, nanos, rounds, signatures, compiled, null);
    }

    Result(Outcome outcome, long nanos, int rounds, int signatures, int compiled,
        String failure) {
      this.failure = failure;
      this.outcome = outcome;
      this.nanos = nanos;
      this.rounds = rounds;
      this.signatures = signatures;
      this.compiled = compiled;
    }

    boolean vectorTakesOver() {
      return outcome == Outcome.COMPILED || outcome == Outcome.BUDGET_SWITCH
          || outcome == Outcome.IDLE;
    }

    @Override
    public String toString() {
      return String.format(Locale.ROOT, "%s after %d ms (%d rounds, %d of %d kernel signatures "
          + "compiled%s)", outcome.name().toLowerCase(Locale.ROOT).replace('_', ' '),
          nanos / 1_000_000, rounds, compiled, signatures,
          failure == null ? "" : "; " + failure);
    }
  }

  /** Receives the result, once, on the warm-up thread. */
  interface Listener {
    void finished(Result result);
  }

  /** The scalar kernels, recording; handed out during the warm-up. */
  private final Delegating recorder = new Delegating(ScalarKernels.INSTANCE);
  /** The vector kernels; run by the warm-up, handed out after it. */
  private final Delegating vector;
  private final Listener listener;
  private final CountDownLatch done = new CountDownLatch(1);

  VectorWarmUp(KernelOps vector, Listener listener) {
    this.vector = new Delegating(vector);
    this.listener = listener;
  }

  /** {@return the scalar kernels that record what they run, handed out during the warm-up} */
  KernelOps recorder() {
    return recorder;
  }

  /** {@return the vector kernels as handed out after the warm-up} */
  KernelOps vector() {
    return vector;
  }

  /** Starts the daemon thread. */
  void start() {
    Thread t = new Thread(this, THREAD_NAME);
    t.setDaemon(true);
    t.start();
  }

  /**
   * Waits for the warm-up to end.
   *
   * @return false if the time ran out first
   */
  boolean await(long nanos) throws InterruptedException {
    return done.await(nanos, TimeUnit.NANOSECONDS);
  }

  @Override
  public void run() {
    long start = System.nanoTime();
    Result result;
    try {
      result = warmUp(start);
    } catch (RuntimeException | LinkageError e) {
      result = new Result(Outcome.FAILED, System.nanoTime() - start, 0, 0, 0, e.toString());
    }
    try {
      listener.finished(result);
    } finally {
      done.countDown();
    }
  }

  private Result warmUp(long start) {
    Probe probe = new Probe();
    int rounds = 0;
    int stable = 0;
    boolean fast = false;
    long busy = 0;
    long idle = 1;
    long lastAdded = 0;
    boolean started = false;
    int checkedOnNewThread = -1;
    while (true) {
      int added = probe.take(recorder);
      if (added > 0) {
        lastAdded = System.nanoTime();
      }
      if (!started) {
        // Wait, cheaply, for the program's first calls to have recorded their signatures and to
        // have stopped adding new ones: they run without this thread competing for the cores and
        // the compile queue, and the rounds then warm their whole set at once.
        long now = System.nanoTime();
        if (probe.size() == 0 && now - start > IDLE_LIMIT_NANOS) {
          return new Result(Outcome.IDLE, now - start, 0, 0, 0);
        }
        if (probe.size() == 0 || now - lastAdded < SETTLE_NANOS) {
          sleepNanos(TimeUnit.MILLISECONDS.toNanos(idle));
          idle = Math.min(probe.size() == 0 ? 100 : 10, 2 * idle);
          continue;
        }
        started = true;
      }
      long t0 = System.nanoTime();
      boolean measure = fast || rounds % MEASURE_EVERY == 0;
      int pending = probe.round(vector, measure);
      long t1 = System.nanoTime();
      rounds++;
      busy += t1 - t0;
      fast = t1 - t0 < FAST_ROUND_NANOS;
      if (added > 0) {
        stable = 0;
      } else if (measure) {
        stable++;
      }
      if (pending == 0 && stable >= STABLE_ROUNDS) {
        if (checkedOnNewThread == probe.size()) {
          return new Result(Outcome.COMPILED, t1 - start, rounds, probe.size(), probe.size());
        }
        // Once more from a thread that has not run the vector kernels: its first call misses
        // their per-thread scratch (a ThreadLocal), a branch the warm-up thread's profile never
        // took, and C2's code traps and is recompiled. Let that happen here rather than in the
        // program's first vector call (it cost that step 150 to 250 ms), then measure again.
        probe.roundOnNewThread(vector);
        probe.forgetCompiled();
        checkedOnNewThread = probe.size();
        stable = 0;
      }
      if (busy >= BUDGET_NANOS) {
        return new Result(probe.bestRatio() <= GIVE_UP_RATIO ? Outcome.BUDGET_SWITCH
            : Outcome.BUDGET_STAY_SCALAR, t1 - start, rounds, probe.size(),
            probe.compiledCount());
      }
      // At most half a core: the caller and the compiler threads come first.
      sleepNanos(Math.max(TimeUnit.MILLISECONDS.toNanos(1), t1 - t0));
    }
  }

  private static void sleepNanos(long nanos) {
    try {
      TimeUnit.NANOSECONDS.sleep(nanos);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  // ---- Signatures.

  static final int SHIFTED_SUMS = 0;
  static final int BACKWARD_SUMS = 1;
  static final int NORMALIZE = 2;
  static final int BACKWARD_DX = 3;
  static final int SCALE_GRAD_SUMS = 4;
  static final int SCALE_GRAD = 5;
  static final int NORMALIZE_ROWS = 6;
  static final int BACKWARD_DX_ROWS = 7;
  static final int SCALE_GRAD_ROWS = 8;
  static final int SHIFTED_SUMS_ACROSS = 9;
  static final int BACKWARD_SUMS_ACROSS = 10;
  static final int SCALE_GRAD_ACROSS = 11;

  /**
   * A run length or channel count as the warm-up uses it: unchanged below 192, else 128 plus its
   * residue modulo 64. The kernels choose their paths by comparing these numbers with the vector
   * lanes (4 or 8), 4 lanes, 8 lanes and the planner's short-plane limit, and by their residues
   * modulo those; all are at most 64 and divide 64, so a reduced number takes the same paths with
   * shorter loops. The one larger limit, the shortest run whose sums take float lanes (16 L: 64 or
   * 128), is at most 128, and every reduced number from 192 up is at least 128, so a reduced run
   * length is on the same side of it too.
   */
  static int reduced(int n) {
    // Branch-free: the program's calls and the warm-up's (already reduced) take opposite sides
    // of n < 192, and a branch would trap in the compiled planner when the second side appears.
    int big = (191 - n) >>> 31; // 1 when n >= 192 (n >= 0)
    return n - big * (n - 128 - (n & 63));
  }

  /**
   * The signature of a kernel call, never 0: method, mask, reduced run length, and the reduced
   * channel count where it selects a path (runs shorter than the planner's short planes, walked
   * with the channels side by side), else 2.
   */
  static long signature(int method, boolean masked, int len, int channels) {
    int c = len < BatchNormKernels.SHORT_PLANE ? reduced(channels) : 2;
    return 1L | (long) method << 1 | (masked ? 1L : 0L) << 5 | (long) reduced(len) << 6
        | (long) c << 20;
  }

  static int method(long signature) {
    return (int) (signature >>> 1) & 0xF;
  }

  static boolean masked(long signature) {
    return (signature >>> 5 & 1) == 1;
  }

  static int length(long signature) {
    return (int) (signature >>> 6) & 0x3FFF;
  }

  static int channels(long signature) {
    return (int) (signature >>> 20) & 0x3FFF;
  }

  /**
   * Kernels that delegate every call to a target: the scalar kernels, noting each call's signature
   * in a small lock-free set (from any thread; a signature already there costs a few loads,
   * nothing is allocated), or the vector kernels. {@link KernelOps#forSize} hands out the first
   * during the warm-up and the second afterwards, never the vector kernels themselves: the
   * planner's call sites, compiled by C2 while the scalar kernels ran, then see the same class
   * before and after the switch, and the call sites in here have seen both targets (the warm-up
   * runs the vector kernels through the second instance). Handing out the vector kernels directly
   * made C2's compiled planner hit a class-check trap on every kernel call after the switch until
   * it was recompiled: about 100 ms of the first step on the vector kernels. Each call costs one
   * more field load and type check, inlined.
   */
  static final class Delegating extends KernelOps {
    private final KernelOps target;
    private final AtomicLongArray seen;

    Delegating(KernelOps target) {
      super(target.minAutomaticElements());
      this.target = target;
      this.seen = new AtomicLongArray(MAX_SIGNATURES);
    }

    /** {@return the kernels this delegates to} */
    KernelOps target() {
      return target;
    }

    /**
     * Notes a signature. Both instances record, the vector one uselessly: a branch that skipped
     * it there would flip direction in the caller's compiled code at the switch, whose uncommon
     * trap and recompilation cost the first vector step about 150 ms.
     */
    private void note(int method, boolean masked, int len, int channels) {
      long s = signature(method, masked, len, channels);
      for (int i = 0; i < MAX_SIGNATURES; i++) {
        long v = seen.get(i);
        if (v == s || v == 0 && (seen.compareAndSet(i, 0, s) || seen.get(i) == s)) {
          return;
        }
      }
    }

    /** {@return the signature in slot i, or 0} */
    long slot(int i) {
      return seen.get(i);
    }

    @Override
    public String name() {
      return target.name();
    }

    @Override
    void shiftedSums(float[] x, int base, int stride, int planes, int len, double shift,
        double[] out, int o) {
      note(SHIFTED_SUMS, false, len, 2);
      target.shiftedSums(x, base, stride, planes, len, shift, out, o);
    }

    @Override
    void normalize(float[] x, float[] y, int base, int stride, int planes, int len, double mean,
        double alpha, double beta, boolean relu) {
      note(NORMALIZE, relu, len, 2);
      target.normalize(x, y, base, stride, planes, len, mean, alpha, beta, relu);
    }

    @Override
    void normalizeRows(float[] x, float[] y, int base, int rows, int channels, int len,
        double[] mean, double[] alpha, double[] beta, boolean relu) {
      note(NORMALIZE_ROWS, relu, len, channels);
      target.normalizeRows(x, y, base, rows, channels, len, mean, alpha, beta, relu);
    }

    @Override
    void shiftedSumsAcross(float[] x, int r0, int r1, int channels, int len, int c0, int c1,
        double[] shift, double[] out, int o, int outStride) {
      note(SHIFTED_SUMS_ACROSS, false, len, c1 - c0);
      target.shiftedSumsAcross(x, r0, r1, channels, len, c0, c1, shift, out, o, outStride);
    }

    @Override
    void backwardSumsAcross(float[] x, float[] dy, float[] reluOutput, int r0, int r1,
        int channels, int len, int c0, int c1, double[] pivot, double[] out, int o,
        int outStride) {
      note(BACKWARD_SUMS_ACROSS, reluOutput != null, len, c1 - c0);
      target.backwardSumsAcross(x, dy, reluOutput, r0, r1, channels, len, c0, c1, pivot, out, o,
          outStride);
    }

    @Override
    void scaleGradAcross(float[] x, float[] dy, float[] reluOutput, float[] dx, int r0, int r1,
        int channels, int len, int c0, int c1, double[] center, double[] scale, double[] out,
        int o, int outStride) {
      note(SCALE_GRAD_ACROSS, reluOutput != null, len, c1 - c0);
      target.scaleGradAcross(x, dy, reluOutput, dx, r0, r1, channels, len, c0, c1, center, scale,
          out, o, outStride);
    }

    @Override
    void backwardSums(float[] x, float[] dy, float[] reluOutput, int base, int stride, int planes,
        int len, double pivot, double[] out, int o) {
      note(BACKWARD_SUMS, reluOutput != null, len, 2);
      target.backwardSums(x, dy, reluOutput, base, stride, planes, len, pivot, out, o);
    }

    @Override
    void backwardDx(float[] x, float[] dy, float[] reluOutput, float[] dx, int base, int stride,
        int planes, int len, double mean, double meanDy, double k, double scale) {
      note(BACKWARD_DX, reluOutput != null, len, 2);
      target.backwardDx(x, dy, reluOutput, dx, base, stride, planes, len, mean, meanDy, k, scale);
    }

    @Override
    void backwardDxRows(float[] x, float[] dy, float[] reluOutput, float[] dx, int base, int rows,
        int channels, int len, double[] mean, double[] meanDy, double[] k, double[] scale) {
      note(BACKWARD_DX_ROWS, reluOutput != null, len, channels);
      target.backwardDxRows(x, dy, reluOutput, dx, base, rows, channels, len, mean, meanDy, k,
          scale);
    }

    @Override
    void scaleGradRows(float[] dy, float[] reluOutput, float[] dx, int base, int rows,
        int channels, int len, double[] scale) {
      note(SCALE_GRAD_ROWS, reluOutput != null, len, channels);
      target.scaleGradRows(dy, reluOutput, dx, base, rows, channels, len, scale);
    }

    @Override
    void scaleGrad(float[] x, float[] dy, float[] reluOutput, float[] dx, int base, int stride,
        int planes, int len, double center, double scale, boolean sums, double[] out, int o) {
      note(sums ? SCALE_GRAD_SUMS : SCALE_GRAD, reluOutput != null, len, 2);
      target.scaleGrad(x, dy, reluOutput, dx, base, stride, planes, len, center, scale, sums, out,
          o);
    }
  }

  /**
   * The warm-up's blocks and checks, one check per recorded signature. A round calls each check
   * {@link #EXERCISE_CALLS} times on one or two planes (or rows), which is what makes the JIT
   * compile it; a measuring round then times one vector and one scalar call of each check not yet
   * compiled, on a block of about {@link #MEASURE_VALUES} values.
   */
  private static final class Probe {
    private static final ThreadLocal<Object> OTHER_THREAD_LOCAL =
        ThreadLocal.withInitial(Object::new);

    private static final int MEASURE_VALUES = 2048;
    /** Large enough for every reduced signature's measuring block and exercise block. */
    private static final int SIZE = 4 * MEASURE_VALUES + 4 * 192;
    private static final int MAX_CHANNELS = 192;

    private final float[] x = new float[SIZE];
    private final float[] dy = new float[SIZE];
    private final float[] y = new float[SIZE];
    private final float[] dx = new float[SIZE];
    private final double[] mean = filled(0.5);
    private final double[] alpha = filled(1.25);
    private final double[] beta = filled(0.125);
    private final double[] meanDy = filled(0.01);
    private final double[] k = filled(0.3);
    private final double[] out = new double[3 * MAX_CHANNELS];

    private final long[] checks = new long[MAX_SIGNATURES];
    private final long[] bestScalar = new long[MAX_SIGNATURES];
    private final long[] bestVector = new long[MAX_SIGNATURES];
    private final boolean[] compiled = new boolean[MAX_SIGNATURES];
    private int size;

    Probe() {
      SplittableRandom random = new SplittableRandom(1);
      for (int i = 0; i < SIZE; i++) {
        x[i] = (float) (random.nextDouble() * 2 - 0.5);
        dy[i] = (float) (random.nextDouble() * 2 - 1);
        y[i] = (float) (random.nextDouble() - 0.5); // the ReLU mask: about half positive
      }
      Arrays.fill(bestScalar, Long.MAX_VALUE);
      Arrays.fill(bestVector, Long.MAX_VALUE);
    }

    private static double[] filled(double v) {
      double[] a = new double[MAX_CHANNELS];
      Arrays.fill(a, v);
      return a;
    }

    /** Adds the recorder's new signatures; returns how many. */
    int take(Delegating recorder) {
      int added = 0;
      for (int i = size; i < MAX_SIGNATURES; i++) {
        long s = recorder.slot(i);
        if (s == 0) {
          break;
        }
        checks[size++] = s;
        added++;
      }
      return added;
    }

    int size() {
      return size;
    }

    /** {@return the smallest ratio of best vector to best scalar time over the checks} */
    double bestRatio() {
      double best = Double.POSITIVE_INFINITY;
      for (int i = 0; i < size; i++) {
        if (bestVector[i] != Long.MAX_VALUE) {
          best = Math.min(best, bestVector[i] / (double) Math.max(1, bestScalar[i]));
        }
      }
      return best;
    }

    int compiledCount() {
      int n = 0;
      for (int i = 0; i < size; i++) {
        n += compiled[i] ? 1 : 0;
      }
      return n;
    }

    /**
     * Every check once, with the exercise's blocks, on two new threads, one after the other: one
     * with no thread-local values yet (a new pool worker's case) and one with some but not the
     * kernels' (the program's thread, which has the planner's), as ThreadLocal.get branches on
     * both.
     */
    void roundOnNewThread(KernelOps vector) {
      for (boolean withMap : new boolean[] {false, true}) {
        Thread t = new Thread(() -> {
          if (withMap) {
            OTHER_THREAD_LOCAL.get();
          }
          for (int i = 0; i < size; i++) {
            call(vector, checks[i], 1);
          }
        }, THREAD_NAME + "-check");
        t.setDaemon(true);
        t.start();
        try {
          t.join();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }

    /** Measures every check again. */
    void forgetCompiled() {
      Arrays.fill(compiled, false);
    }

    /** One round; returns how many checks are not compiled yet. */
    int round(KernelOps vector, boolean measure) {
      int pending = 0;
      for (int i = 0; i < size; i++) {
        long s = checks[i];
        for (int e = 0; e < EXERCISE_CALLS; e++) {
          call(vector, s, 1);
        }
        if (compiled[i]) {
          continue;
        }
        if (measure) {
          int rows = measureRows(s);
          long t0 = System.nanoTime();
          call(vector, s, rows);
          long t1 = System.nanoTime();
          call(ScalarKernels.INSTANCE, s, rows);
          long t2 = System.nanoTime();
          bestScalar[i] = Math.min(bestScalar[i], t2 - t1);
          bestVector[i] = Math.min(bestVector[i], t1 - t0);
          long values = (long) rows * blockValues(s);
          compiled[i] = t1 - t0 <= COMPILED_RATIO * bestScalar[i]
              && t1 - t0 <= MAX_NANOS_PER_VALUE * values;
        }
        if (!compiled[i]) {
          pending++;
        }
      }
      return pending;
    }

    /** The values one plane (strided methods) or one row (the others) of a check covers. */
    private static int blockValues(long s) {
      return method(s) <= SCALE_GRAD ? length(s) : length(s) * channels(s);
    }

    private static int measureRows(long s) {
      return Math.max(2, MEASURE_VALUES / blockValues(s));
    }

    /** One call with the signature's method, mask, run length and channels, on rows planes. */
    private void call(KernelOps ops, long s, int rows) {
      int len = length(s);
      int channels = channels(s);
      boolean masked = masked(s);
      float[] mask = masked ? y : null;
      int stride = channels * len;
      int base = Math.min(1, channels - 1) * len; // the second channel's strided block
      switch (method(s)) {
        case SHIFTED_SUMS:
          ops.shiftedSums(x, base, stride, rows, len, 0.25, out, 0);
          break;
        case BACKWARD_SUMS:
          ops.backwardSums(x, dy, mask, base, stride, rows, len, 0.5, out, 0);
          break;
        case NORMALIZE:
          ops.normalize(x, dx, base, stride, rows, len, 0.5, 1.25, 0.125, masked);
          break;
        case BACKWARD_DX:
          ops.backwardDx(x, dy, mask, dx, base, stride, rows, len, 0.5, 0.01, 0.3, 1.25);
          break;
        case SCALE_GRAD_SUMS:
          ops.scaleGrad(x, dy, mask, dx, base, stride, rows, len, 0.5, 1.25, true, out, 0);
          break;
        case SCALE_GRAD:
          ops.scaleGrad(null, dy, mask, dx, base, stride, rows, len, 0.0, 1.25, false, null, 0);
          break;
        case NORMALIZE_ROWS:
          ops.normalizeRows(x, dx, 0, rows, channels, len, mean, alpha, beta, masked);
          break;
        case BACKWARD_DX_ROWS:
          ops.backwardDxRows(x, dy, mask, dx, 0, rows, channels, len, mean, meanDy, k, alpha);
          break;
        case SCALE_GRAD_ROWS:
          ops.scaleGradRows(dy, mask, dx, 0, rows, channels, len, alpha);
          break;
        case SHIFTED_SUMS_ACROSS:
          ops.shiftedSumsAcross(x, 0, rows, channels, len, 0, channels, mean, out, 0, 2);
          break;
        case BACKWARD_SUMS_ACROSS:
          ops.backwardSumsAcross(x, dy, mask, 0, rows, channels, len, 0, channels, mean, out, 0,
              3);
          break;
        case SCALE_GRAD_ACROSS:
          ops.scaleGradAcross(x, dy, mask, dx, 0, rows, channels, len, 0, channels, mean, alpha,
              out, 0, 2);
          break;
        default:
          throw new AssertionError(s);
      }
    }
  }
}
