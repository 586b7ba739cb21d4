package io.github.batchnorm4j;

/**
 * Applies batch normalization over a 2D input (N, C) or a 3D input (N, C, L), like
 * {@code torch.nn.BatchNorm1d}: per channel, statistics over N (and L).
 *
 * <p>See {@link BatchNorm} for the formulas, the modes and the contract. A typical use:
 * <pre>{@code
 * BatchNorm1d bn = new BatchNorm1d(4);            // gamma 1, beta 0, training mode
 * Tensor y = bn.forward(x);                        // x: (N, C) or (N, C, L) with C = 4
 * Tensor dx = bn.backward(dy);                     // adds into bn.weightGrad(), bn.biasGrad()
 * bn.eval();                                       // now normalizes with the running statistics
 * }</pre>
 */
public final class BatchNorm1d extends BatchNorm {

  /**
   * Creates a module with PyTorch's defaults: eps 1e-5, momentum 0.1, affine, tracking running
   * statistics.
   *
   * @param numFeatures C, the number of channels, &gt;= 1
   * @throws IllegalArgumentException if numFeatures &lt; 1
   */
  public BatchNorm1d(int numFeatures) {
    this(builder(numFeatures).validated());
  }

  private BatchNorm1d(Builder<BatchNorm1d> builder) {
    super(builder);
  }

  /**
   * {@return a builder for a module with C = numFeatures channels; see {@link BatchNorm.Builder}}
   *
   * @param numFeatures C, checked by {@code build()}
   */
  public static Builder<BatchNorm1d> builder(int numFeatures) {
    return new Builder<>("BatchNorm1d", numFeatures, BatchNorm1d::new);
  }

  @Override
  String rejectRank(int rank, Layout layout) {
    if (rank == 2 || rank == 3) {
      return null;
    }
    return layout == Layout.CHANNELS_FIRST ? "rank 2 (N, C) or rank 3 (N, C, L)" : "rank 2 (N, C) or rank 3 (N, L, C) channels-last";
  }

  /** {@inheritDoc} */
  @Override
  public BatchNorm1d train() {
    super.train();
    return this;
  }

  /** {@inheritDoc} */
  @Override
  public BatchNorm1d eval() {
    super.eval();
    return this;
  }
}
