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
 * batchnorm4j with the Vector API kernels: the JVM has {@code jdk.incubator.vector}. The pair of
 * {@link BatchNorm4jScalar} differs only in that flag (Lucene's pattern).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 8, time = 200, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 5, time = 200, timeUnit = TimeUnit.MILLISECONDS)
@Fork(value = 3, jvmArgsAppend = {"-Xms2g", "-Xmx2g", "--add-modules", "jdk.incubator.vector"})
public class BatchNorm4jSimd {

  /** Training forward: batch statistics, normalization, running-statistics update. */
  @Benchmark
  public Tensor trainForward(BatchNorm4jState s) {
    s.train.forward(s.x, s.y);
    return s.y;
  }

  /** Eval forward with the running statistics. */
  @Benchmark
  public Tensor evalForward(BatchNorm4jState s) {
    s.eval.forward(s.x, s.y);
    return s.y;
  }

  /** Training backward: dx, and dgamma, dbeta added into the module's gradients. */
  @Benchmark
  public Tensor trainBackward(BatchNorm4jState s) {
    s.train.backward(s.dy, s.dx);
    return s.dx;
  }

  /** A training step, forward then backward: compare with PyTorch's autograd step. */
  @Benchmark
  public Tensor trainStep(BatchNorm4jState s) {
    s.train.forward(s.x, s.y);
    s.train.backward(s.dy, s.dx);
    return s.dx;
  }
}
