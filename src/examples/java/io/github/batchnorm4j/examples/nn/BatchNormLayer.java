package io.github.batchnorm4j.examples.nn;

import io.github.batchnorm4j.BatchNorm2d;
import io.github.batchnorm4j.Tensor;
import java.util.List;

/**
 * Puts the library's {@link BatchNorm2d} into a {@link Layer} stack. Nothing is re-implemented:
 * forward and backward are the library's, and the parameters handed to the optimizer are the
 * library's live gamma and beta arrays with their gradient arrays.
 */
public final class BatchNormLayer implements Layer {

  private final BatchNorm2d batchNorm;
  private final List<Param> params;

  public BatchNormLayer(BatchNorm2d batchNorm) {
    this.batchNorm = batchNorm;
    this.params = List.of(
        new Param("bn.weight (gamma)", batchNorm.weight(), batchNorm.weightGrad()),
        new Param("bn.bias (beta)", batchNorm.bias(), batchNorm.biasGrad()));
  }

  /** The wrapped module, for switching between {@code train()} and {@code eval()}. */
  public BatchNorm2d module() {
    return batchNorm;
  }

  @Override
  public Tensor forward(Tensor x) {
    Tensor out = Tensor.zeros(x.shape());
    batchNorm.forward(x, out);
    return out;
  }

  @Override
  public Tensor backward(Tensor gradOutput) {
    Tensor gradInput = Tensor.zeros(gradOutput.shape());
    batchNorm.backward(gradOutput, gradInput);
    return gradInput;
  }

  @Override
  public List<Param> params() {
    return params;
  }

  @Override
  public String toString() {
    return batchNorm.toString();
  }
}
