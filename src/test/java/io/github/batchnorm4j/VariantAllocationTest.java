package io.github.batchnorm4j;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.batchnorm4j.testing.Allocations;
import io.github.batchnorm4j.testing.TestData;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The zero-allocation contract for every variant, with the default threads (automatic: shared
 * with the workers at this size), on one thread and on two: channels-first and channels-last, with
 * and without the fused ReLU, with the unbiased and the biased running variance, in training and
 * in eval mode, forward and backward; and FrozenBatchNorm2d. Bytes are counted on the caller and
 * on the worker threads.
 */
class VariantAllocationTest {

  @ParameterizedTest(name = "threads {0} (0: the default)")
  @ValueSource(ints = {BatchNormOptions.AUTO_THREADS, 1, 2})
  void steadyStateAllocatesNothingInAnyVariant(int threadCount) {
    com.sun.management.ThreadMXBean counters = Allocations.counters();

    // 36,864 values: large enough to be shared between two threads; with the default threads
    // 294,912, enough to be shared by default.
    int n = threadCount == BatchNormOptions.AUTO_THREADS ? 32 : 4;
    Shape nchw = Shape.of(n, 16, 24, 24);
    Shape nhwc = Shape.of(n, 24, 24, 16);
    float[] x = TestData.gaussian(TestData.rng(3), nchw.numel(), 1, 0.5);
    float[] dy = TestData.gaussian(TestData.rng(4), nchw.numel(), 1, 0);
    List<Runnable> calls = new ArrayList<>();
    List<String> names = new ArrayList<>();
    for (Layout layout : Layout.values()) {
      Shape shape = layout == Layout.CHANNELS_FIRST ? nchw : nhwc;
      Tensor xs = Tensor.of(shape, x);
      Tensor dys = Tensor.of(shape, dy);
      for (Activation activation : Activation.values()) {
        for (boolean unbiased : new boolean[] {true, false}) {
          for (boolean training : new boolean[] {true, false}) {
            BatchNorm2d bn = BatchNorm2d.builder(16).layout(layout).activation(activation)
                .unbiasedRunningVar(unbiased).threads(threadCount).build();
            if (!training) {
              bn.eval();
            }
            Tensor y = Tensor.zeros(shape);
            Tensor dx = Tensor.zeros(shape);
            calls.add(() -> {
              bn.forward(xs, y);
              bn.backward(dys, dx);
            });
            names.add(bn + (training ? " training" : " eval"));
          }
        }
        FrozenBatchNorm2d frozen = FrozenBatchNorm2d.builder(16).layout(layout)
            .activation(activation).threads(threadCount).build();
        Tensor y = Tensor.zeros(shape);
        Tensor dx = Tensor.zeros(shape);
        calls.add(() -> {
          frozen.forward(xs, y);
          frozen.backward(dys, dx);
        });
        names.add(frozen.toString());
      }
    }
    Runnable[] steps = calls.toArray(new Runnable[0]);
    // The default threads' tensors are 8 times larger: fewer runs cover as many loop iterations.
    int runs = n == 4 ? 100 : 25;
    for (int i = 0; i < 6 * runs; i++) { // let the JIT compile everything first
      for (Runnable call : steps) {
        call.run();
      }
    }
    // One thread: the caller alone (no worker need exist); else the caller and the workers.
    long[] ids = threadCount == 1 ? new long[] {Thread.currentThread().getId()}
        : AllocationTest.threadIds();
    long least = 0;
    List<String> allocating = new ArrayList<>();
    for (int k = 0; k < steps.length; k++) {
      long fewest = Long.MAX_VALUE;
      for (int window = 0; window < 3; window++) { // a one-off JVM event lands in one window only
        long before = AllocationTest.sum(counters.getThreadAllocatedBytes(ids));
        for (int i = 0; i < runs; i++) {
          steps[k].run();
        }
        fewest = Math.min(fewest,
            AllocationTest.sum(counters.getThreadAllocatedBytes(ids)) - before);
      }
      if (fewest > 0) {
        allocating.add(names.get(k) + ": " + fewest + " bytes");
      }
      least += fewest;
    }
    // 100 (25) runs of 20 modules, 2 calls each: 4,000 (1,000) calls; anything per call would
    // show as at least 16 bytes per call, 64,000 (16,000) in all.
    assertThat(least).as("bytes allocated by the caller and the workers in "
        + (40 * runs) + " calls; " + allocating)
        .isLessThan(1_000);
  }
}
