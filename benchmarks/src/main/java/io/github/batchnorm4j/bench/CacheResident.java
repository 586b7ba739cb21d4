package io.github.batchnorm4j.bench;

import io.github.batchnorm4j.Shape;
import io.github.batchnorm4j.Tensor;
import java.util.concurrent.TimeUnit;
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
import org.openjdk.jmh.annotations.Warmup;

/**
 * The arithmetic alone: batchnorm4j's SIMD passes on a tensor small enough to stay in the L2
 * cache between calls (about 25,000 values, 100 KB per array), with the planes of a large
 * benchmark shape. Its time per value, times the large shape's values, is what the large shape
 * would cost if memory were free: the report compares it with the copy bandwidth, to tell a
 * memory-bound pass from a compute-bound one.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 8, time = 200, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 5, time = 200, timeUnit = TimeUnit.MILLISECONDS)
@Fork(value = 3, jvmArgsAppend = {"-Xms2g", "-Xmx2g", "--add-modules", "jdk.incubator.vector"})
public class CacheResident {

  /** About this many values, four channels: 100 KB per array, a few hundred KB per pass. */
  static final int VALUES = 25_088;

  static final int CHANNELS = 4;

  /** The resident tensor for the planes (H, W) of a benchmark shape. */
  @State(Scope.Benchmark)
  public static class Small {

    /** The large shape whose planes are used: the report's key. */
    @Param({"32x64x56x56", "32x256x14x14"})
    public String shape;

    /** One thread: the floor is per core. */
    @Param({"1"})
    public int threads;

    /** The cached tensor's modules and data, built as {@link BatchNorm4jState} builds them. */
    BatchNorm4jState m;

    @Setup(Level.Trial)
    public void setUp() {
      m = BatchNorm4jState.resident(smallShape(BenchShape.parse(shape)), 1);
    }
  }

  /** (N', 4, H, W) with N' * 4 * H * W about {@link #VALUES}. */
  static Shape smallShape(BenchShape s) {
    int plane = s.h * s.w;
    return Shape.of(Math.max(1, VALUES / (CHANNELS * plane)), CHANNELS, s.h, s.w);
  }

  @Benchmark
  public Tensor trainForward(Small s) {
    s.m.train.forward(s.m.x, s.m.y);
    return s.m.y;
  }

  @Benchmark
  public Tensor evalForward(Small s) {
    s.m.eval.forward(s.m.x, s.m.y);
    return s.m.y;
  }

  @Benchmark
  public Tensor trainBackward(Small s) {
    s.m.train.backward(s.m.dy, s.m.dx);
    return s.m.dx;
  }
}
