package io.github.batchnorm4j.bench;

import io.github.batchnorm4j.BatchNorm2d;
import io.github.batchnorm4j.Shape;
import io.github.batchnorm4j.Tensor;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * Resident tensors and two modules (one in training mode with a saved forward for the backward,
 * one in eval mode), built with {@code threads(threads)}. The data are N(0.5, 1) with gamma and beta
 * away from 1 and 0, so no kernel gets a trivial case.
 */
@State(Scope.Benchmark)
public class BatchNorm4jState {

  @Param({"32x64x56x56", "32x256x14x14", "8x512x7x7", "128x32x8x8", "64x16x28x28", "2x4x2x2"})
  public String shape;

  @Param({"1", "2"})
  public int threads;

  BatchNorm2d train;
  BatchNorm2d eval;
  Tensor x;
  Tensor y;
  Tensor dy;
  Tensor dx;

  @Setup(Level.Trial)
  public void setUp() {
    BenchShape s = BenchShape.parse(shape);
    fill(Shape.of(s.n, s.c, s.h, s.w), threads);
  }

  /** Resident tensors and modules of this kind for any shape, outside JMH's parameters. */
  static BatchNorm4jState resident(Shape shape, int threads) {
    BatchNorm4jState state = new BatchNorm4jState();
    state.fill(shape, threads);
    return state;
  }

  private void fill(Shape sh, int threads) {
    int channels = sh.dim(1);
    x = Tensor.of(sh, BenchShape.random(1, sh.numel(), 0.5));
    dy = Tensor.of(sh, BenchShape.random(2, sh.numel(), 0));
    y = Tensor.zeros(sh);
    dx = Tensor.zeros(sh);
    train = BatchNorm2d.builder(channels).threads(threads).build();
    eval = BatchNorm2d.builder(channels).threads(threads).build();
    for (int c = 0; c < channels; c++) {
      train.weight()[c] = eval.weight()[c] = 1.5f + 0.01f * c;
      train.bias()[c] = eval.bias()[c] = -0.25f;
    }
    eval.forward(x, y); // training-mode statistics for the eval module's running stats
    eval.eval();
    train.forward(x, y); // saved statistics for the backward
  }
}
