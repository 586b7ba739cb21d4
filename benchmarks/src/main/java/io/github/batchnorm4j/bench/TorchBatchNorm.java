package io.github.batchnorm4j.bench;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
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
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * PyTorch's CPU batch norm (libtorch 2.7.1, float32, through DJL's PyTorch engine, offline) on
 * the same shapes and data as batchnorm4j, with {@code torch.set_num_threads(threads)}.
 *
 * <p>The tensors are resident (created once); the forwards call {@code torch::batch_norm} directly
 * ({@link JniUtils#batchNorm}, the same native entry as {@code F.batch_norm}) with no autograd, so
 * the timed region is the kernel, the output allocation that is part of every PyTorch call, and one
 * JNI crossing. There is no direct call for the backward in DJL, so {@link #trainStep} runs
 * autograd: a fresh leaf view of x (no copy), the forward recorded, and {@code backward(dy)}, which
 * hands dx to the leaf without accumulation. The backward alone is reported as trainStep minus
 * trainForward.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 8, time = 200, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 5, time = 200, timeUnit = TimeUnit.MILLISECONDS)
@Fork(value = 3, jvmArgsAppend = {"-Xms2g", "-Xmx2g", "-Dai.djl.offline=true",
    "-Dai.djl.default_engine=PyTorch"})
@State(Scope.Benchmark)
public class TorchBatchNorm {

  @Param({"32x64x56x56", "32x256x14x14", "8x512x7x7", "128x32x8x8", "64x16x28x28", "2x4x2x2"})
  public String shape;

  @Param({"1", "2"})
  public int threads;

  private NDManager manager;
  private PtNDArray x;
  private PtNDArray dy;
  private PtNDArray weight;
  private PtNDArray bias;
  private PtNDArray runningMean;
  private PtNDArray runningVar;

  @Setup(Level.Trial)
  public void setUp() {
    Engine engine = Engine.getEngine("PyTorch");
    JniUtils.setNumThreads(threads);
    manager = engine.newBaseManager(Device.cpu());
    BenchShape s = BenchShape.parse(shape);
    Shape sh = new Shape(s.n, s.c, s.h, s.w);
    x = (PtNDArray) manager.create(BenchShape.random(1, s.numel(), 0.5), sh);
    dy = (PtNDArray) manager.create(BenchShape.random(2, s.numel(), 0), sh);
    float[] w = new float[s.c];
    float[] b = new float[s.c];
    float[] ones = new float[s.c];
    for (int c = 0; c < s.c; c++) {
      w[c] = 1.5f + 0.01f * c;
      b[c] = -0.25f;
      ones[c] = 1f;
    }
    Shape cs = new Shape(s.c);
    weight = (PtNDArray) manager.create(w, cs);
    bias = (PtNDArray) manager.create(b, cs);
    runningMean = (PtNDArray) manager.create(new float[s.c], cs);
    runningVar = (PtNDArray) manager.create(ones, cs);
    // As in training: gamma and beta take gradients (in trainStep only; the forwards run with
    // grad mode off and record nothing).
    JniUtils.setGradMode(false);
    JniUtils.attachGradient(weight, true);
    JniUtils.attachGradient(bias, true);
    if (JniUtils.getNumThreads() != threads) {
      throw new IllegalStateException("torch threads " + JniUtils.getNumThreads() + " != " + threads);
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    manager.close();
  }

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
