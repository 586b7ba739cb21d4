package io.github.batchnorm4j.bench;

import io.github.batchnorm4j.Tensor;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Warmup;

/**
 * batchnorm4j in a plain JVM without {@code jdk.incubator.vector} (no flag), as a library user gets
 * it after adding the jar: whatever kernels the library uses then (scalar loops, or loops C2
 * vectorizes by itself; the class keeps its historical name). Same modules and data as
 * {@link BatchNorm4jSimd}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 6, time = 100, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 5, time = 100, timeUnit = TimeUnit.MILLISECONDS)
@Fork(value = 3, jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
public class BatchNorm4jScalar {

  @Benchmark
  public Tensor trainForward(BatchNorm4jState s) {
    s.train.forward(s.x, s.y);
    return s.y;
  }

  @Benchmark
  public Tensor evalForward(BatchNorm4jState s) {
    s.eval.forward(s.x, s.y);
    return s.y;
  }

  @Benchmark
  public Tensor trainBackward(BatchNorm4jState s) {
    s.train.backward(s.dy, s.dx);
    return s.dx;
  }
}
