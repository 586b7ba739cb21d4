package io.github.batchnorm4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;

import java.lang.management.ManagementFactory;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The package contract: forward(x, out) and backward(dy, dx) allocate nothing in steady state on
 * one thread. Measured with the JVM's per-thread allocation counter (HotSpot).
 */
class AllocationTest {

  @Test
  void steadyStateForwardAndBackwardAllocateNothing() {
    java.lang.management.ThreadMXBean bean = ManagementFactory.getThreadMXBean();
    assumeThat(bean).isInstanceOf(com.sun.management.ThreadMXBean.class);
    com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) bean;
    assumeThat(threads.isThreadAllocatedMemorySupported()).isTrue();
    threads.setThreadAllocatedMemoryEnabled(true);

    Shape shape = Shape.of(4, 8, 5, 7);
    Tensor x = Tensor.of(shape, BatchNormReferenceProperties.random(new SplittableRandom(1),
        shape.numel(), 1, 0));
    Tensor dy = Tensor.of(shape, BatchNormReferenceProperties.random(new SplittableRandom(2),
        shape.numel(), 1, 0));
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
    long before = threads.getCurrentThreadAllocatedBytes();
    for (int i = 0; i < 1_000; i++) {
      step.run();
    }
    long allocated = threads.getCurrentThreadAllocatedBytes() - before;
    // 4,000 calls: anything per call would show as at least 16 bytes per call, 64,000 in all.
    assertThat(allocated).as("bytes allocated by 1,000 steps of 4 calls").isLessThan(1_000);
  }
}
