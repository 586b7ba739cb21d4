package io.github.batchnorm4j;

import java.util.Arrays;

/**
 * An immutable tensor shape: a list of non-negative dimension sizes, outermost first.
 *
 * <p>For batch normalization the convention is (N, C, *spatial): N samples, C channels, then zero to
 * three spatial dimensions (L for 1d, H and W for 2d, D, H and W for 3d). A shape never hands out
 * its internal array, so it is safe to share between threads.
 *
 * <pre>{@code
 * Shape s = Shape.of(2, 3, 8, 8);
 * s.rank();    // 4
 * s.dim(1);    // 3
 * s.numel();   // 384
 * s.toString() // "(2, 3, 8, 8)"
 * }</pre>
 */
public final class Shape {

  private final int[] dims;
  private final int numel;

  private Shape(int[] dims, int numel) {
    this.dims = dims;
    this.numel = numel;
  }

  /**
   * Creates a shape from its dimension sizes.
   *
   * @param dims the sizes, outermost first; each must be &gt;= 0. Not modified and not retained (a
   *     copy is taken). An empty list is the shape of a scalar, with one element. A shape with a
   *     size 0 has no elements, whatever the other sizes, and is always accepted.
   * @return the shape
   * @throws IllegalArgumentException if {@code dims} is null, a size is negative, or the product of
   *     the sizes exceeds {@link Integer#MAX_VALUE} (the largest Java array)
   */
  public static Shape of(int... dims) {
    if (dims == null) {
      throw new IllegalArgumentException("dims must not be null");
    }
    int[] copy = dims.clone();
    boolean empty = false;
    for (int i = 0; i < copy.length; i++) {
      if (copy[i] < 0) {
        throw new IllegalArgumentException(
            "dimension " + i + " must be >= 0 but is " + copy[i] + "; dims " + Arrays.toString(copy));
      }
      empty |= copy[i] == 0;
    }
    if (empty) {
      return new Shape(copy, 0); // any sizes beside a 0, such as (65536, 65536, 0), hold nothing
    }
    long product = 1;
    for (int i = 0; i < copy.length; i++) {
      product *= copy[i];
      // Checked at every step so that the running product cannot overflow a long either.
      if (product > Integer.MAX_VALUE) {
        throw new IllegalArgumentException(
            "shape " + format(copy) + " has more than Integer.MAX_VALUE (" + Integer.MAX_VALUE
                + ") elements");
      }
    }
    return new Shape(copy, (int) product);
  }

  /** {@return the number of dimensions} */
  public int rank() {
    return dims.length;
  }

  /**
   * {@return the size of one dimension}
   *
   * @param i the dimension index, {@code 0 <= i < rank()}
   * @throws IndexOutOfBoundsException if {@code i} is out of range (the message gives the shape)
   */
  public int dim(int i) {
    if (i < 0 || i >= dims.length) {
      throw new IndexOutOfBoundsException(
          "dimension index " + i + " out of range for rank " + dims.length + "; shape " + this);
    }
    return dims[i];
  }

  /** {@return a copy of the dimension sizes} */
  public int[] toArray() {
    return dims.clone();
  }

  /**
   * {@return the number of elements, the product of all sizes (1 for a scalar, 0 if any size is 0)}
   * Never overflows: {@link #of} rejects shapes with more than {@link Integer#MAX_VALUE} elements.
   */
  public int numel() {
    return numel;
  }

  /** Two shapes are equal when they have the same rank and the same sizes. */
  @Override
  public boolean equals(Object o) {
    return o instanceof Shape && Arrays.equals(dims, ((Shape) o).dims);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(dims);
  }

  /** Returns the sizes in PyTorch-like notation, for example {@code (2, 3, 8, 8)} or {@code ()}. */
  @Override
  public String toString() {
    return format(dims);
  }

  private static String format(int[] dims) {
    StringBuilder sb = new StringBuilder("(");
    for (int i = 0; i < dims.length; i++) {
      if (i > 0) {
        sb.append(", ");
      }
      sb.append(dims[i]);
    }
    return sb.append(')').toString();
  }
}
