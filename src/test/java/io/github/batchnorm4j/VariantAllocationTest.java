package io.github.batchnorm4j;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.batchnorm4j.testing.Allocations;
import io.github.batchnorm4j.testing.VariantSteps;
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
    List<VariantSteps.Step> steps = VariantSteps.all(n, threadCount);
    // The default threads' tensors are 8 times larger: fewer runs cover as many loop iterations.
    int runs = n == 4 ? 100 : 25;
    for (int i = 0; i < 6 * runs; i++) { // let the JIT compile everything first
      for (VariantSteps.Step step : steps) {
        step.call().run();
      }
    }
    // One thread: the caller alone (no worker need exist); else the caller and the workers.
    long[] ids = threadCount == 1 ? new long[] {Thread.currentThread().getId()}
        : AllocationTest.threadIds();
    long deadline = Allocations.deadline();
    long least = 0;
    List<String> allocating = new ArrayList<>();
    for (VariantSteps.Step step : steps) {
      long fewest = Allocations.leastAllocated(counters, ids, step.call(), runs, 50,
          deadline);
      if (fewest > 0) {
        allocating.add(step.name() + ": " + fewest + " bytes");
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
