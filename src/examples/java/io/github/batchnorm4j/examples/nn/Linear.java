package io.github.batchnorm4j.examples.nn;

import io.github.batchnorm4j.Shape;
import io.github.batchnorm4j.Tensor;
import java.util.List;
import java.util.Random;

/**
 * A fully connected layer, like {@code torch.nn.Linear(in, out)}: for input (N, in),
 * {@code y[n, o] = bias[o] + sum_f weight[o, f] * x[n, f]}, output (N, out).
 *
 * <p>An input of higher rank, such as (N, C, H, W), is read as (N, C * H * W): flattening a
 * row-major tensor does not move any data.
 */
public final class Linear implements Layer {

  private final int inFeatures;
  private final int outFeatures;
  private final Param weight; // (out, in) row-major
  private final Param bias;

  private Tensor input;

  /**
   * Creates a layer initialised as PyTorch does by default: weight and bias uniform in
   * (-1/sqrt(in), 1/sqrt(in)).
   */
  public Linear(int inFeatures, int outFeatures, Random random) {
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    double bound = 1 / Math.sqrt(inFeatures);
    this.weight = Param.of("linear.weight", Init.uniform(outFeatures * inFeatures, bound, random));
    this.bias = Param.of("linear.bias", Init.uniform(outFeatures, bound, random));
  }

  public Param weight() {
    return weight;
  }

  public int inFeatures() {
    return inFeatures;
  }

  public int outFeatures() {
    return outFeatures;
  }

  public Param bias() {
    return bias;
  }

  @Override
  public List<Param> params() {
    return List.of(weight, bias);
  }

  @Override
  public Tensor forward(Tensor x) {
    int n = x.shape().dim(0);
    if (x.shape().numel() != n * inFeatures) {
      throw new IllegalArgumentException(
          "Linear expects " + inFeatures + " features per sample but got shape " + x.shape());
    }
    input = x;
    float[] xs = x.data();
    float[] w = weight.value();
    Tensor out = Tensor.zeros(Shape.of(n, outFeatures));
    float[] ys = out.data();
    for (int s = 0; s < n; s++) {
      for (int o = 0; o < outFeatures; o++) {
        double sum = bias.value()[o];
        for (int f = 0; f < inFeatures; f++) {
          sum += w[o * inFeatures + f] * xs[s * inFeatures + f];
        }
        ys[s * outFeatures + o] = (float) sum;
      }
    }
    return out;
  }

  @Override
  public Tensor backward(Tensor gradOutput) {
    if (input == null) {
      throw new IllegalStateException("Linear.backward called before forward");
    }
    int n = input.shape().dim(0);
    float[] xs = input.data();
    float[] dys = gradOutput.data();
    float[] w = weight.value();
    float[] dw = weight.grad();
    float[] db = bias.grad();
    Tensor gradInput = Tensor.zeros(input.shape());
    float[] dxs = gradInput.data();
    for (int s = 0; s < n; s++) {
      for (int o = 0; o < outFeatures; o++) {
        float g = dys[s * outFeatures + o];
        db[o] += g;
        int row = o * inFeatures;
        int xRow = s * inFeatures;
        for (int f = 0; f < inFeatures; f++) {
          dw[row + f] += g * xs[xRow + f]; // dL/dW = dy^T x
          dxs[xRow + f] += g * w[row + f]; // dL/dx = dy W
        }
      }
    }
    return gradInput;
  }

  @Override
  public String toString() {
    return "Linear(" + inFeatures + ", " + outFeatures + ")";
  }
}
