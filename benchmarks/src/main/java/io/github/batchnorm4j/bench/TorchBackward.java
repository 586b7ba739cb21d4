package io.github.batchnorm4j.bench;

import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * PyTorch's training backward alone. DJL has no direct call to {@code native_batch_norm_backward},
 * so the backward runs through autograd, but the forward that records the graph runs before each
 * invocation, outside the timed region ({@code Level.Invocation} set-up, fine for operations of
 * tens of microseconds and more; the tiny shape's number is dominated by autograd's fixed cost
 * either way). Timed: {@code backward(dy)} into a fresh leaf (dx handed over without accumulation)
 * plus gamma's and beta's gradients.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 6, time = 100, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 5, time = 100, timeUnit = TimeUnit.MILLISECONDS)
@Fork(value = 3, jvmArgsAppend = {"-Xms2g", "-Xmx2g", "-Dai.djl.offline=true",
    "-Dai.djl.default_engine=PyTorch"})
public class TorchBackward extends TorchState {

  private PtNDArray leaf;
  private PtNDArray y;

  /** Records the forward (untimed): a fresh leaf view of x, batch norm in training mode. */
  @Setup(Level.Invocation)
  public void forward() {
    JniUtils.setGradMode(true);
    leaf = JniUtils.detachGradient(x);
    JniUtils.attachGradient(leaf, true);
    y = JniUtils.batchNorm(leaf, runningMean, runningVar, weight, bias, true, 0.1, 1e-5);
    JniUtils.setGradMode(false);
  }

  /** The training backward: dx into the leaf, dgamma and dbeta accumulated. */
  @Benchmark
  public PtNDArray trainBackward() {
    JniUtils.backward(y, dy, false, false);
    return leaf;
  }

  @TearDown(Level.Invocation)
  public void release() {
    PtNDArray dx = JniUtils.getGradient(leaf);
    dx.close();
    y.close();
    leaf.close();
  }
}
