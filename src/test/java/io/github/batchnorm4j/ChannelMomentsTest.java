package io.github.batchnorm4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.batchnorm4j.testing.ReferenceBatchNorm;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Mergeable statistics against a two-pass float64 computation over all the values. */
class ChannelMomentsTest {

  static float[] random(SplittableRandom rnd, int n, double offset, double scale) {
    return SyncBatchNormTest.random(rnd, n, offset, scale);
  }

  static double relative(double actual, double expected) {
    return Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-300);
  }

  /** {@return the statistics of (N, c, s) data given as batches of these sizes, in order} */
  static ChannelMoments accumulated(float[] all, int[] batches, int c, int s) {
    ChannelMoments stats = new ChannelMoments(c);
    for (int b = 0, from = 0; b < batches.length; from += batches[b], b++) {
      stats.accumulate(Tensor.of(Shape.of(batches[b], c, s),
          Arrays.copyOfRange(all, from * c * s, (from + batches[b]) * c * s)));
    }
    return stats;
  }

  @Test
  void accumulatedBatchesEqualTheFloat64StatisticsOfAllTheValues() {
    for (double offset : new double[] {0, 1e4}) {
      SplittableRandom rnd = new SplittableRandom(1);
      int c = 3;
      int s = 7;
      int[] batches = {4, 0, 1, 9, 2};
      int total = Arrays.stream(batches).sum();
      float[] all = random(rnd, total * c * s, offset, 1.5);
      ChannelMoments stats = accumulated(all, batches, c, s);
      ReferenceBatchNorm.Stats ref = ReferenceBatchNorm.stats(ReferenceBatchNorm.toDouble(all),
          total, c, s);
      assertThat(stats.count()).isEqualTo((long) total * s);
      for (int ch = 0; ch < c; ch++) {
        assertThat(relative(stats.mean(ch), ref.mean()[ch])).isLessThan(1e-12);
        assertThat(relative(stats.biasedVariances()[ch], ref.biasedVar()[ch])).isLessThan(1e-9);
        assertThat(relative(stats.unbiasedVariances()[ch], ref.unbiasedVar()[ch])).isLessThan(1e-9);
      }
    }
  }

  /**
   * Runs of 4096 values, long enough for the Vector API kernels' float lanes: the variance, and the
   * mean relative to the spread, within the documented one float ulp (2^-23 relative, with a
   * factor of 2 of margin) with them, within m double roundings with the scalar kernels' double
   * sums (the test also runs in the execution without the Vector API module); at an offset of 1e4
   * too.
   */
  @Test
  void longRunsKeepTheVarianceWithinTheDocumentedBound() {
    boolean floatLanes = KernelInfo.current().implementation().equals("vector");
    // documented: about one float ulp with float lanes, about m * 1e-16 in double (m = 32,768)
    double bound = floatLanes ? 0x1p-22 : 2 * 32_768 * 0x1p-53;
    for (double offset : new double[] {0, 1e4}) {
      SplittableRandom rnd = new SplittableRandom(2);
      int c = 2;
      int s = 4096;
      int[] batches = {5, 3};
      int total = Arrays.stream(batches).sum();
      float[] all = random(rnd, total * c * s, offset, 1);
      ChannelMoments stats = accumulated(all, batches, c, s);
      ReferenceBatchNorm.Stats ref = ReferenceBatchNorm.stats(ReferenceBatchNorm.toDouble(all),
          total, c, s);
      for (int ch = 0; ch < c; ch++) {
        String at = "offset " + offset + ", channel " + ch + ", " + KernelInfo.current();
        // the mean's error relative to the spread (the mean itself is near 0 at offset 0)
        assertThat(Math.abs(stats.mean(ch) - ref.mean()[ch]) / Math.sqrt(ref.biasedVar()[ch]))
            .as(at).isLessThan(bound);
        assertThat(relative(stats.biasedVariances()[ch], ref.biasedVar()[ch])).as(at)
            .isLessThan(bound);
      }
    }
  }

  @Test
  void mergeFollowsChansFormulaAndEmptyPartsChangeNothing() {
    ChannelMoments a = ChannelMoments.of(2, new double[] {1}, new double[] {2}); // {0, 2}
    ChannelMoments b = ChannelMoments.of(3, new double[] {4}, new double[] {2}); // {3, 4, 5}
    ChannelMoments ab = a.copy().merge(b);
    // {0, 2, 3, 4, 5}: mean 2.8, M2 = 7.84 + 0.64 + 0.04 + 1.44 + 4.84 = 14.8
    assertThat(ab.count()).isEqualTo(5);
    assertThat(ab.mean(0)).isCloseTo(2.8, org.assertj.core.data.Offset.offset(1e-15));
    assertThat(ab.m2(0)).isCloseTo(14.8, org.assertj.core.data.Offset.offset(1e-13));
    ChannelMoments empty = new ChannelMoments(1);
    assertThat(empty.copy().merge(b)).isEqualTo(b);
    assertThat(b.copy().merge(empty)).isEqualTo(b);
    assertThat(a.copy().merge(a)).isEqualTo(ChannelMoments.of(4, new double[] {1}, new double[] {4}));
  }

  @Test
  void writesThePopulationStatisticsIntoAModule() {
    SplittableRandom rnd = new SplittableRandom(2);
    float[] x = random(rnd, 6 * 2 * 5, 3, 2);
    ChannelMoments stats = ChannelMoments.ofBatch(Tensor.of(Shape.of(6, 2, 5), x));
    BatchNorm1d bn = new BatchNorm1d(2);
    bn.setNumBatchesTracked(7);
    stats.writeRunningStatistics(bn);
    ReferenceBatchNorm.Stats ref = ReferenceBatchNorm.stats(ReferenceBatchNorm.toDouble(x), 6, 2, 5);
    for (int c = 0; c < 2; c++) {
      assertThat(bn.runningMean()[c]).isEqualTo((float) ref.mean()[c]);
      assertThat(relative(bn.runningVar()[c], ref.unbiasedVar()[c])).isLessThan(1e-7);
    }
    assertThat(bn.numBatchesTracked()).isEqualTo(7);
    BatchNorm1d keras = BatchNorm1d.builder(2).unbiasedRunningVar(false).build();
    stats.writeRunningStatistics(keras);
    assertThat(relative(keras.runningVar()[0], ref.biasedVar()[0])).isLessThan(1e-7);
  }

  /** Data with a NaN give NaN statistics (as the module's), which can still be copied and merged. */
  @Test
  void statisticsOfDataWithANaNCanBeCopiedAndMerged() {
    ChannelMoments s = ChannelMoments.ofBatch(Tensor.of(Shape.of(2, 2, 1),
        new float[] {Float.NaN, 2, 3, 4}));
    assertThat(s.mean(0)).isNaN();
    assertThat(s.mean(1)).isEqualTo(3);
    ChannelMoments copy = s.copy();
    assertThat(copy.mean(0)).isNaN();
    assertThat(copy.mean(1)).isEqualTo(3);
    assertThat(copy.count()).isEqualTo(2);
    assertThat(ChannelMoments.mergeInOrder(List.of(s, new ChannelMoments(2))).mean(1))
        .isEqualTo(3);
    assertThat(s.merge(s).count()).isEqualTo(4);
  }

  @Test
  void badInputIsRejectedAndChangesNothing() {
    ChannelMoments s = ChannelMoments.of(4, new double[] {1, 2}, new double[] {3, 4});
    ChannelMoments before = s.copy();
    assertThatThrownBy(() -> s.accumulate(Tensor.zeros(Shape.of(2, 3, 4))))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("batch has 3 channels but these statistics have 2; batch shape (2, 3, 4)");
    assertThatThrownBy(() -> s.accumulate(new float[5], 1, 2, 3))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("x has length 5 but shape (1, 2, 3) has 6 elements");
    assertThatThrownBy(() -> s.merge(new ChannelMoments(3)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("cannot merge statistics of 3 channels into statistics of 2 channels");
    assertThatThrownBy(() -> ChannelMoments.of(-1, new double[1], new double[1]))
        .hasMessage("count must be >= 0 but is -1");
    assertThatThrownBy(() -> ChannelMoments.of(3, new double[1], new double[] {-1}))
        .hasMessage("m2[0] must be >= 0 (a sum of squares) but is -1.0");
    assertThatThrownBy(() -> ChannelMoments.mergeInOrder(List.of()))
        .hasMessage("need at least one part to merge but got an empty list");
    assertThatThrownBy(() -> ChannelMoments.ofBatch(Tensor.zeros(Shape.of(2, 0, 3))))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("batch must have at least 1 channel but has 0; batch shape (2, 0, 3)");
    assertThatThrownBy(() -> s.accumulate(new float[0], -1, 2, 3))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("batch and spatial must be >= 0 and channels >= 1 but (batch, channels,"
            + " spatial) = (-1, 2, 3)");
    assertThatThrownBy(() -> ChannelMoments.of(3, new double[] {Double.NaN}, new double[1]))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("mean[0] must be finite but is NaN");
    ChannelMoments huge = ChannelMoments.of(Long.MAX_VALUE - 1, new double[] {0, 0},
        new double[] {1, 1});
    assertThatThrownBy(() -> s.merge(huge))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("would count more than Long.MAX_VALUE; nothing merged");
    assertThat(s).isEqualTo(before);
    BatchNorm2d bn = new BatchNorm2d(3);
    List<Object> moduleBefore = SyncBatchNormTest.state(bn);
    assertThatThrownBy(() -> s.writeRunningStatistics(bn))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("BatchNorm2d has 3 features but these statistics have 2 channels");
    assertThatThrownBy(() -> new ChannelMoments(3).writeRunningStatistics(bn))
        .hasMessage("need at least 2 values per channel to write running statistics but count is 0");
    assertThat(SyncBatchNormTest.state(bn)).isEqualTo(moduleBefore);
    assertThat(s).isEqualTo(before);
  }

  /** {@return the object's Java serialization} */
  static byte[] serialized(Object o) throws java.io.IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
      out.writeObject(o);
    }
    return bytes.toByteArray();
  }

  @Test
  void survivesJavaSerialization() throws Exception {
    ChannelMoments s = ChannelMoments.of(4, new double[] {1, 2}, new double[] {3, 4});
    try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(serialized(s)))) {
      assertThat(in.readObject()).isEqualTo(s);
    }
  }

  /**
   * A stream whose channel count does not match the arrays is refused, not read into a broken
   * object.
   */
  @Test
  void deserializationChecksTheChannelCount() throws Exception {
    byte[] b = serialized(ChannelMoments.of(4, new double[] {1, 2}, new double[] {3, 4}));
    // The primitive fields in name order: channels (int 2), then count (long 4).
    byte[] fields = {0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 4};
    int at = -1;
    for (int i = 0; i + fields.length <= b.length && at < 0; i++) {
      if (Arrays.equals(b, i, i + fields.length, fields, 0, fields.length)) {
        at = i;
      }
    }
    assertThat(at).as("the fields in the stream").isNotNegative();
    b[at + 3] = 3; // channels 3, arrays of 2
    try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(b))) {
      assertThatThrownBy(in::readObject).isInstanceOf(java.io.InvalidObjectException.class)
          .hasMessage("inconsistent ChannelMoments: channels 3, count 4, mean length 2, m2 length 2");
    }
  }

  @Test
  void mergeInOrderIsALeftFold() {
    SplittableRandom rnd = new SplittableRandom(5);
    List<ChannelMoments> parts = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      parts.add(ChannelMoments.ofBatch(Tensor.of(Shape.of(i + 1, 2, 3),
          random(rnd, (i + 1) * 6, 10, 1))));
    }
    ChannelMoments fold = parts.get(0).copy();
    for (int i = 1; i < 5; i++) {
      fold.merge(parts.get(i));
    }
    assertThat(ChannelMoments.mergeInOrder(parts)).isEqualTo(fold);
    assertThat(parts.get(0).count()).isEqualTo(3); // the parts are not modified
  }
}
