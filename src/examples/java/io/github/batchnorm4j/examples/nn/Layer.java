package io.github.batchnorm4j.examples.nn;

import io.github.batchnorm4j.Tensor;
import java.util.List;

/**
 * One step of a feed-forward network with a hand-written backward pass.
 *
 * <p>The contract mirrors the library's {@code BatchNorm}: {@link #forward} remembers what the
 * backward needs, and {@link #backward} returns dL/dx for the input of the most recent forward and
 * ADDS the parameter gradients into {@link Param#grad()}.
 */
public interface Layer {

  /** Computes the output for the batch {@code x}; remembers what {@link #backward} needs. */
  Tensor forward(Tensor x);

  /**
   * Given dL/dy for the output of the most recent forward, adds the parameter gradients and
   * returns dL/dx.
   */
  Tensor backward(Tensor gradOutput);

  /** The learnable parameters, empty for layers without any. */
  default List<Param> params() {
    return List.of();
  }
}
