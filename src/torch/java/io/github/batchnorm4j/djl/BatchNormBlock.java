package io.github.batchnorm4j.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.github.batchnorm4j.BatchNorm;
import io.github.batchnorm4j.Tensor;

/**
 * A batchnorm4j module as a DJL {@link ai.djl.nn.Block}: the forward copies the input out of the
 * NDArray, runs the module in DJL's mode (training or not) and copies the output back. The
 * module's gamma, beta and running statistics stay in the module: DJL does not see them as
 * parameters, and its autograd does not reach through the block, so use it for inference (or call
 * the module's backward yourself). The code docs/frameworks.md shows; tested by
 * LiveDjlFrameworksTest.
 */
public final class BatchNormBlock extends AbstractBlock {

  private final BatchNorm module;

  /**
   * Wraps a module.
   *
   * @param module the batchnorm4j module; used, not copied
   */
  public BatchNormBlock(BatchNorm module) {
    this.module = module;
  }

  @Override
  protected NDList forwardInternal(ParameterStore store, NDList inputs, boolean training,
      PairList<String, Object> params) {
    NDArray x = inputs.singletonOrThrow();
    if (training) {
      module.train();
    } else {
      module.eval();
    }
    Tensor y = module.forward(NdArrays.toTensor(x));
    return new NDList(NdArrays.toNdArray(x.getManager(), y));
  }

  @Override
  public Shape[] getOutputShapes(Shape[] inputShapes) {
    return inputShapes;
  }
}
