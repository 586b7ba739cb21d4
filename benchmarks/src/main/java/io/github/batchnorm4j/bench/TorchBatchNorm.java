package io.github.batchnorm4j.bench;

import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Warmup;

/**
 * PyTorch's CPU batch norm (libtorch 2.7.1, float32, through DJL's PyTorch engine, offline) on
 * the same shapes and data as batchnorm4j, at PyTorch's default thread counts or at n inter-op and
 * intra-op threads ({@link TorchState}).
 *
 * <p>The tensors are resident (created once); the forwards call {@code torch::batch_norm} directly
 * ({@link JniUtils#batchNorm}, the same native entry as {@code F.batch_norm}) with no autograd, so
 * the timed region is the kernel, the output allocation that is part of every PyTorch call, and one
 * JNI crossing. There is no direct call for the backward in DJL, so {@link #trainStep} runs
 * autograd: a fresh leaf view of x (no copy), the forward recorded, and {@code backward(dy)}, which
 * hands dx to the leaf without accumulation. The backward alone is {@link TorchBackward}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 6, time = 100, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 5, time = 100, timeUnit = TimeUnit.MILLISECONDS)
@Fork(value = 3, jvmArgsAppend = {"-Xms2g", "-Xmx2g", "-Dai.djl.offline=true",
    "-Dai.djl.default_engine=PyTorch"})
public class TorchBatchNorm extends TorchState {
  /** Training forward: batch statistics, normalization, running-statistics update. */
  @Benchmark
  public float trainForward() {
    PtNDArray y = JniUtils.batchNorm(x, runningMean, runningVar, weight, bias, true, 0.1, 1e-5);
    y.close();
    return 0f;
  }

  /** Eval forward with the running statistics. */
  @Benchmark
  public float evalForward() {
    PtNDArray y = JniUtils.batchNorm(x, runningMean, runningVar, weight, bias, false, 0.1, 1e-5);
    y.close();
    return 0f;
  }

  /** A training step with autograd: forward recorded, then backward(dy) into a fresh leaf. */
  @Benchmark
  public float trainStep() {
    JniUtils.setGradMode(true);
    PtNDArray leaf = JniUtils.detachGradient(x); // a new leaf sharing x's storage
    JniUtils.attachGradient(leaf, true);
    PtNDArray y = JniUtils.batchNorm(leaf, runningMean, runningVar, weight, bias, true, 0.1, 1e-5);
    JniUtils.backward(y, dy, false, false);
    JniUtils.setGradMode(false);
    PtNDArray dx = JniUtils.getGradient(leaf);
    dx.close();
    y.close();
    leaf.close();
    return 0f;
  }
}
