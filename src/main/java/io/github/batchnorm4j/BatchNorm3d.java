package io.github.batchnorm4j;

/**
 * Applies batch normalization over a 5D input (N, C, D, H, W), like {@code torch.nn.BatchNorm3d}: per channel, statistics over N, D, H and W.
 *
 * <p>See {@link BatchNorm} for the formulas, the modes and the contract. A typical use:
 * <pre>{@code
 * BatchNorm3d bn = new BatchNorm3d(4);            // gamma 1, beta 0, training mode
 * Tensor y = bn.forward(x);                        // x: (N, C, D, H, W) with C = 4
 * Tensor dx = bn.backward(dy);                     // adds into bn.weightGrad(), bn.biasGrad()
 * bn.eval();                                       // now normalizes with the running statistics
 * }</pre>
 */
public final class BatchNorm3d extends BatchNorm {

  /**
   * Creates a module with PyTorch's defaults: eps 1e-5, momentum 0.1, affine, tracking running
   * statistics.
   *
   * @param numFeatures C, the number of channels, &gt;= 1
   * @throws IllegalArgumentException if numFeatures &lt; 1
   */
  public BatchNorm3d(int numFeatures) {
    this(builder(numFeatures).validated());
  }

  private BatchNorm3d(Builder<BatchNorm3d> builder) {
    super(builder);
  }

  /**
   * {@return a builder for a module with C = numFeatures channels; see {@link BatchNorm.Builder}}
   *
   * @param numFeatures C, checked by {@code build()}
   */
  public static Builder<BatchNorm3d> builder(int numFeatures) {
    return new Builder<>("BatchNorm3d", numFeatures, BatchNorm3d::new);
  }

  @Override
  String rejectRank(int rank, Layout layout) {
    if (rank == 5) {
      return null;
    }
    return layout == Layout.CHANNELS_FIRST ? "rank 5 (N, C, D, H, W)" : "rank 5 (N, D, H, W, C) channels-last";
  }

  /** {@inheritDoc} */
  @Override
  public BatchNorm3d train() {
    super.train();
    return this;
  }

  /** {@inheritDoc} */
  @Override
  public BatchNorm3d eval() {
    super.eval();
    return this;
  }
}
