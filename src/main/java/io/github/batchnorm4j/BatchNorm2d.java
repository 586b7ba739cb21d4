package io.github.batchnorm4j;

/**
 * Applies batch normalization over a 4D input (N, C, H, W), like {@code torch.nn.BatchNorm2d}: per channel, statistics over N, H and W.
 *
 * <p>See {@link BatchNorm} for the formulas, the modes and the contract. A typical use:
 * <pre>{@code
 * BatchNorm2d bn = new BatchNorm2d(4);            // gamma 1, beta 0, training mode
 * Tensor y = bn.forward(x);                        // x: (N, C, H, W) with C = 4
 * Tensor dx = bn.backward(dy);                     // adds into bn.weightGrad(), bn.biasGrad()
 * bn.eval();                                       // now normalizes with the running statistics
 * }</pre>
 */
public final class BatchNorm2d extends BatchNorm {

  /**
   * Creates a module with PyTorch's defaults: eps 1e-5, momentum 0.1, affine, tracking running
   * statistics.
   *
   * @param numFeatures C, the number of channels, &gt;= 1
   * @throws IllegalArgumentException if numFeatures &lt; 1
   */
  public BatchNorm2d(int numFeatures) {
    this(builder(numFeatures).validated());
  }

  private BatchNorm2d(Builder<BatchNorm2d> builder) {
    super(builder);
  }

  /**
   * {@return a builder for a module with C = numFeatures channels; see {@link BatchNorm.Builder}}
   *
   * @param numFeatures C, checked by {@code build()}
   */
  public static Builder<BatchNorm2d> builder(int numFeatures) {
    return new Builder<>("BatchNorm2d", numFeatures, BatchNorm2d::new);
  }

  @Override
  String rejectRank(int rank, Layout layout) {
    if (rank == 4) {
      return null;
    }
    return layout == Layout.CHANNELS_FIRST ? "rank 4 (N, C, H, W)" : "rank 4 (N, H, W, C) channels-last";
  }

  /** {@inheritDoc} */
  @Override
  public BatchNorm2d train() {
    super.train();
    return this;
  }

  /** {@inheritDoc} */
  @Override
  public BatchNorm2d eval() {
    super.eval();
    return this;
  }
}
