package io.github.batchnorm4j;

import io.github.batchnorm4j.internal.BatchNormKernels;
import io.github.batchnorm4j.internal.KernelOps;

import java.io.Serializable;
import java.util.Arrays;
import java.util.List;

/**
 * Mergeable per-channel statistics: the number of values per channel, and each channel's mean and
 * sum of squared deviations (M2), in double. They describe a set of values to within the rounding
 * of the pass that computed them (below) and can be combined without the values, which makes them
 * the message of synchronized batch norm ({@link SyncBatchNorm}) and the accumulator of population
 * statistics over a whole dataset (the {@code batchnorm4j-spark} module aggregates them over a
 * Spark RDD).
 *
 * <h2>Formulas</h2>
 * A batch of shape (N, C, *spatial) adds m = N * prod(spatial) values per channel; its own
 * statistics
 * <pre>
 * mean_c = (1/m) sum x        M2_c = sum (x - mean_c)^2
 * </pre>
 * come from the training forward's statistics pass: one pass of the sums of x - K and (x - K)^2,
 * K a value of the channel, then mean = K + S1 / m and M2 = S2 - S1^2 / m. With the scalar kernels
 * the sums are in double, so M2 is within about m * 1e-16 relative of exact; the Vector API
 * kernels add runs of 128 values or more in float lanes around local means (only the blocks' sums
 * in double), which keeps M2 within about one float ulp, 2^-23 relative (docs/numerics.md,
 * section 1). PyTorch computes a batch's statistics in two passes in double.
 * Two sets (a, b) merge with Chan, Golub and LeVeque's parallel formula:
 * <pre>
 * n     = n_a + n_b           delta = mean_b - mean_a
 * mean  = mean_a + delta * n_b / n
 * M2    = M2_a + M2_b + delta^2 * n_a * n_b / n
 * </pre>
 * and then biased variance = M2 / n, unbiased variance = M2 / (n - 1). Floating-point merging is
 * not associative, so the order is part of the result: {@link #mergeInOrder(List)} merges in list
 * order (by worker rank or partition index), which gives the same bits however the parts were
 * produced or in which order they arrived.
 *
 * <h2>Use on their own</h2>
 * <pre>
 * ChannelMoments stats = new ChannelMoments(16);
 * for (Tensor batch : batches) stats.accumulate(batch);   // (N, 16, H, W) each
 * stats.writeRunningStatistics(bn);                       // bn.runningMean() = mean,
 *                                                         // bn.runningVar()  = M2 / (n - 1)
 * </pre>
 * The object is mutable and not thread-safe; it is {@link Serializable} so that distributed
 * frameworks can ship it.
 */
public final class ChannelMoments implements Serializable {

  private static final long serialVersionUID = 1L;

  /** C, the number of channels. */
  private final int channels;
  /** n, the number of values per channel so far. */
  private long count;
  /** The per-channel means. */
  private final double[] mean;
  /** The per-channel sums of squared deviations from the mean. */
  private final double[] m2;

  /**
   * A deserialized object must be consistent: the fields are final, so they are checked after
   * reading.
   *
   * @param in the stream
   * @throws java.io.IOException if the stream fails, or holds inconsistent statistics ({@link
   *     java.io.InvalidObjectException})
   * @throws ClassNotFoundException if a class of the stream is missing
   */
  private void readObject(java.io.ObjectInputStream in)
      throws java.io.IOException, ClassNotFoundException {
    in.defaultReadObject();
    if (channels < 1 || mean == null || m2 == null || mean.length != channels
        || m2.length != channels || count < 0) {
      throw new java.io.InvalidObjectException("inconsistent ChannelMoments: channels " + channels
          + ", count " + count + ", mean length " + (mean == null ? "null" : mean.length)
          + ", m2 length " + (m2 == null ? "null" : m2.length));
    }
    for (int c = 0; c < channels; c++) {
      if (count == 0 && (mean[c] != 0 || m2[c] != 0)) {
        throw new java.io.InvalidObjectException("inconsistent ChannelMoments: count 0 but channel "
            + c + " has mean " + mean[c] + " and m2 " + m2[c]);
      }
    }
  }

  /**
   * A stream may make the two arrays one, or share them with another object: read a copy.
   *
   * @return a copy of the object read
   */
  private Object readResolve() {
    return copy();
  }

  /**
   * Empty statistics (count 0, every mean and M2 0) for {@code channels} channels.
   *
   * @param channels C, &gt;= 1
   * @throws IllegalArgumentException if channels &lt; 1
   */
  public ChannelMoments(int channels) {
    if (channels < 1) {
      throw new IllegalArgumentException("channels must be >= 1 but is " + channels);
    }
    this.channels = channels;
    this.mean = new double[channels];
    this.m2 = new double[channels];
  }

  /**
   * Statistics with the given values (copied).
   *
   * @param count the number of values per channel, &gt;= 0
   * @param mean the per-channel means, length C &gt;= 1, finite; all 0 when count is 0. Not modified.
   * @param m2 the per-channel sums of squared deviations, length C, &gt;= 0; all 0 when count is 0.
   *     Not modified.
   * @return new statistics
   * @throws IllegalArgumentException if an array is null, the lengths differ, count &lt; 0, a mean
   *     is not finite, an M2 is negative or NaN, or count is 0 with a non-zero mean or M2
   */
  public static ChannelMoments of(long count, double[] mean, double[] m2) {
    if (mean == null || m2 == null) {
      throw new IllegalArgumentException(
          "mean and m2 must not be null but mean is " + (mean == null ? "null" : "given")
              + " and m2 is " + (m2 == null ? "null" : "given"));
    }
    if (mean.length != m2.length || mean.length == 0) {
      throw new IllegalArgumentException(
          "mean and m2 must have the same length >= 1 (one value per channel) but have lengths "
              + mean.length + " and " + m2.length);
    }
    if (count < 0) {
      throw new IllegalArgumentException("count must be >= 0 but is " + count);
    }
    for (int c = 0; c < m2.length; c++) {
      if (!Double.isFinite(mean[c])) {
        throw new IllegalArgumentException("mean[" + c + "] must be finite but is " + mean[c]);
      }
      if (!(m2[c] >= 0)) {
        throw new IllegalArgumentException(
            "m2[" + c + "] must be >= 0 (a sum of squares) but is " + m2[c]);
      }
      if (count == 0 && (mean[c] != 0 || m2[c] != 0)) {
        throw new IllegalArgumentException(
            "count is 0 but channel " + c + " has mean " + mean[c] + " and m2 " + m2[c]
                + "; empty statistics have mean 0 and m2 0");
      }
    }
    ChannelMoments s = new ChannelMoments(mean.length);
    s.count = count;
    System.arraycopy(mean, 0, s.mean, 0, mean.length);
    System.arraycopy(m2, 0, s.m2, 0, m2.length);
    return s;
  }

  /**
   * The statistics of one channels-first batch (N, C, *spatial), computed as the class comment
   * says.
   *
   * @param x the batch, rank &gt;= 2. Not modified.
   * @return new statistics with count N * prod(spatial)
   * @throws IllegalArgumentException if x is null or has rank &lt; 2
   */
  public static ChannelMoments ofBatch(Tensor x) {
    checkBatch(x, -1);
    ChannelMoments s = new ChannelMoments(x.shape().dim(1));
    s.accumulate(x);
    return s;
  }

  /**
   * Adds the values of a channels-first batch (N, C, *spatial): its statistics (computed as the
   * class comment says) are merged into these with Chan's formula, this first. An empty batch (N = 0 or a
   * spatial size 0) changes nothing.
   *
   * @param x the batch, (N, C, *spatial) with C = {@link #channels()}. Not modified.
   * @return this, modified
   * @throws IllegalArgumentException if x is null, has rank &lt; 2, or a different channel count,
   *     or the count would pass Long.MAX_VALUE; nothing has changed then
   */
  public ChannelMoments accumulate(Tensor x) {
    checkBatch(x, channels);
    Shape shape = x.shape();
    return accumulate(x.data(), shape.dim(0), channels, spatialSize(shape));
  }

  /**
   * Adds the values of a channels-first batch given as raw data; see {@link #accumulate(Tensor)}.
   *
   * @param x the data, length batch * channels * spatial, row-major (N, C, S). Not modified.
   * @param batch N, &gt;= 0
   * @param channels C, must equal {@link #channels()}
   * @param spatial the product of the spatial sizes, &gt;= 0
   * @return this, modified
   * @throws IllegalArgumentException if x is null, its length does not match, or channels differs,
   *     or the count would pass Long.MAX_VALUE; nothing has changed then
   */
  public ChannelMoments accumulate(float[] x, int batch, int channels, int spatial) {
    if (batch < 0 || channels < 1 || spatial < 0) {
      throw new IllegalArgumentException("batch and spatial must be >= 0 and channels >= 1 but"
          + " (batch, channels, spatial) = (" + batch + ", " + channels + ", " + spatial + ")");
    }
    Checks.data("x", x, Shape.of(batch, channels, spatial));
    if (channels != this.channels) {
      throw new IllegalArgumentException(
          "batch has " + channels + " channels but these statistics have " + this.channels
              + "; batch (N, C, S) = (" + batch + ", " + channels + ", " + spatial + ")");
    }
    long m = (long) batch * spatial;
    if (m == 0) {
      return this;
    }
    double[] batchMean = new double[channels];
    double[] batchM2 = new double[channels];
    BatchNormKernels.moments(KernelOps.forSize(x.length), batch, channels, spatial, x, batchMean,
        batchM2, 1);
    mergeInto(this, m, batchMean, batchM2);
    return this;
  }

  /**
   * Merges {@code other} into these statistics with Chan's formula, this as the first operand:
   * this := this &#8853; other. Merging empty statistics changes nothing; merging into empty ones
   * copies other exactly.
   *
   * @param other statistics with the same channel count. Not modified (may be this).
   * @return this, modified
   * @throws IllegalArgumentException if other is null or has a different channel count, or the
   *     count would pass Long.MAX_VALUE; nothing has changed then
   */
  public ChannelMoments merge(ChannelMoments other) {
    if (other == null) {
      throw new IllegalArgumentException("other must not be null");
    }
    if (other.channels != channels) {
      throw new IllegalArgumentException(
          "cannot merge statistics of " + other.channels + " channels into statistics of "
              + channels + " channels");
    }
    if (other == this) {
      return merge(other.copy());
    }
    mergeInto(this, other.count, other.mean, other.m2);
    return this;
  }

  /**
   * Merges statistics in list order: ((parts[0] &#8853; parts[1]) &#8853; parts[2]) ... The order
   * is fixed by the caller (worker rank, partition index), never by arrival.
   *
   * @param parts at least one, all with the same channel count. Not modified.
   * @return new statistics
   * @throws IllegalArgumentException if parts is null or empty, an element is null, or the channel
   *     counts differ (the message names the index), or the count would pass Long.MAX_VALUE
   */
  public static ChannelMoments mergeInOrder(List<ChannelMoments> parts) {
    if (parts == null || parts.isEmpty()) {
      throw new IllegalArgumentException("need at least one part to merge but got "
          + (parts == null ? "null" : "an empty list"));
    }
    for (int i = 0; i < parts.size(); i++) {
      ChannelMoments p = parts.get(i);
      if (p == null) {
        throw new IllegalArgumentException("part " + i + " of " + parts.size() + " is null");
      }
      if (p.channels != parts.get(0).channels) {
        throw new IllegalArgumentException(
            "part " + i + " has " + p.channels + " channels but part 0 has "
                + parts.get(0).channels);
      }
    }
    ChannelMoments result = parts.get(0).copy();
    for (int i = 1; i < parts.size(); i++) {
      result.merge(parts.get(i));
    }
    return result;
  }

  /** Chan's merge of (n, mean, m2) into s, s first. */
  static void mergeInto(ChannelMoments s, long n, double[] mean, double[] m2) {
    if (n == 0) {
      return;
    }
    if (n > Long.MAX_VALUE - s.count) {
      throw new IllegalArgumentException("merging " + n + " values per channel into " + s.count
          + " would count more than Long.MAX_VALUE; nothing merged");
    }
    if (s.count == 0) {
      s.count = n;
      System.arraycopy(mean, 0, s.mean, 0, s.channels);
      System.arraycopy(m2, 0, s.m2, 0, s.channels);
      return;
    }
    double na = s.count;
    double nb = n;
    double total = na + nb;
    for (int c = 0; c < s.channels; c++) {
      double delta = mean[c] - s.mean[c];
      s.mean[c] += delta * (nb / total);
      s.m2[c] += m2[c] + delta * delta * (na * nb / total);
    }
    s.count += n;
  }

  /**
   * {@return an independent copy} (also of statistics that hold a NaN, from data with a NaN or an
   * infinity, which {@link #of} would reject)
   */
  public ChannelMoments copy() {
    ChannelMoments c = new ChannelMoments(channels);
    c.count = count;
    System.arraycopy(mean, 0, c.mean, 0, channels);
    System.arraycopy(m2, 0, c.m2, 0, channels);
    return c;
  }

  /** {@return the number of channels C} */
  public int channels() {
    return channels;
  }

  /** {@return the number of values per channel n (the same for every channel)} */
  public long count() {
    return count;
  }

  /**
   * {@return the mean of channel c (0 when count is 0)}
   *
   * @param c the channel, in [0, C)
   */
  public double mean(int c) {
    return mean[checkChannel(c)];
  }

  /**
   * {@return the sum of squared deviations M2 of channel c (0 when count is 0)}
   *
   * @param c the channel, in [0, C)
   */
  public double m2(int c) {
    return m2[checkChannel(c)];
  }

  /** {@return a copy of the per-channel means} */
  public double[] means() {
    return mean.clone();
  }

  /** {@return a copy of the per-channel M2 values} */
  public double[] m2s() {
    return m2.clone();
  }

  /**
   * The biased variances M2 / n, as batch norm normalizes with.
   *
   * @return M2 / n per channel, a new array
   * @throws IllegalStateException if count is 0
   */
  public double[] biasedVariances() {
    if (count == 0) {
      throw new IllegalStateException("no values: the variance of 0 values is undefined");
    }
    double[] v = new double[channels];
    for (int c = 0; c < channels; c++) {
      v[c] = m2[c] / count;
    }
    return v;
  }

  /**
   * The unbiased variances M2 / (n - 1), as PyTorch stores in {@code running_var}.
   *
   * @return M2 / (n - 1) per channel, a new array
   * @throws IllegalStateException if count &lt; 2
   */
  public double[] unbiasedVariances() {
    if (count < 2) {
      throw new IllegalStateException(
          "need at least 2 values for an unbiased variance but count is " + count);
    }
    double[] v = new double[channels];
    for (int c = 0; c < channels; c++) {
      v[c] = m2[c] / (count - 1);
    }
    return v;
  }

  /**
   * Writes these statistics into a module's running statistics, replacing them (no momentum): the
   * population estimate that fvcore's PreciseBN computes, but exact.
   * <pre>
   * runningMean_c = (float) mean_c
   * runningVar_c  = (float) (M2_c / (n - 1))    (or M2_c / n if the module keeps the biased
   *                                             running variance, unbiasedRunningVar(false))
   * </pre>
   * {@code numBatchesTracked}, the parameters and the mode are not modified.
   *
   * @param module a module that tracks running statistics, with {@link #channels()} features.
   *     Its runningMean and runningVar are modified.
   * @throws IllegalArgumentException if module is null, does not track running statistics, or has a
   *     different number of features; or if count &lt; 2. Nothing has changed then.
   */
  public void writeRunningStatistics(BatchNorm module) {
    if (module == null) {
      throw new IllegalArgumentException("module must not be null");
    }
    if (!module.tracksRunningStats()) {
      throw new IllegalArgumentException(
          module.getClass().getSimpleName() + " does not track running statistics"
              + " (trackRunningStats(false)); there is nothing to write");
    }
    if (module.numFeatures() != channels) {
      throw new IllegalArgumentException(
          module.getClass().getSimpleName() + " has " + module.numFeatures()
              + " features but these statistics have " + channels + " channels");
    }
    if (count < 2) {
      throw new IllegalArgumentException(
          "need at least 2 values per channel to write running statistics but count is " + count);
    }
    float[] runningMean = module.runningMean();
    float[] runningVar = module.runningVar();
    long divisor = module.unbiasedRunningVar() ? count - 1 : count;
    for (int c = 0; c < channels; c++) {
      runningMean[c] = (float) mean[c];
      runningVar[c] = (float) (m2[c] / divisor);
    }
  }

  /** The product of the sizes after (N, C); cannot overflow, since numel() fits in an int. */
  static int spatialSize(Shape shape) {
    int spatial = 1;
    for (int i = 2; i < shape.rank(); i++) {
      spatial *= shape.dim(i);
    }
    return spatial;
  }

  private int checkChannel(int c) {
    if (c < 0 || c >= channels) {
      throw new IndexOutOfBoundsException("channel " + c + " is outside [0, " + channels + ")");
    }
    return c;
  }

  private static void checkBatch(Tensor x, int channels) {
    if (x == null) {
      throw new IllegalArgumentException("batch must not be null");
    }
    Shape shape = x.shape();
    if (shape.rank() < 2) {
      throw new IllegalArgumentException(
          "batch must be channels-first (N, C, *spatial) of rank >= 2 but has rank " + shape.rank()
              + "; batch shape " + shape);
    }
    if (shape.dim(1) < 1) {
      throw new IllegalArgumentException(
          "batch must have at least 1 channel but has 0; batch shape " + shape);
    }
    if (channels >= 0 && shape.dim(1) != channels) {
      throw new IllegalArgumentException(
          "batch has " + shape.dim(1) + " channels but these statistics have " + channels
              + "; batch shape " + shape);
    }
  }

  /** Equal when the channel count, count, and every mean and M2 are bitwise equal. */
  @Override
  public boolean equals(Object o) {
    return o instanceof ChannelMoments s && s.channels == channels && s.count == count
        && Arrays.equals(s.mean, mean) && Arrays.equals(s.m2, m2);
  }

  @Override
  public int hashCode() {
    return 31 * (31 * Long.hashCode(count) + Arrays.hashCode(mean)) + Arrays.hashCode(m2);
  }

  /** For example {@code ChannelMoments(count 12, mean [0.5, 1.0], m2 [3.0, 4.0])}. */
  @Override
  public String toString() {
    return "ChannelMoments(count " + count + ", mean " + Arrays.toString(mean) + ", m2 "
        + Arrays.toString(m2) + ")";
  }
}
