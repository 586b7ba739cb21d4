package io.github.batchnorm4j.bench;

import io.github.batchnorm4j.BatchNorm2d;
import io.github.batchnorm4j.KernelInfo;
import io.github.batchnorm4j.Shape;
import io.github.batchnorm4j.Tensor;
import java.time.Duration;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * Resident tensors and two modules (one in training mode with a saved forward for the backward,
 * one in eval mode). The data are N(0.5, 1) with gamma and beta away from 1 and 0, so no kernel
 * gets a trivial case.
 *
 * <p>{@code threads}: {@value #DEFAULT} builds the modules with {@code new BatchNorm2d(C)}, no
 * builder setting at all, so it measures whatever the library's defaults are at the version on the
 * class path (the thread count it then reports is recorded in the fork log); a number n builds them
 * with {@code BatchNorm2d.builder(C).threads(n)}.
 */
@State(Scope.Benchmark)
public class BatchNorm4jState {

  /** The {@code threads} value meaning "the library's defaults, no builder settings". */
  static final String DEFAULT = "default";

  @Param({"32x64x56x56", "32x256x14x14", "8x512x7x7", "128x32x8x8", "64x16x28x28", "2x4x2x2"})
  public String shape;

  @Param({DEFAULT, "1", "2"})
  public String threads;

  BatchNorm2d train;
  BatchNorm2d eval;
  Tensor x;
  Tensor y;
  Tensor dy;
  Tensor dx;
  private ForkProbe probe;

  @Setup(Level.Trial)
  public void setUp(BenchmarkParams params) throws InterruptedException {
    probe = ForkProbe.begin(params);
    BenchShape s = BenchShape.parse(shape);
    fill(Shape.of(s.n, s.c, s.h, s.w), threads);
    // With the Vector API module the library first runs its scalar kernels while the vector ones
    // compile in the background (KernelInfo): call every pass this fork measures, then wait for
    // the hand-over, so that JMH measures the kernels a long-running program gets.
    for (int i = 0; i < 20; i++) {
      train.forward(x, y);
      train.backward(dy, dx);
      eval.forward(x, y);
    }
    if (x.data().length >= KernelInfo.minVectorElements()) {
      // (smaller tensors always run the scalar kernels, and their calls start no warm-up)
      KernelInfo.awaitWarmUp(Duration.ofSeconds(60));
    }
    train.forward(x, y);
    probe.fact("libraryThreads", threadsOf(train));
    probe.fact("kernels", KernelInfo.current().toString());
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    probe.end();
  }

  /** Resident tensors and modules of this kind for any shape, outside JMH's parameters. */
  static BatchNorm4jState resident(Shape shape, int threads) {
    BatchNorm4jState state = new BatchNorm4jState();
    state.fill(shape, Integer.toString(threads));
    return state;
  }

  private void fill(Shape sh, String threads) {
    int channels = sh.dim(1);
    x = Tensor.of(sh, BenchShape.random(1, sh.numel(), 0.5));
    dy = Tensor.of(sh, BenchShape.random(2, sh.numel(), 0));
    y = Tensor.zeros(sh);
    dx = Tensor.zeros(sh);
    train = module(channels, threads);
    eval = module(channels, threads);
    for (int c = 0; c < channels; c++) {
      train.weight()[c] = eval.weight()[c] = 1.5f + 0.01f * c;
      train.bias()[c] = eval.bias()[c] = -0.25f;
    }
    eval.forward(x, y); // training-mode statistics for the eval module's running stats
    eval.eval();
    train.forward(x, y); // saved statistics for the backward
  }

  static BatchNorm2d module(int channels, String threads) {
    if (DEFAULT.equals(threads)) {
      return new BatchNorm2d(channels);
    }
    return BatchNorm2d.builder(channels).threads(Integer.parseInt(threads)).build();
  }

  /** The module's {@code threads()} if the library has that accessor, for the fork log. */
  static String threadsOf(Object module) {
    try {
      return String.valueOf(module.getClass().getMethod("threads").invoke(module));
    } catch (ReflectiveOperationException | RuntimeException e) {
      return "n/a";
    }
  }
}
