package io.github.batchnorm4j;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.batchnorm4j.testing.Allocations;
import io.github.batchnorm4j.testing.TestData;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The zero-allocation contract also holds for the interop variants on one thread: channels-last,
 * fused ReLU, the biased running variance, and FrozenBatchNorm2d (their scratch space is kept per
 * thread and reused).
 */
class VariantAllocationTest {

  @Test
  void steadyStateVariantsAllocateNothingOnOneThread() {
    com.sun.management.ThreadMXBean threads = Allocations.counters();

    Shape nchw = Shape.of(4, 8, 5, 7);
    Shape nhwc = Shape.of(4, 5, 7, 8);
    SplittableRandom rnd = TestData.rng(3);
    float[] x = TestData.gaussian(rnd, nchw.numel(), i -> 1 + i % 3, 1);
    float[] dy = TestData.gaussian(rnd, nchw.numel(), i -> 1 + i % 3, 0);
    BatchNorm2d[] modules = {
      BatchNorm2d.builder(8).layout(Layout.CHANNELS_LAST).build(),
      BatchNorm2d.builder(8).layout(Layout.CHANNELS_LAST).activation(Activation.RELU).build().eval(),
      BatchNorm2d.builder(8).activation(Activation.RELU).build(),
      BatchNorm2d.builder(8).unbiasedRunningVar(false).build(),
    };
    Shape[] shapes = {nhwc, nhwc, nchw, nchw};
    FrozenBatchNorm2d frozen = FrozenBatchNorm2d.builder(8).layout(Layout.CHANNELS_LAST)
        .activation(Activation.RELU).build();
    Tensor[] xs = new Tensor[4];
    Tensor[] dys = new Tensor[4];
    Tensor[] ys = new Tensor[4];
    Tensor[] dxs = new Tensor[4];
    for (int k = 0; k < 4; k++) {
      xs[k] = Tensor.of(shapes[k], x);
      dys[k] = Tensor.of(shapes[k], dy);
      ys[k] = Tensor.zeros(shapes[k]);
      dxs[k] = Tensor.zeros(shapes[k]);
    }
    Runnable step = () -> {
      for (int k = 0; k < 4; k++) {
        modules[k].forward(xs[k], ys[k]);
        modules[k].backward(dys[k], dxs[k]);
      }
      frozen.forward(xs[0], ys[0]);
      frozen.backward(dys[0], dxs[0]);
    };
    for (int i = 0; i < 5_000; i++) { // let the JIT compile everything first
      step.run();
    }
    long allocated = Allocations.leastAllocatedInThreeWindows(threads, step, 500);
    // 5,000 calls: anything per call would show as at least 16 bytes per call, 80,000 in all.
    assertThat(allocated).as("bytes allocated by 500 steps of 10 calls").isLessThan(1_000);
  }
}
