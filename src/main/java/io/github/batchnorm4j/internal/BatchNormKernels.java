package io.github.batchnorm4j.internal;

/**
 * The batch-norm passes over (N, C, S) row-major data: which blocks of memory are visited, in which
 * order, on which thread, and the per-channel arithmetic between the passes. The inner loops come
 * from a {@link KernelOps} (scalar or Vector API). Arguments are trusted: {@code
 * BatchNormFunctional} has checked them.
 *
 * <h2>The fixed partition</h2>
 * Channel c holds m = N * S values in N runs ("planes") of S contiguous floats, C * S apart. It is
 * cut into <em>segments</em> by the shape alone: groups of whole planes of about {@link #SEGMENT}
 * values when S is small, slices of {@link #SEGMENT} values of one plane when S is large. Every
 * reduction sums each segment on its own and then adds the segment sums in segment order. Whether
 * one thread does all of a channel or several threads share its segments, the operations and their
 * order are the same, so every result is bitwise identical for every thread count.
 *
 * <h2>Passes</h2>
 * <ul>
 *   <li>Training forward: one statistics pass (the sums of x - K and (x - K)^2 in double, K the
 *       channel's first value), the per-channel arithmetic (saved statistics, running update), then
 *       the normalization pass.
 *   <li>Training backward: one pass for all three sums (dy, dy * (x - pivot) and x - pivot, which
 *       give dbeta, dgamma and the exact mean), the per-channel arithmetic, then the dx pass.
 *   <li>Eval forward and backward: a single elementwise pass (the eval backward's two sums ride
 *       along).
 * </ul>
 * The two training passes run in one of two orders, with bitwise the same results ({@link
 * PassOrder#STREAMED} by default, {@link PassOrder#BLOCKED} when asked for; see {@link
 * PassOrder#AUTO} for why):
 * <ul>
 *   <li><b>Blocked</b>: the channels in groups of at most {@link #GROUP_BYTES} of first-pass data;
 *       both passes over one group, each visiting the group's (segment, channel) units in memory
 *       order, before the next group. The second pass finds the group in cache.
 *   <li><b>Streamed</b>: the first pass over all units in memory order, the per-channel
 *       arithmetic, then the second pass in memory order: x is read from memory twice, but
 *       always in order, which the hardware prefetchers reward.
 * </ul>
 *
 * <h2>Threads</h2>
 * Blocked, the channel groups are the work items (at least two per thread when the channels
 * allow), so that each group's second pass hits the cache of the core that did its first. Streamed, the
 * (segment, channel) units and then row x channel tiles are the items, with a barrier between the
 * passes. The eval passes are elementwise and always stream.
 *
 * <p>Nothing is allocated per call: the arguments and scratch space live in a {@link Job} kept per
 * calling thread, which grows when a larger shape first appears and is reused afterwards.
 */
public final class BatchNormKernels {

  /** The nominal number of values in a reduction segment. */
  static final int SEGMENT = 1 << 13;

  /**
   * A channel group of the blocked training passes reads at most this in its first pass (x for the
   * forward, x and dy for the backward), or one channel when a channel alone is larger: half of a
   * 1 MB L2, so that the group and what its second pass writes stay there (measured: 256 to 512 KB
   * groups beat 1 and 2 MB ones by 5 to 10% on (32, 256, 14, 14)).
   */
  static final long GROUP_BYTES = 512L << 10;

  /** The fewest values of one channel an elementwise kernel call should cover, when it can. */
  static final int MIN_RUN = 1024;

  /** Elementwise passes use whole-row tiles when there are at least this many. */
  static final int MIN_ROW_TILES = 8;

  /**
   * Planes shorter than this (one value for BatchNorm1d's (N, C)) are short: their passes walk
   * whole rows, the channels side by side, and never the blocked order.
   */
  static final int SHORT_PLANE = 8;

  /** Channels per work item of the sums for short planes. */
  static final int MATRIX_BLOCK = 64;

  /** Planes with at least this many values are reduction segments of their own. */
  static final int PLANE_SEGMENT = 512;

  /** The nominal number of values in a streamed work item handed to a thread. */
  static final int ITEM = 1 << 14;

  /**
   * A calling thread keeps its {@link Job}'s per-channel and per-segment scratch between calls
   * while it holds at most this many doubles (4 MiB): enough for about 80,000 channels, or
   * 2^30 values in one channel. A call that needs more allocates it and lets it go afterwards.
   */
  static final int RETAINED_DOUBLES = 1 << 19;

  private static final ThreadLocal<Job> JOBS = ThreadLocal.withInitial(Job::new);

  /** The order of the two training passes; every order gives bitwise the same results. */
  public enum PassOrder {
    /**
     * The default: {@link #STREAMED} ({@code -Dbatchnorm4j.passes=blocked} changes it for
     * experiments). Alternating the two in one JVM on a 2-core Zen 4, the streamed order was as
     * fast or faster for planes of 196 to 3136 values, by up to 1.7x, in 6 to 13 MB tensors (the
     * band of 4 to 16 MB is where an earlier version chose blocked), on JDK 17 and 25, with both
     * kernel sets, at 1 and 2 threads; blocked won only with planes of 12,544 values, by 3 to 13%
     * (docs/kernels.md, {@code PassOrderHarness}).
     */
    AUTO,
    /** Channel group by channel group, the second pass from cache. */
    BLOCKED,
    /** Over all channels in memory order, one pass after the other. */
    STREAMED
  }

  /** For experiments: {@code -Dbatchnorm4j.passes=blocked|streamed} overrides {@link PassOrder#AUTO}. */
  private static final PassOrder DEFAULT_ORDER =
      parseOrder(System.getProperty("batchnorm4j.passes", ""));

  private static PassOrder parseOrder(String value) {
    switch (value) {
      case "blocked":
        return PassOrder.BLOCKED;
      case "streamed":
        return PassOrder.STREAMED;
      default:
        return PassOrder.AUTO;
    }
  }

  private BatchNormKernels() {}

  /**
   * The calling thread's {@link Job}, started for data of this shape. Channels-last data (N,
   * *spatial, C) is (N * S) rows of C values: the planner takes it as channels-first data with
   * N * S samples and planes of one value, which has exactly the same channels, values and element
   * positions, so one set of passes serves both layouts.
   */
  private static Job job(KernelOps ops, int batch, int channels, int spatial,
      boolean channelsLast) {
    Job j = JOBS.get();
    j.start(ops, channelsLast ? batch * spatial : batch, channels, channelsLast ? 1 : spatial);
    return j;
  }

  /**
   * Training forward over all channels; see {@code BatchNormFunctional.forwardTraining}. Writes
   * nothing when m = 0.
   *
   * @param runningMean null for no running update (then runningVar is null too)
   * @param unbiasedRunningVar the running variance takes var * m / (m - 1) (PyTorch) or var
   * @param relu the fused activation: y = max(0, BN(x))
   * @param ops the kernels to run (scalar or Vector API)
   * @param batch N, the number of samples
   * @param channels C, the number of channels
   * @param spatial the product of the spatial sizes
   * @param channelsLast true for (N, *spatial, C) data, false for (N, C, *spatial)
   * @param x the input; not modified (unless an output is the same array)
   * @param y receives the output; may be x
   * @param weight gamma, or null for gamma = 1
   * @param bias beta, or null for beta = 0
   * @param runningVar the running variance, updated in place, or null (with runningMean)
   * @param factor the running-average factor f in [0, 1]
   * @param eps added to the variance, finite and &gt; 0
   * @param saveMean the batch mean, float-rounded: written by the forward, the pivot of the backward
   * @param saveInvStd the inverse standard deviation: written by the forward, read by the backward
   * @param threads the most threads to use, &gt;= 1
   * @param order the order of the two training passes (every order gives the same bits)
   */
  public static void forwardTraining(KernelOps ops, int batch, int channels, int spatial,
      boolean channelsLast, float[] x, float[] y,
      float[] weight, float[] bias, float[] runningMean, float[] runningVar, double factor,
      boolean unbiasedRunningVar, double eps, boolean relu, float[] saveMean, float[] saveInvStd,
      int threads, PassOrder order) {
    if ((long) batch * spatial == 0) {
      return;
    }
    Job j = job(ops, batch, channels, spatial, channelsLast);
    j.x = x;
    j.y = y;
    j.relu = relu;
    j.weight = weight;
    j.bias = bias;
    j.runningMean = runningMean;
    j.runningVar = runningVar;
    j.unbiasedRunningVar = unbiasedRunningVar;
    j.factor = factor;
    j.eps = eps;
    j.saveMean = saveMean;
    j.saveInvStd = saveInvStd;
    try {
      j.runTraining(true, threads, order);
    } finally {
      j.finish();
    }
  }

  /**
   * Eval forward with fixed statistics; see {@code BatchNormFunctional.forwardInference}.
   *
   * @param ops the kernels to run (scalar or Vector API)
   * @param batch N, the number of samples
   * @param channels C, the number of channels
   * @param spatial the product of the spatial sizes
   * @param channelsLast true for (N, *spatial, C) data, false for (N, C, *spatial)
   * @param x the input; not modified (unless an output is the same array)
   * @param y receives the output; may be x
   * @param weight gamma, or null for gamma = 1
   * @param bias beta, or null for beta = 0
   * @param mean the per-channel mean
   * @param var the per-channel variance
   * @param eps added to the variance, finite and &gt; 0
   * @param relu true to fuse a ReLU: y = max(0, BN(x))
   * @param threads the most threads to use, &gt;= 1
   */
  public static void forwardInference(KernelOps ops, int batch, int channels, int spatial,
      boolean channelsLast, float[] x, float[] y,
      float[] weight, float[] bias, float[] mean, float[] var, double eps, boolean relu,
      int threads) {
    if ((long) batch * spatial == 0) {
      return;
    }
    Job j = job(ops, batch, channels, spatial, channelsLast);
    j.x = x;
    j.y = y;
    j.relu = relu;
    for (int c = 0; c < j.channels; c++) {
      j.center[c] = mean[c];
      j.scale[c] = (weight == null ? 1.0 : weight[c]) / Math.sqrt(var[c] + eps);
      j.offset[c] = bias == null ? 0.0 : bias[c];
    }
    try {
      j.runElementwise(Pass.NORMALIZE, j.elementwiseThreads(threads));
    } finally {
      j.finish();
    }
  }

  /**
   * Training backward; see {@code BatchNormFunctional.backwardTraining}. Nothing when m = 0.
   *
   * @param reluOutput the forward's output when it fused a ReLU (dy is masked where it is
   *     {@code <= 0}), else null
   * @param ops the kernels to run (scalar or Vector API)
   * @param batch N, the number of samples
   * @param channels C, the number of channels
   * @param spatial the product of the spatial sizes
   * @param channelsLast true for (N, *spatial, C) data, false for (N, C, *spatial)
   * @param x the input; not modified (unless an output is the same array)
   * @param dy dL/dy; not modified (unless dx is dy)
   * @param dx receives dL/dx; may be x, dy or the ReLU output
   * @param weight gamma, or null for gamma = 1
   * @param saveMean the batch mean, float-rounded: written by the forward, the pivot of the backward
   * @param saveInvStd the inverse standard deviation: written by the forward, read by the backward
   * @param weightGrad dgamma is added here, or null to skip
   * @param biasGrad dbeta is added here, or null to skip
   * @param threads the most threads to use, &gt;= 1
   * @param order the order of the two training passes (every order gives the same bits)
   */
  public static void backwardTraining(KernelOps ops, int batch, int channels, int spatial,
      boolean channelsLast, float[] x, float[] reluOutput,
      float[] dy, float[] dx, float[] weight, float[] saveMean, float[] saveInvStd,
      float[] weightGrad, float[] biasGrad, int threads, PassOrder order) {
    if ((long) batch * spatial == 0) {
      return;
    }
    Job j = job(ops, batch, channels, spatial, channelsLast);
    j.x = x;
    j.reluOutput = reluOutput;
    j.dy = dy;
    j.dx = dx;
    j.weight = weight;
    j.saveMean = saveMean;
    j.saveInvStd = saveInvStd;
    j.weightGrad = weightGrad;
    j.biasGrad = biasGrad;
    for (int c = 0; c < channels; c++) {
      j.pivot[c] = saveMean[c]; // the float mean: x - pivot is exact in double
    }
    try {
      j.runTraining(false, threads, order);
    } finally {
      j.finish();
    }
  }

  /**
   * Eval backward with fixed statistics; see {@code BatchNormFunctional.backwardInference}.
   *
   * @param ops the kernels to run (scalar or Vector API)
   * @param batch N, the number of samples
   * @param channels C, the number of channels
   * @param spatial the product of the spatial sizes
   * @param channelsLast true for (N, *spatial, C) data, false for (N, C, *spatial)
   * @param x the input; not modified (unless an output is the same array)
   * @param reluOutput the forward's output when it fused a ReLU (dy is masked where it is &lt;= 0), else null
   * @param dy dL/dy; not modified (unless dx is dy)
   * @param dx receives dL/dx; may be x, dy or the ReLU output
   * @param weight gamma, or null for gamma = 1
   * @param mean the per-channel mean
   * @param var the per-channel variance
   * @param eps added to the variance, finite and &gt; 0
   * @param weightGrad dgamma is added here, or null to skip
   * @param biasGrad dbeta is added here, or null to skip
   * @param threads the most threads to use, &gt;= 1
   */
  public static void backwardInference(KernelOps ops, int batch, int channels, int spatial,
      boolean channelsLast, float[] x, float[] reluOutput,
      float[] dy, float[] dx, float[] weight, float[] mean, float[] var, double eps,
      float[] weightGrad, float[] biasGrad, int threads) {
    if ((long) batch * spatial == 0) {
      return;
    }
    Job j = job(ops, batch, channels, spatial, channelsLast);
    j.x = x;
    j.reluOutput = reluOutput;
    j.dy = dy;
    j.dx = dx;
    boolean sums = weightGrad != null || biasGrad != null;
    for (int c = 0; c < j.channels; c++) {
      double invStd = 1.0 / Math.sqrt(var[c] + eps);
      j.center[c] = mean[c];
      j.scale[c] = (weight == null ? 1.0 : weight[c]) * invStd;
      j.invStd[c] = invStd;
    }
    try {
      int t = sums ? j.threadsFor(threads) : j.elementwiseThreads(threads);
      if (!sums) {
        j.runElementwise(Pass.SCALE_GRAD, t);
        return;
      }
      j.runSums(Pass.SCALE_GRAD_SUMS, t);
      for (int c = 0; c < j.channels; c++) {
        double sumGrad = j.channelSum(c, 0);
        double sumGradCentered = j.channelSum(c, 1);
        if (biasGrad != null) {
          biasGrad[c] = (float) (biasGrad[c] + sumGrad);
        }
        if (weightGrad != null) {
          weightGrad[c] = (float) (weightGrad[c] + sumGradCentered * j.invStd[c]);
        }
      }
    } finally {
      j.finish();
    }
  }

  // ---- The passes one at a time, for the synchronized mode, whose statistics span workers.

  /**
   * The statistics pass alone, channels-first: per channel {@code mean_c = (1/m) sum x} and
   * {@code m2_c = sum (x - mean_c)^2} in double, from the same shifted sums as the training
   * forward. Nothing is written when m = 0.
   *
   * @param ops the kernels to run (scalar or Vector API)
   * @param batch N, the number of samples
   * @param channels C, the number of channels
   * @param spatial the product of the spatial sizes
   * @param x the input; not modified (unless an output is the same array)
   * @param mean the per-channel mean
   * @param m2 receives sum (x - mean)^2 per channel
   * @param threads the most threads to use, &gt;= 1
   */
  public static void moments(KernelOps ops, int batch, int channels, int spatial, float[] x,
      double[] mean, double[] m2, int threads) {
    if ((long) batch * spatial == 0) {
      return;
    }
    Job j = job(ops, batch, channels, spatial, false);
    j.x = x;
    try {
      j.runSums(Pass.FORWARD_STATS, j.threadsFor(threads));
      for (int c = 0; c < channels; c++) {
        double sum = j.channelSum(c, 0);
        double squares = j.channelSum(c, 1);
        mean[c] = j.shift(c) + sum / j.count;
        m2[c] = Math.max(0, squares - sum * (sum / j.count));
      }
    } finally {
      j.finish();
    }
  }

  /**
   * The backward's sums alone, channels-first, around a given mean: {@code sumGrad_c = sum dy}
   * and {@code sumGradCentered_c = sum dy * (x - mean_c)}, in double. Writes zeros when m = 0.
   *
   * @param ops the kernels to run (scalar or Vector API)
   * @param batch N, the number of samples
   * @param channels C, the number of channels
   * @param spatial the product of the spatial sizes
   * @param x the input; not modified (unless an output is the same array)
   * @param dy dL/dy; not modified (unless dx is dy)
   * @param mean the per-channel mean
   * @param sumGrad receives sum dy per channel
   * @param sumGradCentered receives sum dy * (x - mean) per channel
   * @param threads the most threads to use, &gt;= 1
   */
  public static void gradientSums(KernelOps ops, int batch, int channels, int spatial, float[] x,
      float[] dy, double[] mean, double[] sumGrad, double[] sumGradCentered, int threads) {
    if ((long) batch * spatial == 0) {
      java.util.Arrays.fill(sumGrad, 0, channels, 0.0);
      java.util.Arrays.fill(sumGradCentered, 0, channels, 0.0);
      return;
    }
    Job j = job(ops, batch, channels, spatial, false);
    j.x = x;
    j.dy = dy;
    System.arraycopy(mean, 0, j.pivot, 0, channels);
    try {
      j.runSums(Pass.BACKWARD_STATS, j.threadsFor(threads));
      for (int c = 0; c < channels; c++) {
        sumGrad[c] = j.channelSum(c, 0);
        sumGradCentered[c] = j.channelSum(c, 1);
      }
    } finally {
      j.finish();
    }
  }

  /**
   * The training backward's dx pass alone, channels-first, with given per-channel constants:
   * {@code dx = (float) (scale_c * ((dy - meanGrad_c) - (x - center_c) * slope_c))}.
   *
   * @param ops the kernels to run (scalar or Vector API)
   * @param batch N, the number of samples
   * @param channels C, the number of channels
   * @param spatial the product of the spatial sizes
   * @param x the input; not modified (unless an output is the same array)
   * @param dy dL/dy; not modified (unless dx is dy)
   * @param dx receives dL/dx; may be x, dy or the ReLU output
   * @param center the per-channel center of x
   * @param meanGrad the per-channel mean of dy
   * @param slope the per-channel slope of (x - center)
   * @param scale the per-channel factor of the result
   * @param threads the most threads to use, &gt;= 1
   */
  public static void gradInput(KernelOps ops, int batch, int channels, int spatial, float[] x,
      float[] dy, float[] dx, double[] center, double[] meanGrad, double[] slope, double[] scale,
      int threads) {
    if ((long) batch * spatial == 0) {
      return;
    }
    Job j = job(ops, batch, channels, spatial, false);
    j.x = x;
    j.dy = dy;
    j.dx = dx;
    System.arraycopy(center, 0, j.center, 0, channels);
    System.arraycopy(meanGrad, 0, j.meanGrad, 0, channels);
    System.arraycopy(slope, 0, j.slope, 0, channels);
    System.arraycopy(scale, 0, j.scale, 0, channels);
    try {
      j.runElementwise(Pass.BACKWARD_DX, j.elementwiseThreads(threads));
    } finally {
      j.finish();
    }
  }

  /** The passes a {@link Job} runs over its work items. */
  enum Pass {
    /** Both forward passes over whole channel groups (blocked order). */
    FORWARD_GROUPS,
    /** The statistics' shifted sums per (segment, channel) unit. */
    FORWARD_STATS,
    /** y = (x - center) * scale + offset, and the fused ReLU. */
    NORMALIZE,
    /** Both backward passes over whole channel groups (blocked order). */
    BACKWARD_GROUPS,
    /** The training backward's three sums per unit. */
    BACKWARD_STATS,
    /** dx of the training backward. */
    BACKWARD_DX,
    /** dx = g * scale, the eval backward without parameter gradients. */
    SCALE_GRAD,
    /** The eval backward with its two sums per unit. */
    SCALE_GRAD_SUMS,
    /** {@link #FORWARD_STATS} for short planes, rows in memory order. */
    ROWS_FORWARD_STATS,
    /** {@link #BACKWARD_STATS} for short planes. */
    ROWS_BACKWARD_STATS,
    /** {@link #SCALE_GRAD_SUMS} for short planes. */
    ROWS_SCALE_GRAD_SUMS
  }

  /** One call's arguments and scratch, reused by the calls of one thread. */
  static final class Job implements ChannelParallel.Work {
    KernelOps ops;
    Pass pass;
    int batch;
    int channels;
    int spatial;
    int stride; // channels * spatial
    long count; // m = batch * spatial
    // Segment geometry: either slices of one plane (sliced) or groups of planesPerSegment planes.
    boolean sliced;
    int slicesPerPlane;
    int planesPerSegment;
    int segments; // per channel
    int segmentValues; // nominal
    // Work items: channelsPerItem channels (blocked, set per call), or unitsPerItem (channel,
    // segment) units (streamed).
    int channelsPerItem;
    int unitsPerItem;
    // Elementwise tiles: tileRows rows x tileChannels channels, tiles in all (see planTiles).
    int tileRows;
    int tileChannels;
    int tiles;

    float[] x;
    float[] y;
    float[] dy;
    float[] dx;
    float[] reluOutput; // the forward's output when the backward goes through a fused ReLU
    boolean relu;
    float[] weight;
    float[] bias;
    float[] runningMean;
    float[] runningVar;
    boolean unbiasedRunningVar;
    double factor;
    double eps;
    float[] saveMean;
    float[] saveInvStd;
    float[] weightGrad;
    float[] biasGrad;

    // Per channel, the constants of the elementwise passes:
    //   normalize:    y  = (x - center) * scale + offset
    //   training dx:  dx = scale * ((g - meanGrad) - (x - center) * slope)
    //   eval dx:      dx = g * scale; dgamma = sum g * (x - center) * invStd
    double[] center = new double[0];
    double[] scale = new double[0];
    double[] offset = new double[0];
    double[] meanGrad = new double[0];
    double[] slope = new double[0];
    double[] invStd = new double[0];
    /** The sums' per-channel pivots: the shift K forward (rows passes), the mean backward. */
    double[] pivot = new double[0];
    // Per (channel, segment) unit: up to three sums.
    double[] partials = new double[0];
    /**
     * When this thread's last call of at least {@link ChannelParallel#MIN_PARALLEL_ELEMENTS}
     * values ended ({@link System#nanoTime()}): with the default threads, a call that follows it
     * closely is shared from that size (see {@link ChannelParallel#effectiveThreads}). Starts an
     * age ago.
     */
    long lastCallEnd = System.nanoTime() - Long.MAX_VALUE / 2;

    void start(KernelOps o, int n, int c, int s) {
      ops = o;
      batch = n;
      channels = c;
      spatial = s;
      stride = c * s;
      count = (long) n * s;
      if (s >= SEGMENT) {
        sliced = true;
        slicesPerPlane = (s + SEGMENT - 1) / SEGMENT;
        planesPerSegment = 1;
        segments = n * slicesPerPlane;
        segmentValues = SEGMENT;
      } else {
        sliced = false;
        slicesPerPlane = 1;
        // Planes of at least PLANE_SEGMENT values are segments of their own, so that the
        // segment-major sums pass reads memory in order; smaller planes are grouped.
        planesPerSegment = s >= PLANE_SEGMENT ? 1 : SEGMENT / s;
        segments = (n + planesPerSegment - 1) / planesPerSegment;
        segmentValues = (int) Math.min((long) planesPerSegment * s, count);
      }
      unitsPerItem = Math.max(1, ITEM / segmentValues);
      planTiles();
      if (center.length < c) {
        center = new double[c];
        scale = new double[c];
        offset = new double[c];
        meanGrad = new double[c];
        slope = new double[c];
        invStd = new double[c];
        pivot = new double[c];
      }
      long units = (long) c * segments;
      if (partials.length < 3 * units) {
        partials = new double[(int) (3 * units)];
      }
    }

    /**
     * The threads for a call with sums (the training passes, the eval backward's weight
     * gradients): automatic calls share from the kernels' own threshold ({@link
     * KernelOps#minAutomaticElements()}).
     */
    int threadsFor(int threads) {
      return ChannelParallel.effectiveThreads(threads, count * channels, Integer.MAX_VALUE,
          ops.minAutomaticElements(), lastCallEnd);
    }

    /**
     * The threads for a call of one elementwise pass alone (the eval forward, the eval backward
     * without sums): its work per value is the lightest, so automatic calls share from {@link
     * ChannelParallel#MIN_AUTOMATIC_ELEMENTS} whatever the kernels (measured: docs/kernels.md,
     * "Threads").
     */
    int elementwiseThreads(int threads) {
      return ChannelParallel.effectiveThreads(threads, count * channels, Integer.MAX_VALUE,
          ChannelParallel.MIN_AUTOMATIC_ELEMENTS, lastCallEnd);
    }

    /**
     * Drops the call's references, and any scratch beyond {@link #RETAINED_DOUBLES}, so that a
     * thread keeps a bounded amount of memory whatever shapes it has seen; notes when a call
     * large enough to share ended, for the next call's choice of threads.
     */
    void finish() {
      if (count * channels >= ChannelParallel.MIN_PARALLEL_ELEMENTS) {
        lastCallEnd = System.nanoTime();
      }
      ops = null;
      x = y = dy = dx = reluOutput = null;
      weight = bias = runningMean = runningVar = null;
      saveMean = saveInvStd = weightGrad = biasGrad = null;
      if (7L * center.length + partials.length > RETAINED_DOUBLES) {
        center = scale = offset = meanGrad = slope = invStd = pivot = partials = new double[0];
      }
    }

    /**
     * The training passes. Blocked: whole channels per item, the second pass from cache. Streamed:
     * the sums over all (segment, channel) units in memory order, the per-channel arithmetic, then
     * the elementwise pass in memory order.
     */
    void runTraining(boolean forward, int threads, PassOrder order) {
      int t = threadsFor(threads);
      if ((order == PassOrder.AUTO ? DEFAULT_ORDER : order) == PassOrder.BLOCKED) {
        // First-pass bytes per channel: x, and dy (and the ReLU output) for the backward.
        long channelBytes = 4L * count * (forward ? 1 : reluOutput == null ? 2 : 3);
        // Groups that fit the cache budget, and at least two per thread when the channels allow.
        long perItem = Math.min(GROUP_BYTES / channelBytes, (channels + 2L * t - 1) / (2L * t));
        channelsPerItem = (int) Math.max(1, Math.min(channels, perItem));
        pass = forward ? Pass.FORWARD_GROUPS : Pass.BACKWARD_GROUPS;
        runItems((channels + channelsPerItem - 1) / channelsPerItem, t);
        return;
      }
      runSums(forward ? Pass.FORWARD_STATS : Pass.BACKWARD_STATS, t);
      for (int c = 0; c < channels; c++) {
        if (forward) {
          finishForward(c);
        } else {
          finishBackward(c);
        }
      }
      runElementwise(forward ? Pass.NORMALIZE : Pass.BACKWARD_DX, t);
    }

    /**
     * Runs items [0, items) of the current pass: on the caller's thread in order when t = 1 (a
     * direct call per item, which matters for small tensors), else shared with the workers.
     */
    private void runItems(int items, int t) {
      if (t <= 1) {
        for (int item = 0; item < items; item++) {
          run(item);
        }
      } else {
        ChannelParallel.run(this, items, t);
      }
    }

    /** A sums pass over every (segment, channel) unit, segment-major (memory order). */
    void runSums(Pass sums, int t) {
      if (spatial < SHORT_PLANE) {
        runRowSums(sums, t);
        return;
      }
      pass = sums;
      long units = (long) channels * segments;
      int items = (int) ((units + unitsPerItem - 1) / unitsPerItem);
      runItems(items, t);
    }

    /**
     * A sums pass for short planes (one value for BatchNorm1d's (N, C) and for channels-last
     * data): items of (segment, block of {@link #MATRIX_BLOCK} channels), each walking its
     * segment's rows in memory order with the block's channels side by side. The same (channel,
     * segment) sums as {@link #unit}, bit for bit.
     */
    private void runRowSums(Pass sums, int t) {
      switch (sums) {
        case FORWARD_STATS:
          pass = Pass.ROWS_FORWARD_STATS;
          for (int c = 0; c < channels; c++) {
            pivot[c] = shift(c);
          }
          break;
        case BACKWARD_STATS:
          pass = Pass.ROWS_BACKWARD_STATS; // the pivots were set by the entry point
          break;
        default:
          pass = Pass.ROWS_SCALE_GRAD_SUMS;
      }
      int blocks = (channels + MATRIX_BLOCK - 1) / MATRIX_BLOCK;
      runItems(segments * blocks, t);
    }

    private void rowSums(int item) {
      int blocks = (channels + MATRIX_BLOCK - 1) / MATRIX_BLOCK;
      int g = item / blocks;
      int c0 = (item % blocks) * MATRIX_BLOCK;
      int c1 = Math.min(channels, c0 + MATRIX_BLOCK);
      int r0 = g * planesPerSegment;
      int r1 = Math.min(batch, r0 + planesPerSegment);
      switch (pass) {
        case ROWS_FORWARD_STATS:
          ops.shiftedSumsAcross(x, r0, r1, channels, spatial, c0, c1, pivot, partials, 3 * g,
              3 * segments);
          break;
        case ROWS_BACKWARD_STATS:
          ops.backwardSumsAcross(x, dy, reluOutput, r0, r1, channels, spatial, c0, c1, pivot,
              partials, 3 * g, 3 * segments);
          break;
        default:
          ops.scaleGradAcross(x, dy, reluOutput, dx, r0, r1, channels, spatial, c0, c1, center,
              scale, partials, 3 * g, 3 * segments);
      }
    }

    /** An elementwise pass in memory order: row blocks, or (row, channel block) tiles. */
    void runElementwise(Pass elementwise, int t) {
      pass = elementwise;
      runItems(tiles, t);
    }

    /**
     * The elementwise passes' tiles, from the shape alone (set by {@link #start}). Whole rows
     * (every channel of rows [n0, n1), one contiguous block of memory of about {@link #ITEM}
     * values, walked in memory order by one kernel call) when there are at least {@link
     * #MIN_ROW_TILES} such tiles to share between threads, and always for short planes.
     * Otherwise (few rows: say N = 1 with large planes) the rows are also cut by channel, with
     * enough rows that one kernel call covers at least {@link #MIN_RUN} values of a channel.
     * Measured against tiles of several rows of one channel, whole rows run the eval pass 1.3x
     * faster on (32, 256, 14, 14) at one thread (1.8x at two), 1.35 to 1.5x on (128, 32, 8, 8) and
     * 1.1x on (8, 512, 7, 7); as fast for larger planes.
     */
    private void planTiles() {
      long wholeRows = Math.max(1, ITEM / ((long) channels * spatial));
      if (spatial < SHORT_PLANE || batch / wholeRows >= MIN_ROW_TILES) {
        tileRows = (int) wholeRows;
        tileChannels = channels;
      } else {
        long byRun = (MIN_RUN + spatial - 1) / spatial;
        tileRows = (int) Math.min(batch, Math.max(wholeRows, byRun));
        tileChannels = (int) Math.max(1, Math.min(channels, ITEM / ((long) tileRows * spatial)));
      }
      int channelBlocks = (channels + tileChannels - 1) / tileChannels;
      tiles = ((batch + tileRows - 1) / tileRows) * channelBlocks;
    }

    /** One tile of the elementwise pass: rows [n0, n1) x channels [c0, c1), channel by channel. */
    private void tile(int item) {
      int channelBlocks = (channels + tileChannels - 1) / tileChannels;
      int n0 = (item / channelBlocks) * tileRows;
      int n1 = Math.min(batch, n0 + tileRows);
      int c0 = (item % channelBlocks) * tileChannels;
      int c1 = Math.min(channels, c0 + tileChannels);
      if (c0 == 0 && c1 == channels) {
        rows(n0, n1);
        return;
      }
      for (int c = c0; c < c1; c++) {
        elementwise(pass, c, n0 * stride + c * spatial, n1 - n0, spatial);
      }
    }

    /** Whole rows [n0, n1) of the elementwise pass, in memory order, in one kernel call. */
    private void rows(int n0, int n1) {
      int base = n0 * stride;
      switch (pass) {
        case NORMALIZE:
          ops.normalizeRows(x, y, base, n1 - n0, channels, spatial, center, scale, offset, relu);
          break;
        case BACKWARD_DX:
          ops.backwardDxRows(x, dy, reluOutput, dx, base, n1 - n0, channels, spatial, center,
              meanGrad, slope, scale);
          break;
        case SCALE_GRAD:
          ops.scaleGradRows(dy, reluOutput, dx, base, n1 - n0, channels, spatial, scale);
          break;
        default:
          throw new AssertionError(pass);
      }
    }

    /** The elementwise pass over {@code planes} runs of {@code len} values of channel c. */
    private void elementwise(Pass elementwise, int c, int base, int planes, int len) {
      switch (elementwise) {
        case NORMALIZE:
          ops.normalize(x, y, base, stride, planes, len, center[c], scale[c], offset[c], relu);
          break;
        case BACKWARD_DX:
          ops.backwardDx(x, dy, reluOutput, dx, base, stride, planes, len, center[c], meanGrad[c],
              slope[c], scale[c]);
          break;
        case SCALE_GRAD:
          ops.scaleGrad(x, dy, reluOutput, dx, base, stride, planes, len, center[c], scale[c],
              false, null, 0);
          break;
        default:
          throw new AssertionError(elementwise);
      }
    }

    @Override
    public void run(int item) {
      switch (pass) {
        case FORWARD_GROUPS:
        case BACKWARD_GROUPS: {
          int c0 = item * channelsPerItem;
          channelGroup(pass == Pass.FORWARD_GROUPS, c0, Math.min(channels, c0 + channelsPerItem));
          return;
        }
        case ROWS_FORWARD_STATS:
        case ROWS_BACKWARD_STATS:
        case ROWS_SCALE_GRAD_SUMS:
          rowSums(item);
          return;
        case FORWARD_STATS:
        case BACKWARD_STATS:
        case SCALE_GRAD_SUMS: {
          long u0 = (long) item * unitsPerItem;
          long u1 = Math.min((long) channels * segments, u0 + unitsPerItem);
          for (long u = u0; u < u1; u++) {
            unit(pass, (int) (u % channels), (int) (u / channels));
          }
          return;
        }
        default:
          tile(item);
      }
    }

    /**
     * Both training passes over the channels [c0, c1): the first pass over every (segment,
     * channel) unit of the group in memory order, the per-channel arithmetic, then the second pass
     * in memory order, which finds the group's values in cache.
     */
    private void channelGroup(boolean forward, int c0, int c1) {
      for (int g = 0; g < segments; g++) {
        for (int c = c0; c < c1; c++) {
          unit(forward ? Pass.FORWARD_STATS : Pass.BACKWARD_STATS, c, g);
        }
      }
      for (int c = c0; c < c1; c++) {
        if (forward) {
          finishForward(c);
        } else {
          finishBackward(c);
        }
      }
      for (int g = 0; g < segments; g++) {
        for (int c = c0; c < c1; c++) {
          unit(forward ? Pass.NORMALIZE : Pass.BACKWARD_DX, c, g);
        }
      }
    }

    // ---- segment geometry

    private int segmentBase(int c, int g) {
      if (sliced) {
        int n = g / slicesPerPlane;
        int s0 = (g % slicesPerPlane) * SEGMENT;
        return n * stride + c * spatial + s0;
      }
      return g * planesPerSegment * stride + c * spatial;
    }

    private int segmentPlanes(int g) {
      return sliced ? 1 : Math.min(planesPerSegment, batch - g * planesPerSegment);
    }

    private int segmentLength(int g) {
      return sliced ? Math.min(SEGMENT, spatial - (g % slicesPerPlane) * SEGMENT) : spatial;
    }

    /** K of channel c: its first value, so that a large common offset cancels exactly in x - K. */
    double shift(int c) {
      double shift = x[c * spatial];
      return Double.isFinite(shift) ? shift : 0.0;
    }

    /** One (channel, segment) unit of a segment pass. */
    private void unit(Pass unitPass, int c, int g) {
      int base = segmentBase(c, g);
      int planes = segmentPlanes(g);
      int len = segmentLength(g);
      int u = c * segments + g;
      switch (unitPass) {
        case FORWARD_STATS:
          ops.shiftedSums(x, base, stride, planes, len, shift(c), partials, 3 * u);
          break;
        case NORMALIZE:
          ops.normalize(x, y, base, stride, planes, len, center[c], scale[c], offset[c], relu);
          break;
        case BACKWARD_STATS:
          ops.backwardSums(x, dy, reluOutput, base, stride, planes, len, pivot[c], partials,
              3 * u);
          break;
        case BACKWARD_DX:
          ops.backwardDx(x, dy, reluOutput, dx, base, stride, planes, len, center[c], meanGrad[c],
              slope[c], scale[c]);
          break;
        case SCALE_GRAD_SUMS:
          ops.scaleGrad(x, dy, reluOutput, dx, base, stride, planes, len, center[c], scale[c],
              true, partials, 3 * u);
          break;
        default:
          throw new AssertionError(unitPass);
      }
    }

    // ---- training forward

    /**
     * Sum number {@code slot} (0 to 2) of channel c: its segments' partial sums added in segment
     * order, the fixed order that makes every result independent of the thread count.
     */
    double channelSum(int c, int slot) {
      double sum = 0;
      for (int g = 0, u = c * segments; g < segments; g++, u++) {
        sum += partials[3 * u + slot];
      }
      return sum;
    }

    /** Statistics, saved values and running update of channel c from its segment sums. */
    private void finishForward(int c) {
      final double sum = channelSum(c, 0);
      final double squares = channelSum(c, 1);
      final double m = count;
      final double mean = shift(c) + sum / m;
      // sum (x - mean)^2 = sum (x - K)^2 - (sum (x - K))^2 / m, never negative in exact arithmetic.
      double centered = squares - sum * (sum / m);
      if (centered < 0) {
        centered = 0;
      }
      final double var = centered / m;
      final double channelInvStd = 1.0 / Math.sqrt(var + eps);
      saveMean[c] = (float) mean;
      saveInvStd[c] = (float) channelInvStd;
      center[c] = mean;
      scale[c] = (weight == null ? 1.0 : weight[c]) * channelInvStd;
      offset[c] = bias == null ? 0.0 : bias[c];
      if (runningMean != null) {
        // Normalization uses the biased variance; the running estimate PyTorch's unbiased one
        // (m > 1 here: the public entry points reject a single value per channel), or the biased
        // one of the Keras and DL4J convention.
        double runningEstimate = unbiasedRunningVar ? centered / (m - 1) : var;
        runningMean[c] = (float) ((1 - factor) * runningMean[c] + factor * mean);
        runningVar[c] = (float) ((1 - factor) * runningVar[c] + factor * runningEstimate);
      }
    }

    // ---- training backward

    /** Parameter gradients and dx constants of channel c from its segment sums. */
    private void finishBackward(int c) {
      final double sumGrad = channelSum(c, 0);
      final double sumGradCentered = channelSum(c, 1);
      final double sumCentered = channelSum(c, 2);
      final double m = count;
      final double savedMean = pivot[c];
      // The saved mean is float-rounded; the exact batch mean is savedMean + correction.
      final double correction = sumCentered / m;
      final double dotXhatUnscaled = sumGradCentered - correction * sumGrad; // sum g * (x - mean)
      final double channelInvStd = saveInvStd[c];
      final double gamma = weight == null ? 1.0 : weight[c];
      if (biasGrad != null) {
        biasGrad[c] = (float) (biasGrad[c] + sumGrad);
      }
      if (weightGrad != null) {
        weightGrad[c] = (float) (weightGrad[c] + dotXhatUnscaled * channelInvStd);
      }
      center[c] = savedMean + correction;
      meanGrad[c] = sumGrad / m;
      slope[c] = dotXhatUnscaled * channelInvStd * channelInvStd / m;
      scale[c] = gamma * channelInvStd;
    }
  }
}
