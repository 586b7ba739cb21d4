package io.github.batchnorm4j;

/**
 * The learned per-channel parameters gamma ({@code weight}) and beta ({@code bias}) of
 * {@code y = xhat * gamma + beta}. Either may be null: a null weight means gamma = 1, a null bias
 * beta = 0 (PyTorch's {@code affine=False} has both null). The arrays are referenced, not copied.
 *
 * @param weight gamma, one value per channel, or null
 * @param bias beta, one value per channel, or null
 */
public record AffineParameters(float[] weight, float[] bias) {

  /** No affine transform: gamma = 1, beta = 0. */
  public static final AffineParameters NONE = new AffineParameters(null, null);

  /**
   * Checks that weight and bias, when both given, have the same length.
   *
   * @param weight gamma, or null
   * @param bias beta, or null
   * @throws IllegalArgumentException if they differ
   */
  public AffineParameters {
    if (weight != null && bias != null) {
      Checks.samePair("weight", weight, "bias", bias);
    }
  }
}
