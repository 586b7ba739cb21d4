package io.github.batchnorm4j.spark;

import io.github.batchnorm4j.BatchNorm;
import io.github.batchnorm4j.Tensor;
import java.util.List;

/**
 * What {@link PopulationStatistics} needs from a network: its batch-norm layers in forward order,
 * and the input that layer i receives for a batch when the network runs in eval mode. A user's
 * network implements it (or an adapter does) in a few lines.
 *
 * <p>Layer i's input must depend only on the layers before it (a feed-forward network), so that
 * the population statistics can be computed layer by layer: layer i's statistics are gathered from
 * inputs produced with layers 0 to i - 1 already holding their population statistics.
 */
public interface BatchNormNetwork {

  /**
   * The batch-norm layers, in forward order. The list and its modules are live: the population
   * statistics are written into their running statistics.
   */
  List<BatchNorm> batchNormLayers();

  /**
   * Runs the network in eval mode on {@code batch} as far as the input of batch-norm layer
   * {@code layer}, and returns that input, (N, C, *spatial) with C the layer's numFeatures. The
   * caller has put every batch-norm layer in eval mode.
   *
   * @param layer an index into {@link #batchNormLayers()}
   * @param batch one batch of network inputs. Not modified.
   * @return the layer's input for this batch; may be a view the network reuses on the next call
   * @throws IllegalArgumentException if the batch does not fit the network (its shape)
   */
  Tensor batchNormInput(int layer, Tensor batch);
}
