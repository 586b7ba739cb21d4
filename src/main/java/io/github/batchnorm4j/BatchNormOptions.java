package io.github.batchnorm4j;

/**
 * The hyperparameters of a batch-norm computation, validated once: shared by {@link BatchNorm}'s
 * builder, {@link FrozenBatchNorm2d} and {@link BatchNormFunctional}.
 *
 * <pre>{@code
 * BatchNormOptions options = BatchNormOptions.defaults()          // eps 1e-5, NCHW, no activation
 *     .withLayout(Layout.CHANNELS_LAST).withActivation(Activation.RELU).withThreads(2);
 * }</pre>
 *
 * @param eps added to the variance before the square root: {@code 1 / sqrt(var + eps)}; finite
 *     and &gt; 0 (PyTorch's default 1e-5)
 * @param layout where the channel dimension is
 * @param activation the activation fused after the normalization
 * @param unbiasedRunningVar true (PyTorch) to update the running variance with the unbiased batch
 *     variance {@code var * m / (m - 1)}, false (Keras, DL4J) with the biased {@code var}
 * @param threads the most threads one call may use, &gt;= 1 (1 = the caller's thread only)
 */
public record BatchNormOptions(
    double eps, Layout layout, Activation activation, boolean unbiasedRunningVar, int threads) {

  private static final BatchNormOptions DEFAULTS =
      new BatchNormOptions(1e-5, Layout.CHANNELS_FIRST, Activation.NONE, true, 1);

  /**
   * Validates the options.
   *
   * @param eps finite and &gt; 0
   * @param layout not null
   * @param activation not null
   * @param unbiasedRunningVar the running-variance convention
   * @param threads &gt;= 1
   * @throws IllegalArgumentException if eps is not finite and &gt; 0, layout or activation is
   *     null, or threads &lt; 1
   */
  public BatchNormOptions {
    Checks.eps(eps);
    Checks.notNull("layout", layout);
    Checks.notNull("activation", activation);
    Checks.threads(threads);
  }

  /**
   * Returns PyTorch's defaults: eps 1e-5, channels-first, no activation, unbiased running
   * variance, one thread.
   *
   * @return the default options
   */
  public static BatchNormOptions defaults() {
    return DEFAULTS;
  }

  /**
   * Returns these options with another eps.
   *
   * @param eps finite and &gt; 0
   * @return new options
   */
  public BatchNormOptions withEps(double eps) {
    return new BatchNormOptions(eps, layout, activation, unbiasedRunningVar, threads);
  }

  /**
   * Returns these options with another layout.
   *
   * @param layout not null
   * @return new options
   */
  public BatchNormOptions withLayout(Layout layout) {
    return new BatchNormOptions(eps, layout, activation, unbiasedRunningVar, threads);
  }

  /**
   * Returns these options with another fused activation.
   *
   * @param activation not null
   * @return new options
   */
  public BatchNormOptions withActivation(Activation activation) {
    return new BatchNormOptions(eps, layout, activation, unbiasedRunningVar, threads);
  }

  /**
   * Returns these options with the other running-variance convention.
   *
   * @param unbiased true for PyTorch's unbiased running variance, false for the biased one
   * @return new options
   */
  public BatchNormOptions withUnbiasedRunningVar(boolean unbiased) {
    return new BatchNormOptions(eps, layout, activation, unbiased, threads);
  }

  /**
   * Returns these options with another thread count.
   *
   * @param threads &gt;= 1
   * @return new options
   */
  public BatchNormOptions withThreads(int threads) {
    return new BatchNormOptions(eps, layout, activation, unbiasedRunningVar, threads);
  }
}
