package io.github.batchnorm4j.examples.nn;

import io.github.batchnorm4j.Shape;
import io.github.batchnorm4j.Tensor;

/**
 * Max pooling over non-overlapping 2 x 2 windows, like {@code torch.nn.MaxPool2d(2)}: (N, C, H, W)
 * becomes (N, C, H / 2, W / 2) (a last odd row or column is dropped, as PyTorch does).
 *
 * <p>The gradient of a maximum flows only to the input that won, so forward remembers where each
 * maximum came from.
 */
public final class MaxPool2d implements Layer {

  private Shape inputShape;
  private int[] winners; // for each output element, the index of the input that was the maximum

  @Override
  public Tensor forward(Tensor x) {
    Shape s = x.shape();
    if (s.rank() != 4) {
      throw new IllegalArgumentException("MaxPool2d expects (N, C, H, W) but got " + s);
    }
    int planes = s.dim(0) * s.dim(1);
    int h = s.dim(2);
    int w = s.dim(3);
    int oh = h / 2;
    int ow = w / 2;
    inputShape = s;
    Tensor out = Tensor.zeros(Shape.of(s.dim(0), s.dim(1), oh, ow));
    winners = new int[out.shape().numel()];
    float[] xs = x.data();
    float[] ys = out.data();
    int o = 0;
    for (int p = 0; p < planes; p++) {
      int plane = p * h * w;
      for (int oy = 0; oy < oh; oy++) {
        for (int ox = 0; ox < ow; ox++, o++) {
          int best = plane + 2 * oy * w + 2 * ox;
          for (int dy = 0; dy < 2; dy++) {
            for (int dx = 0; dx < 2; dx++) {
              int i = plane + (2 * oy + dy) * w + 2 * ox + dx;
              if (xs[i] > xs[best]) {
                best = i;
              }
            }
          }
          winners[o] = best;
          ys[o] = xs[best];
        }
      }
    }
    return out;
  }

  @Override
  public Tensor backward(Tensor gradOutput) {
    if (inputShape == null) {
      throw new IllegalStateException("MaxPool2d.backward called before forward");
    }
    Tensor gradInput = Tensor.zeros(inputShape);
    float[] dys = gradOutput.data();
    float[] dxs = gradInput.data();
    for (int o = 0; o < winners.length; o++) {
      dxs[winners[o]] += dys[o];
    }
    return gradInput;
  }

  @Override
  public String toString() {
    return "MaxPool2d(kernel_size=2)";
  }
}
