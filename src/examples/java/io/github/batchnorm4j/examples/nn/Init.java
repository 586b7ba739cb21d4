package io.github.batchnorm4j.examples.nn;

import java.util.Random;

/** Weight initialisation shared by the layers. */
final class Init {

  private Init() {}

  /** Returns {@code count} values drawn uniformly from (-bound, bound). */
  static float[] uniform(int count, double bound, Random random) {
    float[] values = new float[count];
    for (int i = 0; i < count; i++) {
      values[i] = (float) ((2 * random.nextDouble() - 1) * bound);
    }
    return values;
  }
}
