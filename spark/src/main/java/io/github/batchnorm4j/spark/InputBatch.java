package io.github.batchnorm4j.spark;

import io.github.batchnorm4j.Shape;
import io.github.batchnorm4j.Tensor;
import java.io.Serializable;
import java.util.Arrays;

/**
 * One batch of network inputs as an element of a Spark RDD: a shape and its row-major float data.
 * (batchnorm4j's {@link Tensor} is not serializable.) Immutable as far as the class goes; the
 * data array is shared, not copied, so do not change it after handing it over.
 */
public final class InputBatch implements Serializable {

  private static final long serialVersionUID = 1L;

  private final int[] shape;
  private final float[] data;

  private InputBatch(int[] shape, float[] data) {
    this.shape = shape;
    this.data = data;
  }

  /**
   * A batch of the given shape.
   *
   * @param shape for example (N, 1, 28, 28); N may be 0
   * @param data shape.numel() values, row-major. Referenced, not copied.
   * @return the batch
   * @throws IllegalArgumentException if an argument is null or data's length is not shape.numel()
   */
  public static InputBatch of(Shape shape, float[] data) {
    if (shape == null || data == null) {
      throw new IllegalArgumentException("shape and data must not be null but shape is " + shape
          + " and data is " + (data == null ? "null" : "given"));
    }
    if (data.length != shape.numel()) {
      throw new IllegalArgumentException("data has length " + data.length + " but shape " + shape
          + " holds " + shape.numel() + " values");
    }
    return new InputBatch(shape.toArray(), data);
  }

  /** The shape. */
  public Shape shape() {
    return Shape.of(shape);
  }

  /** The batch as a tensor over the same data (no copy). */
  public Tensor toTensor() {
    return Tensor.of(Shape.of(shape), data);
  }

  /** For example {@code InputBatch(8, 1, 28, 28)}. */
  @Override
  public String toString() {
    return "InputBatch" + Arrays.toString(shape).replace('[', '(').replace(']', ')');
  }
}
