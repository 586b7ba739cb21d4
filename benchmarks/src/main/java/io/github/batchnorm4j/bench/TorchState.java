package io.github.batchnorm4j.bench;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Resident libtorch tensors for the PyTorch benchmarks, the same data as {@link BatchNorm4jState}:
 * x ~ N(0.5, 1), dy ~ N(0, 1), gamma and beta away from 1 and 0 (and taking gradients, as in
 * training), running statistics at their initial values, and libtorch's thread count set to
 * {@code threads}.
 */
@State(Scope.Benchmark)
public abstract class TorchState {

  @Param({"32x64x56x56", "32x256x14x14", "8x512x7x7", "128x32x8x8", "64x16x28x28", "2x4x2x2"})
  public String shape;

  @Param({"1", "2"})
  public int threads;

  NDManager manager;
  PtNDArray x;
  PtNDArray dy;
  PtNDArray weight;
  PtNDArray bias;
  PtNDArray runningMean;
  PtNDArray runningVar;

  @Setup(Level.Trial)
  public void createTensors() {
    Engine engine = Engine.getEngine("PyTorch");
    JniUtils.setNumThreads(threads);
    if (JniUtils.getNumThreads() != threads) {
      throw new IllegalStateException("torch threads " + JniUtils.getNumThreads() + " != " + threads);
    }
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
    // Gradients for gamma and beta, as in training; grad mode stays off outside recorded forwards.
    JniUtils.setGradMode(false);
    JniUtils.attachGradient(weight, true);
    JniUtils.attachGradient(bias, true);
  }

  @TearDown(Level.Trial)
  public void closeTensors() {
    manager.close();
  }
}
