package io.github.batchnorm4j.spark;

import io.github.batchnorm4j.BatchNorm;
import io.github.batchnorm4j.ChannelMoments;
import io.github.batchnorm4j.Tensor;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.function.Function2;

/**
 * Exact population statistics of a network's batch-norm layers over a dataset held in a Spark RDD:
 * the exact (double) per-channel mean and variance of every value each layer receives, over the
 * whole dataset, written into the layers' running statistics. This is what fvcore's PreciseBN
 * estimates by averaging per-batch statistics; here the statistics are merged exactly.
 *
 * <h2>Algorithm</h2>
 * For layer i = 0, 1, ... in forward order, one Spark job:
 * <ol>
 *   <li>every task builds the network from the {@link NetworkFactory}, writes the population
 *       statistics of layers 0 to i - 1 (already computed) into its copies of those layers, puts
 *       every batch-norm layer in eval mode, and accumulates layer i's input for each batch of its
 *       partition into {@link ChannelMoments} (count, mean and M2 in double, one shifted pass
 *       per batch, Chan's formula between batches);
 *   <li>{@code treeAggregate} brings the per-partition statistics to the driver, which merges them
 *       in partition-index order. The partial results carry one {@link ChannelMoments} per
 *       partition (2 C doubles each) rather than a merged one, because Spark combines partial
 *       results in the order tasks finish; merging by index at the end gives the same bits on
 *       every run.
 * </ol>
 * After the last layer the driver writes mean_c and M2_c / (n - 1) (the unbiased variance PyTorch
 * stores; M2_c / n for a module with {@code unbiasedRunningVar(false)}) into each layer's
 * runningMean and runningVar. numBatchesTracked, the parameters and the modes are not changed.
 *
 * <p>The RDD is traversed once per batch-norm layer: cache it if it is expensive to compute.
 *
 * <h2>Errors</h2>
 * A batch the network rejects (a wrong shape, for example) fails the job; the
 * {@link IllegalArgumentException} thrown here names the layer, the partition, the batch's position
 * in it and its shape. Nothing is written into the network unless every layer succeeded.
 */
public final class PopulationStatistics {

  private PopulationStatistics() {}

  /** {@link #compute(JavaRDD, BatchNormNetwork, NetworkFactory, int)} with tree depth 2. */
  public static List<ChannelMoments> compute(JavaRDD<InputBatch> batches,
      BatchNormNetwork network, NetworkFactory factory) {
    return compute(batches, network, factory, 2);
  }

  /**
   * Computes the population statistics of every batch-norm layer of {@code network} over
   * {@code batches} and writes them into the layers' running statistics (see the class comment).
   *
   * @param batches the dataset, in batches of network inputs. Not modified.
   * @param network the driver's network; the running statistics of its batch-norm layers are
   *     modified (replaced), nothing else
   * @param factory builds the same network on the executors
   * @param treeDepth the depth of Spark's tree aggregation, &gt;= 1
   * @return the statistics of each layer, in order (count, mean and M2 in double)
   * @throws IllegalArgumentException if an argument is null, treeDepth &lt; 1, a layer does not track
   *     running statistics, a batch is rejected, or a layer sees fewer than 2 values per channel;
   *     nothing has been written then
   */
  public static List<ChannelMoments> compute(JavaRDD<InputBatch> batches,
      BatchNormNetwork network, NetworkFactory factory, int treeDepth) {
    if (batches == null || network == null || factory == null) {
      throw new IllegalArgumentException("batches, network and factory must not be null but got "
          + (batches == null ? "null" : "an RDD") + ", " + (network == null ? "null" : network)
          + ", " + (factory == null ? "null" : "a factory"));
    }
    if (treeDepth < 1) {
      throw new IllegalArgumentException("treeDepth must be >= 1 but is " + treeDepth);
    }
    List<BatchNorm> given = network.batchNormLayers();
    // (not given.contains(null): List.of lists throw on it)
    if (given == null || given.stream().anyMatch(java.util.Objects::isNull)) {
      throw new IllegalArgumentException("the network's batchNormLayers() must be a list without"
          + " null but is " + given);
    }
    List<BatchNorm> layers = List.copyOf(given);
    int[] features = new int[layers.size()];
    for (int i = 0; i < layers.size(); i++) {
      features[i] = layers.get(i).numFeatures();
      if (!layers.get(i).tracksRunningStats()) {
        throw new IllegalArgumentException("batch-norm layer " + i + " (" + layers.get(i)
            + ") does not track running statistics; there is nowhere to write them");
      }
    }
    List<ChannelMoments> done = new ArrayList<>();
    for (int i = 0; i < layers.size(); i++) {
      int channels = layers.get(i).numFeatures();
      LayerAccumulator seq = new LayerAccumulator(i, features, factory, List.copyOf(done));
      Partials result;
      try {
        result = batches.treeAggregate(new Partials(), seq, Partials::combine, treeDepth);
      } catch (Exception e) { // SparkException is checked but thrown undeclared through Scala
        IllegalArgumentException rejected = findCause(e, IllegalArgumentException.class);
        if (rejected != null) {
          throw new IllegalArgumentException("population statistics of batch-norm layer " + i
              + " failed: " + rejected.getMessage() + "; nothing was written", e);
        }
        if (e instanceof RuntimeException r) {
          throw r;
        }
        throw new IllegalStateException("population statistics of batch-norm layer " + i
            + " failed: " + e.getMessage() + "; nothing was written", e);
      }
      ChannelMoments merged = result.mergeByPartition(channels);
      if (merged.count() < 2) {
        throw new IllegalArgumentException("batch-norm layer " + i + " received " + merged.count()
            + " value(s) per channel over the whole dataset; need at least 2; nothing was written");
      }
      done.add(merged);
    }
    for (int i = 0; i < layers.size(); i++) {
      done.get(i).writeRunningStatistics(layers.get(i));
    }
    return List.copyOf(done);
  }

  private static <T extends Throwable> T findCause(Throwable e, Class<T> type) {
    for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (type.isInstance(t)) {
        return type.cast(t);
      }
    }
    return null;
  }

  /** Per-partition statistics, keyed by partition index. */
  static final class Partials implements Serializable {
    private static final long serialVersionUID = 1L;
    final TreeMap<Integer, ChannelMoments> byPartition = new TreeMap<>();

    static Partials combine(Partials a, Partials b) {
      for (Map.Entry<Integer, ChannelMoments> e : b.byPartition.entrySet()) {
        ChannelMoments previous = a.byPartition.putIfAbsent(e.getKey(), e.getValue());
        if (previous != null) {
          previous.merge(e.getValue()); // not expected: one task per partition
        }
      }
      return a;
    }

    ChannelMoments mergeByPartition(int channels) {
      ChannelMoments all = new ChannelMoments(channels);
      for (ChannelMoments s : byPartition.values()) {
        all.merge(s); // ascending partition index
      }
      return all;
    }
  }

  /** The per-batch step of one layer's job; the network is built once per task. */
  static final class LayerAccumulator implements Function2<Partials, InputBatch, Partials> {
    private static final long serialVersionUID = 1L;
    private final int layer;
    private final int channels;
    /** The driver's layers' channel counts: the executors' networks must have the same. */
    private final int[] features;
    private final NetworkFactory factory;
    private final List<ChannelMoments> previous;
    private transient BatchNormNetwork network;
    private transient int batchIndex;

    LayerAccumulator(int layer, int[] features, NetworkFactory factory,
        List<ChannelMoments> previous) {
      this.layer = layer;
      this.features = features.clone();
      this.channels = features[layer];
      this.factory = factory;
      this.previous = new ArrayList<>(previous);
    }

    @Override
    public Partials call(Partials partials, InputBatch batch) {
      TaskContext task = TaskContext.get();
      int partition = task == null ? 0 : task.partitionId();
      int index = batchIndex++;
      if (network == null) {
        network = factory.create();
        List<BatchNorm> layers = network.batchNormLayers();
        int[] built = layers.stream().mapToInt(BatchNorm::numFeatures).toArray();
        if (!java.util.Arrays.equals(built, features)) {
          throw new IllegalArgumentException("the network built by the factory has batch-norm"
              + " layers of " + java.util.Arrays.toString(built) + " channels but the driver's has "
              + java.util.Arrays.toString(features));
        }
        for (int j = 0; j < previous.size(); j++) {
          previous.get(j).writeRunningStatistics(layers.get(j));
        }
        layers.forEach(BatchNorm::eval);
      }
      ChannelMoments stats =
          partials.byPartition.computeIfAbsent(partition, p -> new ChannelMoments(channels));
      if (batch == null) {
        throw new IllegalArgumentException(
            "batch " + index + " of partition " + partition + " is null");
      }
      try {
        Tensor input = network.batchNormInput(layer, batch.toTensor());
        stats.accumulate(input);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("batch " + index + " of partition " + partition
            + " (shape " + batch.shape() + ") was rejected: " + e.getMessage(), e);
      }
      return partials;
    }
  }
}
