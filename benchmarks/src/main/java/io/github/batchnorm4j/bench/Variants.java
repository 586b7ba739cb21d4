package io.github.batchnorm4j.bench;

import io.github.batchnorm4j.Activation;
import io.github.batchnorm4j.BatchNorm2d;
import io.github.batchnorm4j.Layout;
import io.github.batchnorm4j.Shape;
import io.github.batchnorm4j.Tensor;
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
import org.openjdk.jmh.annotations.Warmup;

/**
 * The layout and activation variants side by side with the default module, same shape, same
 * pass, same JVM (Vector API on): channels-first or channels-last data, with or without the fused
 * ReLU. Issue 12's bound: every variant within 1.15x of "nchw" on the two large shapes.
 *
 * <p>Only the module API is used, so the same class measures any version of the library put first
 * on the class path (the "before" column of docs/kernels.md was measured that way).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 6, time = 200, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 5, time = 200, timeUnit = TimeUnit.MILLISECONDS)
@Fork(value = 3, jvmArgsAppend = {"-Xms2g", "-Xmx2g", "--add-modules", "jdk.incubator.vector"})
public class Variants {

  /** Resident tensors and a training and an eval module of one variant. */
  @State(Scope.Benchmark)
  public static class VariantState {
    @Param({"32x64x56x56", "32x256x14x14"})
    public String shape;

    @Param({"nchw", "nchw-relu", "nhwc", "nhwc-relu"})
    public String variant;

    @Param({"1", "2"})
    public int threads;

    BatchNorm2d train;
    BatchNorm2d eval;
    Tensor x;
    Tensor y;
    Tensor yEval;
    Tensor dy;
    Tensor dx;

    @Setup(Level.Trial)
    public void setUp() {
      BenchShape s = BenchShape.parse(shape);
      boolean last = variant.startsWith("nhwc");
      Shape sh = last ? Shape.of(s.n, s.h, s.w, s.c) : Shape.of(s.n, s.c, s.h, s.w);
      x = Tensor.of(sh, BenchShape.random(1, sh.numel(), 0.5));
      dy = Tensor.of(sh, BenchShape.random(2, sh.numel(), 0));
      y = Tensor.zeros(sh);
      yEval = Tensor.zeros(sh);
      dx = Tensor.zeros(sh);
      Layout layout = last ? Layout.CHANNELS_LAST : Layout.CHANNELS_FIRST;
      Activation activation = variant.endsWith("relu") ? Activation.RELU : Activation.NONE;
      train = BatchNorm2d.builder(s.c).threads(threads).layout(layout).activation(activation)
          .build();
      eval = BatchNorm2d.builder(s.c).threads(threads).layout(layout).activation(activation)
          .build();
      for (int c = 0; c < s.c; c++) {
        train.weight()[c] = eval.weight()[c] = 1.5f + 0.01f * c;
        train.bias()[c] = eval.bias()[c] = -0.25f;
      }
      eval.forward(x, yEval); // running statistics from a training step
      eval.eval();
      train.forward(x, y); // saved statistics (and the ReLU's output) for the backward
    }
  }

  /** Training forward. */
  @Benchmark
  public Tensor trainForward(VariantState s) {
    s.train.forward(s.x, s.y);
    return s.y;
  }

  /** Eval forward (into its own output, so the training module's saved output stays). */
  @Benchmark
  public Tensor evalForward(VariantState s) {
    s.eval.forward(s.x, s.yEval);
    return s.yEval;
  }

  /** Training backward, with parameter gradients. */
  @Benchmark
  public Tensor trainBackward(VariantState s) {
    s.train.backward(s.dy, s.dx);
    return s.dx;
  }
}
