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
 * PyTorch's training backward alone. DJL has no direct call to {@code native_batch_norm_backward},
 * so the backward runs through autograd, but the forward that records the graph runs before each
 * invocation, outside the timed region ({@code Level.Invocation} set-up, fine for operations of
 * tens of microseconds and more; the tiny shape's number is dominated by autograd's fixed cost
 * either way). Timed: {@code backward(dy)} into a fresh leaf (dx handed over without accumulation)
 * plus gamma's and beta's gradients.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 8, time = 200, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 5, time = 200, timeUnit = TimeUnit.MILLISECONDS)
@Fork(value = 3, jvmArgsAppend = {"-Xms2g", "-Xmx2g", "-Dai.djl.offline=true",
    "-Dai.djl.default_engine=PyTorch"})
@State(Scope.Benchmark)
public class TorchBackward {

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
  private PtNDArray leaf;
  private PtNDArray y;

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
    JniUtils.setGradMode(false);
    JniUtils.attachGradient(weight, true);
    JniUtils.attachGradient(bias, true);
  }

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

  @TearDown(Level.Trial)
  public void tearDown() {
    manager.close();
  }
}
