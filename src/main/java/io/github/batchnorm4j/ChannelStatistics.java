package io.github.batchnorm4j;

/**
 * A per-channel mean and variance: a module's running statistics, or the fixed statistics an
 * inference pass normalizes with. The arrays are referenced, not copied; a training forward
 * updates running statistics in place.
 *
 * @param mean one value per channel, not null
 * @param var the variance, one value per channel, not null
 */
public record ChannelStatistics(float[] mean, float[] var) {

  /**
   * Checks that both arrays exist and have the same length.
   *
   * @param mean the per-channel mean
   * @param var the per-channel variance
   * @throws IllegalArgumentException if one is null or the lengths differ
   */
  public ChannelStatistics {
    Checks.samePair("mean", mean, "var", var);
  }
}
