package io.github.batchnorm4j;

/**
 * An activation applied inside the batch-norm kernels, in the same pass as the normalization, so
 * that the pre-activation tensor is never written to memory.
 *
 * <ul>
 *   <li>{@link #NONE}: y = BN(x).
 *   <li>{@link #RELU}: y = max(0, BN(x)); the backward passes dy where y &gt; 0 and 0 where
 *       y &lt;= 0 (as PyTorch's {@code threshold_backward} does on ReLU's output), then runs the
 *       batch-norm backward on that masked gradient. NaN propagates in both directions.
 * </ul>
 */
public enum Activation {
  /** No activation: y = BN(x). */
  NONE,
  /** y = max(0, BN(x)). */
  RELU
}
