package io.github.batchnorm4j.examples.nn;

import java.util.List;

/**
 * Stochastic gradient descent with momentum, with PyTorch's update rule ({@code torch.optim.SGD}
 * without dampening, Nesterov or weight decay):
 * <pre>
 * v = momentum * v + grad        (v = grad at the first step)
 * p = p - lr * v
 * </pre>
 */
public final class Sgd {

  private final List<Param> params;
  private final double learningRate;
  private final double momentum;
  private final float[][] velocity;
  private boolean firstStep = true;

  public Sgd(List<Param> params, double learningRate, double momentum) {
    if (!(learningRate > 0) || !(momentum >= 0 && momentum < 1)) {
      throw new IllegalArgumentException(
          "need lr > 0 and momentum in [0, 1) but got lr " + learningRate + ", momentum " + momentum);
    }
    this.params = List.copyOf(params);
    this.learningRate = learningRate;
    this.momentum = momentum;
    this.velocity = new float[this.params.size()][];
    for (int i = 0; i < velocity.length; i++) {
      velocity[i] = new float[this.params.get(i).value().length];
    }
  }

  /** Updates every parameter from its accumulated gradient (the gradients are left as they are). */
  public void step() {
    for (int i = 0; i < params.size(); i++) {
      float[] p = params.get(i).value();
      float[] g = params.get(i).grad();
      float[] v = velocity[i];
      for (int j = 0; j < p.length; j++) {
        v[j] = firstStep ? g[j] : (float) (momentum * v[j] + g[j]);
        p[j] -= (float) (learningRate * v[j]);
      }
    }
    firstStep = false;
  }

  /** Zeroes the gradient of every parameter, before the next backward pass. */
  public void zeroGrad() {
    for (Param p : params) {
      p.zeroGrad();
    }
  }
}
