package io.github.batchnorm4j.spark.examples;

import io.github.batchnorm4j.BatchNorm;
import io.github.batchnorm4j.Tensor;
import io.github.batchnorm4j.examples.nn.Param;
import io.github.batchnorm4j.examples.nn.SmallCnn;
import io.github.batchnorm4j.spark.BatchNormNetwork;
import io.github.batchnorm4j.spark.NetworkFactory;
import java.util.List;

/**
 * The demo's {@link SmallCnn} as a {@link BatchNormNetwork}: batch-norm layer i sits right after
 * convolution i, so its input is that convolution's output in an eval-mode forward.
 */
public final class SmallCnnNetwork implements BatchNormNetwork {

  private final SmallCnn net;

  /** Wraps {@code net}; its batch-norm modules are live (the statistics are written into them). */
  public SmallCnnNetwork(SmallCnn net) {
    this.net = net;
  }

  /** The network's BatchNorm2d modules, in forward order. */
  @Override
  public List<BatchNorm> batchNormLayers() {
    return List.copyOf(net.batchNorms());
  }

  /** A full eval forward (simple, if wasteful), then convolution {@code layer}'s output. */
  @Override
  public Tensor batchNormInput(int layer, Tensor batch) {
    net.forward(batch);
    return net.convOutput(layer);
  }

  /**
   * A factory that rebuilds {@code net} on an executor: the same structure (seed and batch-norm
   * momentum) and a copy of every learned parameter, taken now.
   */
  public static NetworkFactory factory(SmallCnn net, long seed, double batchNormMomentum) {
    List<Param> params = net.params();
    float[][] values = new float[params.size()][];
    for (int i = 0; i < values.length; i++) {
      values[i] = params.get(i).value().clone();
    }
    return () -> {
      SmallCnn copy = SmallCnn.createWithBatchNormMomentum(seed, batchNormMomentum);
      List<Param> target = copy.params();
      for (int i = 0; i < values.length; i++) {
        System.arraycopy(values[i], 0, target.get(i).value(), 0, values[i].length);
      }
      return new SmallCnnNetwork(copy);
    };
  }
}
