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
 * batchnorm4j in a JVM with {@code --add-modules jdk.incubator.vector} (the "flag"), so the library
 * can use its Vector API kernels. The pair of {@link BatchNorm4jScalar} differs only in that flag
 * (Lucene's pattern). The modules come from {@link BatchNorm4jState}: the library's defaults, or
 * {@code threads(n)}. The fork settings here are those of benchmarks/run.sh, which also passes them
 * on the command line.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 6, time = 100, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 5, time = 100, timeUnit = TimeUnit.MILLISECONDS)
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
