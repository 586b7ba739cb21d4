package io.github.batchnorm4j.bench;

import java.util.concurrent.TimeUnit;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * The machine's streaming bandwidth in the same run, on float arrays of each benchmark shape's
 * size, on 1 or 2 threads (the second thread a persistent spinning helper, like batchnorm4j's
 * workers): {@code copy} is {@link System#arraycopy} (reads n floats, writes n), {@code sum} a SIMD
 * float sum with four accumulators (reads n).
 *
 * <p>Two more are ceilings for the 70%-of-copy checks of the training passes: the least arithmetic
 * an elementwise pass can do, in the widest float lanes, with no statistics before it. {@code
 * affine} is {@code y = fma(x, a, b)} (reads n, writes n: the copy's own traffic), {@code
 * dxPass} is {@code dx = fma(dy, a, fma(x, b, c))} (reads 2 n, writes n). A training forward
 * writes y as {@code affine} does after reading x for its statistics, and a training backward
 * writes dx as {@code dxPass} does after reading x and dy for its sums, so neither can move its
 * minimum traffic faster than these move theirs.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 6, time = 100, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 5, time = 100, timeUnit = TimeUnit.MILLISECONDS)
@Fork(value = 3, jvmArgsAppend = {"-Xms2g", "-Xmx2g", "--add-modules", "jdk.incubator.vector"})
@State(Scope.Benchmark)
public class Bandwidth {

  private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;

  @Param({"32x64x56x56", "32x256x14x14", "8x512x7x7", "128x32x8x8", "64x16x28x28", "2x4x2x2"})
  public String shape;

  @Param({"1", "2"})
  public int threads;

  private float[] src;
  private float[] src2;
  private float[] dst;
  private Helper helper;

  private ForkProbe probe;

  @Setup(Level.Trial)
  public void setUp(BenchmarkParams params) {
    probe = ForkProbe.begin(params);
    int n = BenchShape.parse(shape).numel();
    src = BenchShape.random(3, n, 0.5);
    src2 = BenchShape.random(4, n, 0.0);
    dst = new float[n];
    if (threads > 1) {
      helper = new Helper();
      helper.start();
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() throws InterruptedException {
    if (helper != null) {
      helper.stopped = true;
      helper.join();
    }
    probe.end();
  }

  @Benchmark
  public float[] copy() {
    return split(COPY);
  }

  @Benchmark
  public float sum() {
    int n = src.length;
    if (helper == null) {
      return sum(src, 0, n);
    }
    int half = (n / 2) & ~15;
    helper.submit(SUM, half, n);
    float s = sum(src, 0, half);
    helper.await();
    return s + helper.result;
  }

  @Benchmark
  public float[] affine() {
    return split(AFFINE);
  }

  @Benchmark
  public float[] dxPass() {
    return split(DX);
  }

  /** One of the writing operations over the whole array, halved with the helper if there is one. */
  private float[] split(int op) {
    int n = src.length;
    if (helper == null) {
      run(op, 0, n);
    } else {
      int half = (n / 2) & ~15;
      helper.submit(op, half, n);
      run(op, 0, half);
      helper.await();
    }
    return dst;
  }

  private void run(int op, int from, int to) {
    if (op == COPY) {
      System.arraycopy(src, from, dst, from, to - from);
    } else if (op == AFFINE) {
      affine(src, dst, from, to, 1.25f, -0.5f);
    } else {
      dxPass(src, src2, dst, from, to, 1.25f, -0.5f, 0.25f);
    }
  }

  /** {@code y = fma(x, a, b)} over [from, to). */
  static void affine(float[] x, float[] y, int from, int to, float a, float b) {
    FloatVector av = FloatVector.broadcast(SPECIES, a);
    FloatVector bv = FloatVector.broadcast(SPECIES, b);
    int l = SPECIES.length();
    int i = from;
    for (; i <= to - l; i += l) {
      FloatVector.fromArray(SPECIES, x, i).fma(av, bv).intoArray(y, i);
    }
    for (; i < to; i++) {
      y[i] = Math.fma(x[i], a, b);
    }
  }

  /** {@code dx = fma(dy, a, fma(x, b, c))} over [from, to). */
  static void dxPass(float[] x, float[] dy, float[] dx, int from, int to, float a, float b,
      float c) {
    FloatVector av = FloatVector.broadcast(SPECIES, a);
    FloatVector bv = FloatVector.broadcast(SPECIES, b);
    FloatVector cv = FloatVector.broadcast(SPECIES, c);
    int l = SPECIES.length();
    int i = from;
    for (; i <= to - l; i += l) {
      FloatVector.fromArray(SPECIES, dy, i)
          .fma(av, FloatVector.fromArray(SPECIES, x, i).fma(bv, cv)).intoArray(dx, i);
    }
    for (; i < to; i++) {
      dx[i] = Math.fma(dy[i], a, Math.fma(x[i], b, c));
    }
  }

  static float sum(float[] a, int from, int to) {
    FloatVector s0 = FloatVector.zero(SPECIES);
    FloatVector s1 = FloatVector.zero(SPECIES);
    FloatVector s2 = FloatVector.zero(SPECIES);
    FloatVector s3 = FloatVector.zero(SPECIES);
    int l = SPECIES.length();
    int i = from;
    for (; i <= to - 4 * l; i += 4 * l) {
      s0 = s0.add(FloatVector.fromArray(SPECIES, a, i));
      s1 = s1.add(FloatVector.fromArray(SPECIES, a, i + l));
      s2 = s2.add(FloatVector.fromArray(SPECIES, a, i + 2 * l));
      s3 = s3.add(FloatVector.fromArray(SPECIES, a, i + 3 * l));
    }
    float s = s0.add(s1).add(s2.add(s3)).reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
    for (; i < to; i++) {
      s += a[i];
    }
    return s;
  }

  private static final int COPY = 1;
  private static final int SUM = 2;
  private static final int AFFINE = 3;
  private static final int DX = 4;

  /** A second thread that spins for work, so that no wake-up latency is measured. */
  private final class Helper extends Thread {
    volatile int generation;
    volatile int done;
    volatile boolean stopped;
    int op;
    int from;
    int to;
    float result;

    Helper() {
      setDaemon(true);
    }

    void submit(int what, int start, int end) {
      op = what;
      from = start;
      to = end;
      generation = generation + 1;
    }

    void await() {
      int g = generation;
      while (done != g) {
        Thread.onSpinWait();
      }
    }

    @Override
    public void run() {
      int seen = 0;
      while (!stopped) {
        int g = generation;
        if (g == seen) {
          Thread.onSpinWait();
          continue;
        }
        seen = g;
        if (op == SUM) {
          result = sum(src, from, to);
        } else {
          Bandwidth.this.run(op, from, to);
        }
        done = g;
      }
    }
  }
}
