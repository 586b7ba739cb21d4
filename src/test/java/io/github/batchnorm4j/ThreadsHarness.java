package io.github.batchnorm4j;

import io.github.batchnorm4j.internal.ChannelParallel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Measures what the default threads rest on (issue 13, item 1), with System.nanoTime. Not a test
 * (surefire does not pick it up); run it after {@code ./mvnw test-compile}, with or without
 * {@code --add-modules jdk.incubator.vector}:
 *
 * <pre>
 * # 1 vs 2 threads around the size threshold: per call, medians; the threshold lifted so that
 * # 2 threads really run on small calls. gapMicros = 0: calls back to back (the worker is awake);
 * # gapMicros = 1000: 1 ms of the caller's own work before every call (the worker has parked).
 * java -Dbatchnorm4j.minParallelElements=0 -cp target/classes:target/test-classes \
 *     io.github.batchnorm4j.ThreadsHarness threshold 0
 *
 * # The same table for threads(1) against the default threads (no threshold lifted): back to
 * # back (gap 0) a call from 131,072 values is shared, after 1 ms of other work only from 262,144
 * # (131,072 for the scalar kernels' training calls).
 * java -cp target/classes:target/test-classes io.github.batchnorm4j.ThreadsHarness defaults 0
 *
 * # What the workers' spinning costs a busy thread of the application: a thread running a fixed
 * # workload while the caller alternates 300 us of its own work with a training forward and
 * # backward; its throughput with the default threads (the worker spinning n ns after each call)
 * # against threads(1), over 8 s.
 * java -Dbatchnorm4j.spinNanos=100000 -cp target/classes:target/test-classes \
 *     io.github.batchnorm4j.ThreadsHarness spin 8 300
 *
 * # The worker's CPU time per call beyond its items (two trivial items, 1 ms apart).
 * java -cp target/classes:target/test-classes io.github.batchnorm4j.ThreadsHarness spincpu 1000
 *
 * # What waking a parked thread costs its waker, and how soon the woken thread runs.
 * java -cp target/classes:target/test-classes io.github.batchnorm4j.ThreadsHarness unpark
 * </pre>
 */
public final class ThreadsHarness {

  private static volatile long sink;

  private ThreadsHarness() {}

  /**
   * Runs one measurement, see the class comment.
   *
   * @param args {@code threshold [gapMicros [rounds]]}, {@code defaults [gapMicros [rounds]]},
   *     {@code spin [seconds [gapMicros]]},
   *     {@code spincpu [gapMicros]} or {@code unpark}
   * @throws InterruptedException if interrupted
   */
  public static void main(String[] args) throws InterruptedException {
    String mode = args.length > 0 ? args[0] : "threshold";
    System.out.printf(Locale.ROOT, "# %s, java %s, %d processors, kernels: %s, load %s%n", mode,
        System.getProperty("java.version"), Runtime.getRuntime().availableProcessors(),
        io.github.batchnorm4j.internal.KernelOps.get().name(), load());
    if (mode.equals("unpark")) {
      unpark();
    } else if (mode.equals("spincpu")) {
      spinCpu(args.length > 1 ? Integer.parseInt(args[1]) : 1000);
    } else if (mode.equals("spin")) {
      spin(args.length > 1 ? Double.parseDouble(args[1]) : 4,
          args.length > 2 ? Integer.parseInt(args[2]) : 1000);
    } else {
      // threads(2), or the default threads (0), against threads(1).
      threshold(args.length > 1 ? Integer.parseInt(args[1]) : 0,
          args.length > 2 ? Integer.parseInt(args[2]) : 7, mode.equals("defaults") ? 0 : 2);
    }
    System.out.printf(Locale.ROOT, "# load after: %s%n", load());
  }

  private static String load() {
    try {
      return new String(java.nio.file.Files.readAllBytes(java.nio.file.Path.of("/proc/loadavg")))
          .trim();
    } catch (java.io.IOException e) {
      return "?";
    }
  }

  /** The table of 1 thread against {@code other} threads (0: the default threads). */
  private static void threshold(int gapMicros, int rounds, int other) {
    List<Shape> shapes = new ArrayList<>();
    for (int n : new int[] {4, 8, 16, 24, 32, 48, 64}) {
      shapes.add(Shape.of(n, 32, 16, 16)); // 8,192 values per sample: 32,768 to 524,288
    }
    for (int n : new int[] {128, 256, 512, 768, 1024, 1536, 2048}) {
      shapes.add(Shape.of(n, 256)); // BatchNorm1d, the short-plane kernels
    }
    shapes.add(Shape.of(8, 512, 7, 7)); // the two smaller shapes of the benchmarks
    shapes.add(Shape.of(128, 32, 8, 8));
    System.out.printf(Locale.ROOT, "# gap %d us before each timed call, %d rounds%n", gapMicros,
        rounds);
    String name = other == 0 ? "default threads" : other + " threads";
    System.out.println("shape | elements | pass | 1 thread us | " + name + " us | 1 / other"
        + " | worker items per call of " + name);
    for (Shape shape : shapes) {
      for (String pass : new String[] {"train forward", "train backward", "eval forward"}) {
        double[] us = new double[2];
        double[][] perRound = new double[2][rounds];
        Case[] cases = {new Case(shape, 1, pass), new Case(shape, other, pass)};
        long budget = 150_000_000L; // warm-up: 150 ms per case, whatever the size
        for (Case c : cases) {
          long end = System.nanoTime() + budget;
          while (System.nanoTime() < end) {
            c.call(0);
          }
        }
        int calls = Math.max(20, (int) Math.min(400, 40_000_000L / (shape.numel() * 4)));
        long workerItems = 0;
        for (int r = 0; r < rounds; r++) {
          for (int k = 0; k < 2; k++) {
            int which = (r & 1) == 0 ? k : 1 - k; // alternate which goes first
            Case c = cases[which];
            long before = ChannelParallel.itemsRunByWorkers();
            long[] times = new long[calls];
            for (int i = 0; i < calls; i++) {
              times[i] = c.call(gapMicros);
            }
            if (which == 1) {
              workerItems += ChannelParallel.itemsRunByWorkers() - before;
            }
            Arrays.sort(times);
            perRound[which][r] = times[calls / 2] / 1e3;
          }
        }
        for (int k = 0; k < 2; k++) {
          double[] v = perRound[k].clone();
          Arrays.sort(v);
          us[k] = v[rounds / 2];
        }
        System.out.printf(Locale.ROOT, "%s | %d | %s | %.1f | %.1f | %.2f | %.2f%n", shape,
            shape.numel(), pass, us[0], us[1], us[0] / us[1],
            workerItems / (double) (rounds * calls));
      }
    }
  }

  /** One module and its tensors; {@link #call} times one call of the pass. */
  private static final class Case {
    final int threads;
    final String pass;
    final BatchNorm module;
    final Tensor x;
    final Tensor dy;
    final Tensor y;
    final Tensor dx;

    Case(Shape shape, int threads, String pass) {
      this.threads = threads;
      this.pass = pass;
      int c = shape.dim(1);
      module = shape.rank() == 2 ? BatchNorm1d.builder(c).threads(threads).build()
          : BatchNorm2d.builder(c).threads(threads).build();
      x = Tensor.of(shape, gaussian(shape.numel(), 1));
      dy = Tensor.of(shape, gaussian(shape.numel(), 2));
      y = Tensor.zeros(shape);
      dx = Tensor.zeros(shape);
      if (pass.equals("eval forward")) {
        module.eval();
      }
    }

    long call(int gapMicros) {
      work(gapMicros);
      long t0;
      if (pass.equals("train backward")) {
        module.forward(x, y);
        work(gapMicros);
        t0 = System.nanoTime();
        module.backward(dy, dx);
      } else {
        t0 = System.nanoTime();
        module.forward(x, y);
      }
      return System.nanoTime() - t0;
    }
  }

  /** The caller's own work (another layer, say) for about {@code micros} µs. */
  static void work(long micros) {
    if (micros <= 0) {
      return;
    }
    long end = System.nanoTime() + micros * 1000;
    long s = 0;
    while (System.nanoTime() < end) {
      for (int i = 0; i < 100; i++) {
        s = s * 6364136223846793005L + i;
      }
    }
    sink += s;
  }

  static float[] gaussian(int n, long seed) {
    SplittableRandom rng = new SplittableRandom(seed);
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) (rng.nextDouble() * 2 - 1);
    }
    return v;
  }

  /**
   * A busy thread of the application runs a fixed workload in chunks while the caller alternates
   * {@code gapMicros} of its own work (another layer) with a training forward and backward on
   * (32, 64, 16, 16), in slots of 200 ms that alternate threads(1) (no worker involved) and the
   * default threads (the worker spins after each call for the configured time, then parks). Per
   * pair of adjacent slots: the busy thread's throughput with the default threads over that with
   * threads(1), the caller's steps likewise, and the CPU time the workers used per step (items
   * and spinning; on a machine with no idle core every µs of it is taken from another thread).
   */
  private static void spin(double seconds, int gapMicros) throws InterruptedException {
    Shape shape = Shape.of(32, 64, 16, 16);
    System.out.printf(Locale.ROOT, "# spin %s ns, yield %s; step: %d us of the caller's work,"
        + " forward, %d us, backward on %s%n",
        System.getProperty("batchnorm4j.spinNanos", "default"),
        System.getProperty("batchnorm4j.spinYield", "default"), gapMicros, gapMicros, shape);
    BatchNorm2d one = BatchNorm2d.builder(64).threads(1).build();
    BatchNorm2d auto = new BatchNorm2d(64);
    Tensor x = Tensor.of(shape, gaussian(shape.numel(), 1));
    Tensor dy = Tensor.of(shape, gaussian(shape.numel(), 2));
    Tensor y = Tensor.zeros(shape);
    Tensor dx = Tensor.zeros(shape);
    for (BatchNorm2d bn : new BatchNorm2d[] {one, auto}) { // warm-up
      for (int i = 0; i < 2000; i++) {
        bn.forward(x, y);
        bn.backward(dy, dx);
      }
    }
    java.lang.management.ThreadMXBean mx =
        java.lang.management.ManagementFactory.getThreadMXBean();
    List<Long> workers = workerIds();
    long[] chunks = new long[1];
    Thread busy = new Thread(() -> {
      long s = 0;
      while (!Thread.currentThread().isInterrupted()) {
        for (int i = 0; i < 20_000; i++) { // about 20 to 40 µs
          s = s * 6364136223846793005L + i;
        }
        synchronized (chunks) {
          chunks[0]++;
        }
      }
      sink += s;
    }, "busy");
    busy.setDaemon(true);
    busy.start();
    int pairs = Math.max(3, (int) (seconds / 0.4));
    double[] busyRatio = new double[pairs];
    double[] stepRatio = new double[pairs];
    double[] workerUs = new double[pairs];
    double[] oneRate = new double[pairs];
    for (int p = 0; p < pairs; p++) {
      double[] busyRate = new double[2];
      double[] stepRate = new double[2];
      for (int k = 0; k < 2; k++) {
        boolean isAuto = ((p & 1) == 0) == (k == 1); // alternate which goes first
        BatchNorm2d bn = isAuto ? auto : one;
        long c0;
        synchronized (chunks) {
          c0 = chunks[0];
        }
        long cpu0 = cpu(mx, workers);
        long steps = 0;
        long t0 = System.nanoTime();
        long end = t0 + 200_000_000L;
        while (System.nanoTime() < end) {
          work(gapMicros);
          bn.forward(x, y);
          work(gapMicros);
          bn.backward(dy, dx);
          steps++;
        }
        double elapsed = (System.nanoTime() - t0) / 1e9;
        long c1;
        synchronized (chunks) {
          c1 = chunks[0];
        }
        int slot = isAuto ? 1 : 0;
        busyRate[slot] = (c1 - c0) / elapsed;
        stepRate[slot] = steps / elapsed;
        if (isAuto) {
          workerUs[p] = (cpu(mx, workers) - cpu0) / 1e3 / steps;
        }
      }
      busyRatio[p] = busyRate[1] / busyRate[0];
      stepRatio[p] = stepRate[1] / stepRate[0];
      oneRate[p] = busyRate[0];
    }
    busy.interrupt();
    System.out.printf(Locale.ROOT, "pairs %d: busy thread default / threads(1) median %.3f"
        + " [%s]; caller steps default / threads(1) median %.3f; worker CPU per step median"
        + " %.1f us; busy chunks/s with threads(1) median %.0f%n", pairs, median(busyRatio),
        quartiles(busyRatio), median(stepRatio), median(workerUs), median(oneRate));
  }

  /**
   * The CPU time a worker uses per call beyond its items: calls of two trivial items (one for
   * the caller, one for the worker, about 1 µs each) separated by {@code gapMicros} of the
   * caller's own work, so that the worker spins its full time after each call and then parks.
   */
  private static void spinCpu(int gapMicros) {
    ChannelParallel.Work w = item -> work(1);
    for (int i = 0; i < 2000; i++) {
      ChannelParallel.run(w, 2, 2);
    }
    java.lang.management.ThreadMXBean mx =
        java.lang.management.ManagementFactory.getThreadMXBean();
    List<Long> workers = workerIds();
    int rounds = 9;
    int calls = 500;
    double[] perCall = new double[rounds];
    double[] callerUs = new double[rounds];
    for (int r = 0; r < rounds; r++) {
      long cpu0 = cpu(mx, workers);
      long inCall = 0;
      for (int i = 0; i < calls; i++) {
        work(gapMicros);
        long t0 = System.nanoTime();
        ChannelParallel.run(w, 2, 2);
        inCall += System.nanoTime() - t0;
      }
      perCall[r] = (cpu(mx, workers) - cpu0) / 1e3 / calls;
      callerUs[r] = inCall / 1e3 / calls;
    }
    System.out.printf(Locale.ROOT, "spin %s ns: worker CPU per call median %.1f us [%s];"
        + " caller's time in the call median %.1f us%n",
        System.getProperty("batchnorm4j.spinNanos", "default"), median(perCall),
        quartiles(perCall), median(callerUs));
  }

  private static volatile long woke;
  private static volatile boolean parked;

  /**
   * What waking a parked thread costs: the time {@code LockSupport.unpark} takes its caller, and
   * the time until the woken thread runs, 1 ms of the caller's own work apart (300 wake-ups).
   */
  private static void unpark() {
    Thread sleeper = new Thread(() -> {
      while (true) {
        parked = true;
        java.util.concurrent.locks.LockSupport.park();
        parked = false;
        woke = System.nanoTime();
      }
    }, "sleeper");
    sleeper.setDaemon(true);
    sleeper.start();
    int n = 300;
    long[] call = new long[n];
    long[] latency = new long[n];
    for (int i = -50; i < n; i++) {
      work(1000);
      while (!parked) {
        Thread.onSpinWait();
      }
      long t0 = System.nanoTime();
      java.util.concurrent.locks.LockSupport.unpark(sleeper);
      long t1 = System.nanoTime();
      while (woke < t0) {
        Thread.onSpinWait();
      }
      if (i >= 0) {
        call[i] = t1 - t0;
        latency[i] = woke - t0;
      }
    }
    Arrays.sort(call);
    Arrays.sort(latency);
    System.out.printf(Locale.ROOT, "unpark: the caller's time median %.1f us (90th percentile"
        + " %.1f); until the woken thread runs median %.1f us (90th percentile %.1f)%n",
        call[n / 2] / 1e3, call[9 * n / 10] / 1e3, latency[n / 2] / 1e3,
        latency[9 * n / 10] / 1e3);
  }

  /** {@return the ids of the library's worker threads alive now} */
  private static List<Long> workerIds() {
    List<Long> workers = new ArrayList<>();
    for (Thread t : Thread.getAllStackTraces().keySet()) {
      if (t.getName().startsWith("batchnorm4j-worker-")) {
        workers.add(t.getId());
      }
    }
    return workers;
  }

  private static long cpu(java.lang.management.ThreadMXBean mx, List<Long> ids) {
    long sum = 0;
    for (long id : ids) {
      sum += Math.max(0, mx.getThreadCpuTime(id));
    }
    return sum;
  }

  static double median(double[] values) {
    double[] v = values.clone();
    Arrays.sort(v);
    return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  }

  static String quartiles(double[] values) {
    double[] v = values.clone();
    Arrays.sort(v);
    return String.format(Locale.ROOT, "%.3f-%.3f", v[v.length / 4], v[(3 * v.length) / 4]);
  }
}
