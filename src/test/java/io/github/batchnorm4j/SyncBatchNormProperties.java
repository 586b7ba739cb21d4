package io.github.batchnorm4j;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

/**
 * Random splits of a random batch over 1 to 4 workers (empty shares included), random shapes and
 * offsets: synchronized batch norm equals one module on the concatenated batch within 1e-6 relative,
 * y within 3e-6 (see {@link SyncBatchNormTest} for the measure) through three training steps and an eval step.
 */
class SyncBatchNormProperties {

  @Property(tries = 40)
  void anySplitEqualsOneModule(
      @ForAll long seed, @ForAll @IntRange(min = 1, max = 4) int k,
      @ForAll @IntRange(min = 2, max = 9) int total, @ForAll @IntRange(min = 1, max = 5) int c,
      @ForAll @IntRange(min = 1, max = 6) int s, @ForAll @IntRange(min = 0, max = 2) int offsetKind) {
    java.util.SplittableRandom rnd = new java.util.SplittableRandom(seed);
    int[] local = new int[k];
    for (int i = 0; i < total; i++) {
      local[rnd.nextInt(k)]++;
    }
    double offset = new double[] {0, -50, 1e4}[offsetKind];
    SyncBatchNormTest.Errors e = SyncBatchNormTest.compare(local, new int[] {0, c, s}, offset, seed,
        0.1, true, false);
    assertThat(e.worst()).as("%s for batches %s", e, Arrays.toString(local)).isLessThan(1.0);
  }
}
