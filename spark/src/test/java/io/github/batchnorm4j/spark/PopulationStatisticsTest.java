package io.github.batchnorm4j.spark;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.batchnorm4j.BatchNorm;
import io.github.batchnorm4j.BatchNorm2d;
import io.github.batchnorm4j.ChannelMoments;
import io.github.batchnorm4j.Shape;
import io.github.batchnorm4j.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Spark job's statistics against a float64 computation over all the data, layer by layer, and
 * their independence of the partition count (beyond rounding).
 */
class PopulationStatisticsTest {

  static final int CHANNELS = 3;
  static final int LAYERS = 3;

  static JavaSparkContext sc;

  @BeforeAll
  static void spark() {
    sc = LocalSpark.context();
  }

  /**
   * A chain of BatchNorm2d layers with a leaky ReLU between them: layer i's input is
   * leaky(BN_{i-1}(... leaky(BN_0(x)))). Built from serializable parameters by its factory.
   */
  static final class Chain implements BatchNormNetwork {
    final List<BatchNorm> layers = new ArrayList<>();

    Chain(float[][] gamma, float[][] beta) {
      for (int i = 0; i < gamma.length; i++) {
        BatchNorm2d bn = new BatchNorm2d(CHANNELS);
        System.arraycopy(gamma[i], 0, bn.weight(), 0, CHANNELS);
        System.arraycopy(beta[i], 0, bn.bias(), 0, CHANNELS);
        layers.add(bn);
      }
    }

    @Override
    public List<BatchNorm> batchNormLayers() {
      return layers;
    }

    @Override
    public Tensor batchNormInput(int layer, Tensor batch) {
      Tensor x = batch;
      for (int i = 0; i < layer; i++) {
        float[] y = layers.get(i).forward(x).data();
        for (int j = 0; j < y.length; j++) {
          y[j] = y[j] > 0 ? y[j] : 0.1f * y[j];
        }
        x = Tensor.of(x.shape(), y);
      }
      return x;
    }
  }

  static float[][] params(long seed, double center) {
    SplittableRandom rnd = new SplittableRandom(seed);
    float[][] p = new float[LAYERS][CHANNELS];
    for (float[] row : p) {
      for (int c = 0; c < CHANNELS; c++) {
        row[c] = (float) (center + 0.5 * rnd.nextGaussian());
      }
    }
    return p;
  }

  static final float[][] GAMMA = params(1, 1);
  static final float[][] BETA = params(2, 0);

  static NetworkFactory factory() {
    float[][] gamma = GAMMA;
    float[][] beta = BETA;
    return () -> new Chain(gamma, beta);
  }

  /** Batches of uneven sizes (one empty), offset 1e3 so that a one-pass variance would show. */
  static List<InputBatch> data() {
    SplittableRandom rnd = new SplittableRandom(3);
    List<InputBatch> batches = new ArrayList<>();
    int[] sizes = {5, 3, 8, 0, 2, 7, 4, 6, 1, 5, 3, 8};
    for (int n : sizes) {
      Shape shape = Shape.of(n, CHANNELS, 4, 5);
      float[] x = new float[shape.numel()];
      for (int i = 0; i < x.length; i++) {
        int c = (i / 20) % CHANNELS;
        x[i] = (float) (1e3 * (c + 1) + (c + 1) * rnd.nextGaussian());
      }
      batches.add(InputBatch.of(shape, x));
    }
    return batches;
  }

  /** Two-pass float64 statistics of one layer's input over all batches: {count, mean.., var..}. */
  static double[][] reference(Chain net, int layer, List<InputBatch> batches) {
    net.layers.forEach(BatchNorm::eval);
    List<double[]> perChannel = new ArrayList<>();
    for (int c = 0; c < CHANNELS; c++) {
      perChannel.add(new double[0]);
    }
    double[] sum = new double[CHANNELS];
    long count = 0;
    List<float[]> inputs = new ArrayList<>();
    List<Shape> shapes = new ArrayList<>();
    for (InputBatch b : batches) {
      Tensor in = net.batchNormInput(layer, b.toTensor());
      inputs.add(in.data().clone());
      shapes.add(in.shape());
    }
    for (int pass = 0; pass < 2; pass++) {
      double[] acc = new double[CHANNELS];
      count = 0;
      for (int b = 0; b < inputs.size(); b++) {
        float[] x = inputs.get(b);
        int n = shapes.get(b).dim(0);
        int s = x.length / Math.max(1, n * CHANNELS);
        count += (long) n * s;
        for (int i = 0; i < x.length; i++) {
          int c = (i / s) % CHANNELS;
          double v = pass == 0 ? x[i] : (x[i] - sum[c]) * (x[i] - sum[c]);
          acc[c] += v;
        }
      }
      for (int c = 0; c < CHANNELS; c++) {
        sum[c] = pass == 0 ? acc[c] / count : sum[c];
        perChannel.set(c, new double[] {sum[c], acc[c]});
      }
    }
    double[] mean = new double[CHANNELS];
    double[] unbiased = new double[CHANNELS];
    for (int c = 0; c < CHANNELS; c++) {
      mean[c] = perChannel.get(c)[0];
      unbiased[c] = perChannel.get(c)[1] / (count - 1);
    }
    return new double[][] {{count}, mean, unbiased};
  }

  static double relative(double a, double b) {
    return Math.abs(a - b) / Math.abs(b);
  }

  @Test
  void statisticsEqualAFloat64ComputationOverAllTheDataLayerByLayer() {
    List<InputBatch> batches = data();
    Chain driver = new Chain(GAMMA, BETA);
    List<ChannelMoments> stats = PopulationStatistics.compute(sc.parallelize(batches, 4), driver,
        factory());
    assertThat(stats).hasSize(LAYERS);
    // The reference runs the driver's network, which now holds the population statistics: layer
    // i's reference input is produced with layers 0..i-1 updated, as the job's was.
    Chain check = new Chain(GAMMA, BETA);
    for (int i = 0; i < LAYERS; i++) {
      double[][] ref = reference(check, i, batches);
      assertThat(stats.get(i).count()).isEqualTo((long) ref[0][0]);
      for (int c = 0; c < CHANNELS; c++) {
        assertThat(relative(stats.get(i).mean(c), ref[1][c])).as("layer %d mean", i)
            .isLessThan(1e-12);
        assertThat(relative(stats.get(i).unbiasedVariances()[c], ref[2][c])).as("layer %d var", i)
            .isLessThan(1e-9);
        BatchNorm bn = driver.layers.get(i);
        assertThat(bn.runningMean()[c]).isEqualTo((float) ref[1][c]);
        assertThat(relative(bn.runningVar()[c], ref[2][c])).isLessThan(1e-7);
        assertThat(bn.numBatchesTracked()).isZero();
      }
      // Give the checking network layer i's statistics before computing layer i + 1's inputs.
      stats.get(i).writeRunningStatistics(check.layers.get(i));
    }
    // The statistics are not the trivial ones: layer 1 sees normalized data, not the raw offset.
    assertThat(Math.abs(stats.get(0).mean(0) - 1e3)).isLessThan(1);
    assertThat(Math.abs(stats.get(1).mean(0))).isLessThan(5);
  }

  @Test
  void thePartitionCountChangesNothingBeyondRounding() {
    List<InputBatch> batches = data();
    List<List<ChannelMoments>> runs = new ArrayList<>();
    for (int partitions : new int[] {1, 3, 7, 12}) {
      Chain driver = new Chain(GAMMA, BETA);
      List<ChannelMoments> run = PopulationStatistics.compute(sc.parallelize(batches, partitions),
          driver, factory(), partitions % 2 + 2);
      runs.add(run);
      // what the driver's layers received is what the job returned, rounded to float
      for (int i = 0; i < LAYERS; i++) {
        for (int c = 0; c < CHANNELS; c++) {
          assertThat(driver.layers.get(i).runningMean()[c]).isEqualTo((float) run.get(i).mean(c));
          assertThat(driver.layers.get(i).runningVar()[c])
              .isEqualTo((float) run.get(i).unbiasedVariances()[c]);
        }
      }
    }
    for (List<ChannelMoments> run : runs) {
      for (int i = 0; i < LAYERS; i++) {
        ChannelMoments a = run.get(i);
        ChannelMoments b = runs.get(0).get(i);
        assertThat(a.count()).isEqualTo(b.count());
        for (int c = 0; c < CHANNELS; c++) {
          assertThat(relative(a.mean(c), b.mean(c))).isLessThan(1e-13);
          assertThat(relative(a.m2(c), b.m2(c))).isLessThan(1e-11);
        }
      }
    }
    // With the same partitions the result is the same, bit for bit.
    Chain again = new Chain(GAMMA, BETA);
    assertThat(PopulationStatistics.compute(sc.parallelize(batches, 7), again, factory(), 3))
        .isEqualTo(runs.get(2));
  }

  @Test
  void aBatchOfTheWrongShapeFailsWithAClearMessageAndChangesNothing() {
    List<InputBatch> batches = new ArrayList<>(data());
    batches.add(9, InputBatch.of(Shape.of(2, CHANNELS + 1, 4, 5), new float[2 * 4 * 20]));
    Chain driver = new Chain(GAMMA, BETA);
    driver.layers.get(1).runningMean()[0] = 42;
    String before = Arrays.toString(driver.layers.get(0).runningMean())
        + Arrays.toString(driver.layers.get(1).runningMean())
        + Arrays.toString(driver.layers.get(2).runningVar());
    assertThatThrownBy(() -> PopulationStatistics.compute(sc.parallelize(batches, 3), driver,
        factory()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("population statistics of batch-norm layer 0 failed")
        .hasMessageContaining("of partition 2 (shape (2, 4, 4, 5)) was rejected")
        .hasMessageContaining("batch has 4 channels but these statistics have 3")
        .hasMessageContaining("nothing was written");
    assertThat(Arrays.toString(driver.layers.get(0).runningMean())
        + Arrays.toString(driver.layers.get(1).runningMean())
        + Arrays.toString(driver.layers.get(2).runningVar())).isEqualTo(before);
  }

  /**
   * The driver merges the per-partition statistics by partition index, whatever order Spark
   * combines the partial results in: the same bits for every order of combination.
   */
  @Test
  void thePartialsMergeToTheSameBitsInAnyCombinationOrder() {
    SplittableRandom rnd = new SplittableRandom(17);
    List<PopulationStatistics.Partials> parts = new ArrayList<>();
    for (int p = 0; p < 6; p++) {
      PopulationStatistics.Partials one = new PopulationStatistics.Partials();
      float[] x = new float[(p + 1) * 2 * 9];
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) (1e3 + rnd.nextGaussian() * (1 + p));
      }
      one.byPartition.put(p, ChannelMoments.ofBatch(Tensor.of(Shape.of(p + 1, 2, 9), x)));
      parts.add(one);
    }
    ChannelMoments expected = null;
    for (long seed = 0; seed < 20; seed++) {
      List<PopulationStatistics.Partials> order = new ArrayList<>();
      for (PopulationStatistics.Partials p : parts) {
        PopulationStatistics.Partials copy = new PopulationStatistics.Partials();
        p.byPartition.forEach((k, v) -> copy.byPartition.put(k, v.copy()));
        order.add(copy);
      }
      java.util.Collections.shuffle(order, new java.util.Random(seed));
      PopulationStatistics.Partials all = new PopulationStatistics.Partials();
      for (PopulationStatistics.Partials p : order) { // as Spark's arrivals: any order
        all = PopulationStatistics.Partials.combine(all, p);
      }
      ChannelMoments merged = all.mergeByPartition(2);
      if (expected == null) {
        expected = merged;
      }
      assertThat(merged).as("combination order of seed " + seed).isEqualTo(expected);
    }
    // and merging in arrival order instead would not be: the test can fail
    ChannelMoments forward = ChannelMoments.mergeInOrder(parts.stream()
        .map(p -> p.byPartition.firstEntry().getValue()).toList());
    List<ChannelMoments> reversed = new ArrayList<>(parts.stream()
        .map(p -> p.byPartition.firstEntry().getValue()).toList());
    java.util.Collections.reverse(reversed);
    assertThat(ChannelMoments.mergeInOrder(reversed)).isNotEqualTo(forward);
    assertThat(forward).isEqualTo(expected);
  }

  /** An executor network whose layers differ from the driver's is rejected, naming both. */
  @Test
  void aFactoryNetworkOfOtherLayersIsRejected() {
    Chain driver = new Chain(GAMMA, BETA);
    float[][] gamma = {GAMMA[0]};
    float[][] beta = {BETA[0]};
    NetworkFactory other = () -> new Chain(gamma, beta); // one layer, not three
    assertThatThrownBy(() -> PopulationStatistics.compute(sc.parallelize(data(), 2), driver,
        other))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("the network built by the factory has batch-norm layers of [3]"
            + " channels but the driver's has [3, 3, 3]")
        .hasMessageContaining("nothing was written");
  }

  /**
   * A failure in the last layer's job, after layers 0 and 1 have their statistics, writes nothing:
   * all or nothing.
   */
  @Test
  void aFailureInALaterLayerWritesNothing() {
    Chain driver = new Chain(GAMMA, BETA);
    String before = state(driver);
    assertThatThrownBy(() -> PopulationStatistics.compute(sc.parallelize(data(), 3), driver,
        failingAt(2)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("population statistics of batch-norm layer 2 failed")
        .hasMessageContaining("layer 2 refuses this batch")
        .hasMessageContaining("nothing was written");
    assertThat(state(driver)).isEqualTo(before);
  }

  /** {@return a factory of chains whose layer {@code failing} rejects every batch} */
  static NetworkFactory failingAt(int failing) {
    float[][] gamma = GAMMA;
    float[][] beta = BETA;
    return () -> new FailingChain(new Chain(gamma, beta), failing);
  }

  /** A chain whose layer {@code failing} rejects every batch (static: serializable by Spark). */
  record FailingChain(Chain chain, int failing) implements BatchNormNetwork {
    @Override
    public List<BatchNorm> batchNormLayers() {
      return chain.batchNormLayers();
    }

    @Override
    public Tensor batchNormInput(int layer, Tensor batch) {
      if (layer == failing) {
        throw new IllegalArgumentException("layer " + layer + " refuses this batch");
      }
      return chain.batchNormInput(layer, batch);
    }
  }

  private static String state(Chain chain) {
    StringBuilder sb = new StringBuilder();
    chain.layers.forEach(l -> sb.append(Arrays.toString(l.runningMean()))
        .append(Arrays.toString(l.runningVar())).append(l.numBatchesTracked()));
    return sb.toString();
  }

  @Test
  void anEmptyDatasetIsRejected() {
    Chain driver = new Chain(GAMMA, BETA);
    assertThatThrownBy(() -> PopulationStatistics.compute(sc.parallelize(List.<InputBatch>of(), 2),
        driver, factory()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("batch-norm layer 0 received 0 value(s) per channel over the whole dataset;"
            + " need at least 2; nothing was written");
    assertThatThrownBy(() -> PopulationStatistics.compute(sc.parallelize(data(), 2), driver,
        factory(), 0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("treeDepth must be >= 1 but is 0");
  }
}
