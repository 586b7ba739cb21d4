package io.github.batchnorm4j.examples.nn;

import io.github.batchnorm4j.Tensor;

/** The rectifier y = max(0, x), elementwise; its gradient passes where x &gt; 0 and stops elsewhere. */
public final class Relu implements Layer {

  private Tensor input;

  @Override
  public Tensor forward(Tensor x) {
    input = x;
    Tensor out = Tensor.zeros(x.shape());
    float[] xs = x.data();
    float[] ys = out.data();
    for (int i = 0; i < xs.length; i++) {
      ys[i] = Math.max(0f, xs[i]);
    }
    return out;
  }

  @Override
  public Tensor backward(Tensor gradOutput) {
    if (input == null) {
      throw new IllegalStateException("Relu.backward called before forward");
    }
    Tensor gradInput = Tensor.zeros(input.shape());
    float[] xs = input.data();
    float[] dys = gradOutput.data();
    float[] dxs = gradInput.data();
    for (int i = 0; i < xs.length; i++) {
      dxs[i] = xs[i] > 0 ? dys[i] : 0f;
    }
    return gradInput;
  }

  @Override
  public String toString() {
    return "ReLU()";
  }
}
