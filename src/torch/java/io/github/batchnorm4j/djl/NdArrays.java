package io.github.batchnorm4j.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.batchnorm4j.Shape;
import io.github.batchnorm4j.Tensor;

/**
 * Moves data between DJL's {@link NDArray} and batchnorm4j's NCHW {@link Tensor}: both are dense
 * and row-major (DJL's PyTorch engine keeps PyTorch's NCHW order), so the values are copied as
 * they are, with the shape carried over. The code docs/frameworks.md shows; tested by
 * LiveDjlFrameworksTest.
 */
public final class NdArrays {

  private NdArrays() {}

  /**
   * {@return a tensor with the array's shape and a copy of its values}
   *
   * @param array a FLOAT32 array (others are converted), shape (N, C, *spatial)
   */
  public static Tensor toTensor(NDArray array) {
    NDArray floats = array.getDataType() == DataType.FLOAT32 ? array : array.toType(DataType.FLOAT32, false);
    long[] dims = floats.getShape().getShape();
    int[] shape = new int[dims.length];
    for (int i = 0; i < dims.length; i++) {
      shape[i] = Math.toIntExact(dims[i]);
    }
    return Tensor.of(Shape.of(shape), floats.toFloatArray());
  }

  /**
   * {@return a new FLOAT32 array on the manager with the tensor's shape and values}
   *
   * @param manager the manager that owns the new array
   * @param tensor the tensor; not modified
   */
  public static NDArray toNdArray(NDManager manager, Tensor tensor) {
    int[] dims = tensor.shape().toArray();
    long[] shape = new long[dims.length];
    for (int i = 0; i < dims.length; i++) {
      shape[i] = dims[i];
    }
    return manager.create(tensor.data(), new ai.djl.ndarray.types.Shape(shape));
  }
}
