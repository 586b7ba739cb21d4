package io.github.batchnorm4j;

/**
 * What a training forward saves for its backward, per channel: the batch mean and the inverse
 * standard deviation {@code 1 / sqrt(var + eps)}, both rounded to float (PyTorch's
 * {@code save_mean} and {@code save_invstd}). The arrays are referenced, not copied.
 *
 * @param mean the batch mean, one value per channel, not null
 * @param invStd the batch's inverse standard deviation, one value per channel, not null
 */
public record BatchStatistics(float[] mean, float[] invStd) {

  /**
   * Checks that both arrays exist and have the same length.
   *
   * @param mean the batch mean per channel
   * @param invStd the inverse standard deviation per channel
   * @throws IllegalArgumentException if one is null or the lengths differ
   */
  public BatchStatistics {
    Checks.samePair("mean", mean, "invStd", invStd);
  }
}
