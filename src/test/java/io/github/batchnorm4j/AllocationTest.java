package io.github.batchnorm4j;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.batchnorm4j.testing.Allocations;
import io.github.batchnorm4j.testing.TestData;
import org.junit.jupiter.api.Test;

/**
 * The package contract: forward(x, out) and backward(dy, dx) allocate nothing in steady state, on
 * one thread and on several (the workers are persistent and the per-call state is reused).
 * Measured with the JVM's per-thread allocation counters (HotSpot), summed over the caller and the
 * worker threads.
 */
class AllocationTest {

  @Test
  void steadyStateForwardAndBackwardAllocateNothing() {
    com.sun.management.ThreadMXBean threads = Allocations.counters();

    Shape shape = Shape.of(4, 8, 5, 7);
    Tensor x = Tensor.of(shape, TestData.gaussian(TestData.rng(1), shape.numel(), 1, 0));
    Tensor dy = Tensor.of(shape, TestData.gaussian(TestData.rng(2), shape.numel(), 1, 0));
    Tensor y = Tensor.zeros(shape);
    Tensor dx = Tensor.zeros(shape);
    BatchNorm2d train = new BatchNorm2d(8);
    BatchNorm2d eval = new BatchNorm2d(8).eval();
    Runnable step = () -> {
      train.forward(x, y);
      train.backward(dy, dx);
      eval.forward(x, y);
      eval.backward(dy, dx);
    };
    for (int i = 0; i < 20_000; i++) { // let the JIT compile everything first
      step.run();
    }
    long allocated = Allocations.leastAllocated(threads,
        new long[] {Thread.currentThread().getId()}, step, 1_000, 1_000,
        Allocations.deadline());
    // 4,000 calls: anything per call would show as at least 16 bytes per call, 64,000 in all.
    assertThat(allocated).as("bytes allocated by 1,000 steps of 4 calls").isLessThan(1_000);
  }

  @Test
  void steadyStateAllocatesNothingWithTwoThreads() {
    com.sun.management.ThreadMXBean threads = Allocations.counters();

    // Large enough to be split between threads; channel counts that exercise both pass layouts.
    Shape many = Shape.of(8, 16, 16, 16);
    Shape few = Shape.of(64, 2, 16, 16);
    BatchNorm2d[] modules = {
      BatchNorm2d.builder(16).threads(2).build(), BatchNorm2d.builder(16).threads(2).build().eval(),
      BatchNorm2d.builder(2).threads(2).build(), BatchNorm2d.builder(2).threads(2).build().eval()
    };
    Shape[] shapes = {many, many, few, few};
    Tensor[] xs = new Tensor[4];
    Tensor[] dys = new Tensor[4];
    Tensor[] outs = new Tensor[4];
    for (int k = 0; k < 4; k++) {
      xs[k] = Tensor.of(shapes[k], TestData.gaussian(TestData.rng(k), shapes[k].numel(), 1,
          0));
      dys[k] = Tensor.of(shapes[k], TestData.gaussian(TestData.rng(9 + k),
          shapes[k].numel(), 1, 0));
      outs[k] = Tensor.zeros(shapes[k]);
    }
    Runnable step = () -> {
      for (int k = 0; k < 4; k++) {
        modules[k].forward(xs[k], outs[k]);
        modules[k].backward(dys[k], outs[k]);
      }
    };
    for (int i = 0; i < 3_000; i++) {
      step.run();
    }
    long allocated = Allocations.leastAllocated(threads, threadIds(), step, 300, 2_000,
        Allocations.deadline());
    // 2,400 calls: anything per call would show as at least 16 bytes per call, 38,400 in all.
    assertThat(allocated).as("bytes allocated by the caller and the workers in 2,400 calls")
        .isLessThan(2_000);
  }

  static long[] threadIds() {
    java.util.List<Long> ids = new java.util.ArrayList<>();
    ids.add(Thread.currentThread().getId());
    for (Thread t : Thread.getAllStackTraces().keySet()) {
      if (t.getName().startsWith("batchnorm4j-worker-")) {
        ids.add(t.getId());
      }
    }
    assertThat(ids).as("a worker thread was started").hasSizeGreaterThan(
        Runtime.getRuntime().availableProcessors() > 1 ? 1 : 0);
    return ids.stream().mapToLong(Long::longValue).toArray();
  }
}
