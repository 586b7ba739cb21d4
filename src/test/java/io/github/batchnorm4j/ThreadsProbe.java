package io.github.batchnorm4j;

import io.github.batchnorm4j.internal.ChannelParallel;

/**
 * Run in a fresh JVM by {@link DefaultThreadsTest} to see {@code -Dbatchnorm4j.threads} end to
 * end: prints the automatic limit, then how many work items the worker threads ran during large
 * calls of a module with the default threads, then during those of a module with threads(2).
 */
public final class ThreadsProbe {

  private ThreadsProbe() {}

  /**
   * Prints {@code automatic n}, {@code default worker items k}, {@code explicit worker items k}.
   *
   * @param args ignored
   */
  public static void main(String[] args) {
    System.out.println("automatic " + BatchNormOptions.automaticThreads());
    Shape shape = Shape.of(4, 64, 32, 32); // 262,144 values: shared by default
    Tensor x = Tensor.of(shape, ThreadsHarness.gaussian(shape.numel(), 1));
    Tensor y = Tensor.zeros(shape);
    System.out.println("default worker items " + run(new BatchNorm2d(64), x, y));
    System.out.println("explicit worker items "
        + run(BatchNorm2d.builder(64).threads(2).build(), x, y));
  }

  /**
   * Calls the module's training forward until a worker has run an item, for at most 3 s (a worker
   * slow to wake on a busy machine leaves a call's items to its caller, so one call proves
   * nothing).
   */
  private static long run(BatchNorm2d bn, Tensor x, Tensor y) {
    long before = ChannelParallel.itemsRunByWorkers();
    long deadline = System.nanoTime() + 3_000_000_000L;
    while (ChannelParallel.itemsRunByWorkers() == before && System.nanoTime() < deadline) {
      bn.forward(x, y);
    }
    return ChannelParallel.itemsRunByWorkers() - before;
  }
}
