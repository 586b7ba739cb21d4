package io.github.batchnorm4j.examples.nn;

import java.util.function.IntConsumer;
import java.util.stream.IntStream;

/**
 * Runs independent pieces of work on the common fork-join pool.
 *
 * <p>Only the convolution uses it: it is the one layer whose cost matters for the demo. Every piece
 * writes its own part of the output and sums in a fixed order, so results do not depend on how many
 * threads run.
 */
final class Parallel {

  private Parallel() {}

  /** Calls {@code body} for 0..count-1, in parallel when there is enough work to share. */
  static void forEach(int count, long workPerItem, IntConsumer body) {
    if (count > 1 && (long) count * workPerItem > 200_000) {
      IntStream.range(0, count).parallel().forEach(body);
    } else {
      for (int i = 0; i < count; i++) {
        body.accept(i);
      }
    }
  }
}
