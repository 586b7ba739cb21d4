/**
 * batchnorm4j: batch normalization for Java with PyTorch's semantics. Exports only the public API
 * (Shape, Tensor, the BatchNorm modules and the functional layer) and the safetensors reader and
 * writer; the kernels stay internal.
 */
module io.github.batchnorm4j {
  exports io.github.batchnorm4j;
  exports io.github.batchnorm4j.safetensors;
}
