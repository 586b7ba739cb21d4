package io.github.batchnorm4j.examples.nn;

/**
 * A learnable parameter: its values and the gradient of the loss with respect to them.
 *
 * <p>Both arrays are live: a layer reads {@code value} in its forward pass and adds into
 * {@code grad} in its backward pass, and {@link Sgd} updates {@code value} in place. For a
 * batch-norm layer they are the library's own arrays ({@code weight()} and {@code weightGrad()}),
 * so the optimizer trains gamma and beta without any copying.
 *
 * @param name a readable name for messages and tests, for example {@code conv1.weight}
 * @param value the parameter values, updated by the optimizer
 * @param grad the accumulated gradient, same length; zeroed by {@link #zeroGrad()}
 */
public record Param(String name, float[] value, float[] grad) {

  public Param {
    if (value.length != grad.length) {
      throw new IllegalArgumentException(
          name + ": value has length " + value.length + " but grad has length " + grad.length);
    }
  }

  /** Creates a parameter with a fresh zero gradient. */
  public static Param of(String name, float[] value) {
    return new Param(name, value, new float[value.length]);
  }

  /** Sets the gradient to zero; gradients accumulate, as in PyTorch, until this is called. */
  public void zeroGrad() {
    java.util.Arrays.fill(grad, 0f);
  }
}
