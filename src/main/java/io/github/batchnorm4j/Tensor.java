package io.github.batchnorm4j;

/**
 * A dense, row-major (C order) float32 tensor: a {@link Shape} and the {@code float[]} that holds its
 * elements. For an (N, C, H, W) tensor the element (n, c, h, w) is at index
 * {@code ((n * C + c) * H + h) * W + w}.
 *
 * <p>A tensor is a thin view: {@link #of} wraps the caller's array without copying, and
 * {@link #data()} returns that same live array. Writes through either are visible through both.
 * The shape is immutable; the contents are not, and a tensor is not thread-safe when it is written.
 */
public final class Tensor {

  private final Shape shape;
  private final float[] data;

  private Tensor(Shape shape, float[] data) {
    this.shape = shape;
    this.data = data;
  }

  /**
   * Wraps an array as a tensor of the given shape, without copying.
   *
   * @param shape the shape; not null
   * @param data the elements in row-major order; its length must equal {@code shape.numel()}. Not
   *     copied: the tensor reads and writes this array.
   * @return a tensor wrapping {@code data}
   * @throws IllegalArgumentException if an argument is null or the length does not match the shape
   */
  public static Tensor of(Shape shape, float[] data) {
    if (shape == null) {
      throw new IllegalArgumentException("shape must not be null");
    }
    if (data == null) {
      throw new IllegalArgumentException("data must not be null; shape " + shape);
    }
    if (data.length != shape.numel()) {
      throw new IllegalArgumentException(
          "data has length " + data.length + " but shape " + shape + " needs " + shape.numel()
              + " elements");
    }
    return new Tensor(shape, data);
  }

  /**
   * Allocates a tensor of zeros.
   *
   * @param shape the shape; not null
   * @return a new tensor of zeros
   * @throws IllegalArgumentException if {@code shape} is null
   */
  public static Tensor zeros(Shape shape) {
    if (shape == null) {
      throw new IllegalArgumentException("shape must not be null");
    }
    return new Tensor(shape, new float[shape.numel()]);
  }

  /** {@return the shape} */
  public Shape shape() {
    return shape;
  }

  /** {@return the live element array (not a copy), of length {@code shape().numel()}} */
  public float[] data() {
    return data;
  }

  /** Returns the shape and, for small tensors, the elements; for diagnostics only. */
  @Override
  public String toString() {
    StringBuilder sb = new StringBuilder("Tensor").append(shape);
    if (data.length <= 16) {
      sb.append(java.util.Arrays.toString(data));
    }
    return sb.toString();
  }
}
