package io.github.batchnorm4j.examples.nn;

import io.github.batchnorm4j.BatchNorm2d;
import io.github.batchnorm4j.Shape;
import io.github.batchnorm4j.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * The demo's convolutional network for 28 x 28 grey images and 10 classes: four 3 x 3
 * convolutions, each followed by [BatchNorm2d] and a ReLU, two max-pools and a linear classifier.
 * <pre>
 * conv1 (1 -&gt; 8)   [BN] ReLU                28x28
 * conv2 (8 -&gt; 8)   [BN] ReLU   max-pool 2   28x28 -&gt; 14x14
 * conv3 (8 -&gt; 16)  [BN] ReLU                14x14
 * conv4 (16 -&gt; 16) [BN] ReLU   max-pool 2   14x14 -&gt; 7x7
 * linear (16 * 7 * 7 -&gt; 10)
 * </pre>
 * The batch-norm layers sit between each convolution and its ReLU, where the original paper puts
 * them. Four convolutions rather than two, because batch norm matters more the deeper the network;
 * the demo's {@code --convolutions 2} shows the shallow case (tutorial, chapter 6).
 *
 * <p>Built with the same seed, the networks with and without batch norm start from exactly the same
 * convolution and linear weights (PyTorch's default initialisation): the only difference between
 * them is the normalization. The convolutions keep their bias in both networks so that this is
 * true; with batch norm the bias is redundant and receives a zero gradient (conv-bias example).
 */
public final class SmallCnn {

  public static final int CLASSES = 10;

  private final boolean withBatchNorm;
  private final List<Conv2d> convs = new ArrayList<>();
  private final List<BatchNormLayer> batchNorms = new ArrayList<>();
  private final Linear linear;
  private final List<Layer> layers = new ArrayList<>();

  // Kept from the last forward so that examples can look inside the network.
  private final Tensor[] convOutputs;
  private final Tensor[] reluInputs;
  private Tensor classifierInput;

  /**
   * @param withBatchNorm whether to put a BatchNorm2d between each convolution and its ReLU
   * @param channels the filters of each convolution, for example {8, 8, 16, 16}
   * @param poolAfter whether a 2 x 2 max-pool follows each convolution's ReLU; the image size must
   *     come out at 7 x 7 or another whole size
   * @param seed the seed of the initial weights; the same seed gives the same weights with and
   *     without batch norm
   */
  public SmallCnn(boolean withBatchNorm, int[] channels, boolean[] poolAfter, long seed) {
    this(withBatchNorm, channels, poolAfter, seed, 0.1);
  }

  /**
   * As above, with the batch-norm layers' momentum (PyTorch's convention: the weight of the newest
   * batch in the running statistics; 0.1 by default).
   */
  public SmallCnn(boolean withBatchNorm, int[] channels, boolean[] poolAfter, long seed,
      double batchNormMomentum) {
    if (channels.length != poolAfter.length || channels.length == 0) {
      throw new IllegalArgumentException("need one pool flag per convolution");
    }
    this.withBatchNorm = withBatchNorm;
    Random random = new Random(seed);
    int in = 1;
    int size = 28;
    for (int i = 0; i < channels.length; i++) {
      Conv2d conv = new Conv2d(in, channels[i], 3, 1, true, random);
      if (i == 0) {
        conv.withoutInputGradient(); // nobody needs dL/d(pixels)
      }
      convs.add(conv);
      layers.add(conv);
      if (withBatchNorm) {
        BatchNormLayer bn = new BatchNormLayer(
            BatchNorm2d.builder(channels[i]).momentum(batchNormMomentum).build());
        batchNorms.add(bn);
        layers.add(bn);
      }
      layers.add(new Relu());
      if (poolAfter[i]) {
        layers.add(new MaxPool2d());
        size /= 2;
      }
      in = channels[i];
    }
    linear = new Linear(in * size * size, CLASSES, random);
    layers.add(linear);
    convOutputs = new Tensor[channels.length];
    reluInputs = new Tensor[channels.length];
  }

  /** The demo's network (see the class comment). */
  public static SmallCnn create(boolean withBatchNorm, long seed) {
    return create(withBatchNorm, seed, 4);
  }

  /**
   * The demo's network with four convolutions, or a shallower variant with two (8 and 16
   * filters, each followed by a max-pool) for comparison.
   *
   * @param convolutions 4 or 2
   */
  public static SmallCnn create(boolean withBatchNorm, long seed, int convolutions) {
    return switch (convolutions) {
      case 4 -> new SmallCnn(withBatchNorm, new int[] {8, 8, 16, 16},
          new boolean[] {false, true, false, true}, seed);
      case 2 -> new SmallCnn(withBatchNorm, new int[] {8, 16}, new boolean[] {true, true}, seed);
      default -> throw new IllegalArgumentException(
          "the demo network has 2 or 4 convolutions, not " + convolutions);
    };
  }

  /**
   * The demo's four-convolution network with batch-norm layers of the given momentum (the Spark
   * population-statistics example trains with a high one).
   */
  public static SmallCnn createWithBatchNormMomentum(long seed, double batchNormMomentum) {
    return new SmallCnn(true, new int[] {8, 8, 16, 16}, new boolean[] {false, true, false, true},
        seed, batchNormMomentum);
  }

  public boolean hasBatchNorm() {
    return withBatchNorm;
  }

  /** Computes the logits (N, 10) for images (N, 1, 28, 28). */
  public Tensor forward(Tensor images) {
    Tensor x = images;
    int block = -1;
    for (Layer layer : layers) {
      if (layer == linear) {
        classifierInput = x;
      }
      if (layer instanceof Relu) {
        reluInputs[block] = x;
      }
      x = layer.forward(x);
      if (layer instanceof Conv2d) {
        block++;
        convOutputs[block] = x;
      }
    }
    return x;
  }

  /** Backpropagates dL/dlogits through every layer, adding into the parameter gradients. */
  public void backward(Tensor gradLogits) {
    Tensor g = gradLogits;
    for (int i = layers.size() - 1; i >= 0 && g != null; i--) {
      g = layers.get(i).backward(g);
    }
  }

  /** Every learnable parameter: convolutions, batch norm (gamma, beta) and linear. */
  public List<Param> params() {
    List<Param> all = new ArrayList<>();
    for (Layer layer : layers) {
      all.addAll(layer.params());
    }
    return all;
  }

  /** Training mode: batch norm normalizes with batch statistics and updates running ones. */
  public void train() {
    for (BatchNormLayer bn : batchNorms) {
      bn.module().train();
    }
  }

  /** Eval mode: batch norm normalizes with its running statistics. */
  public void eval() {
    for (BatchNormLayer bn : batchNorms) {
      bn.module().eval();
    }
  }

  /** The batch-norm modules, in order (empty without batch norm). */
  public List<BatchNorm2d> batchNorms() {
    return batchNorms.stream().map(BatchNormLayer::module).toList();
  }

  /** The convolutions, in order. */
  public List<Conv2d> convs() {
    return List.copyOf(convs);
  }

  /** The output of convolution {@code index} (0-based) in the last forward. */
  public Tensor convOutput(int index) {
    return convOutputs[index];
  }

  /**
   * The input of convolution {@code index}'s ReLU in the last forward, its pre-activation: the
   * batch-norm output with BN, the convolution output without.
   */
  public Tensor reluInput(int index) {
    return reluInputs[index];
  }

  /** The input of the final linear layer in the last forward: the pooled features. */
  public Tensor classifierInput() {
    return classifierInput;
  }

  /** Wraps {@code count} images of 28 x 28 floats as an (N, 1, 28, 28) tensor. */
  public static Tensor imagesTensor(float[] pixels, int count) {
    return Tensor.of(Shape.of(count, 1, 28, 28), pixels);
  }

  /**
   * A one-line summary, for example
   * {@code conv 1->8, BN, ReLU | conv 8->8, BN, ReLU, max-pool | ... | linear 784->10}.
   */
  public String summary() {
    StringBuilder sb = new StringBuilder();
    for (Layer layer : layers) {
      if (layer instanceof Conv2d conv) {
        sb.append(sb.length() == 0 ? "" : " | ").append("conv ").append(conv.inChannels())
            .append("->").append(conv.outChannels());
      } else if (layer instanceof BatchNormLayer) {
        sb.append(", BN");
      } else if (layer instanceof Relu) {
        sb.append(", ReLU");
      } else if (layer instanceof MaxPool2d) {
        sb.append(", max-pool");
      } else if (layer instanceof Linear lin) {
        sb.append(" | linear ").append(lin.inFeatures()).append("->").append(lin.outFeatures());
      }
    }
    return sb.toString();
  }

  /** The layers in PyTorch-like notation. */
  @Override
  public String toString() {
    StringBuilder sb = new StringBuilder();
    for (Layer layer : layers) {
      sb.append(sb.length() == 0 ? "" : " -> ").append(layer);
    }
    return sb.toString();
  }
}
