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
 * #BLOCKED} and {@link #STREAMED}, chosen by size unless forced):
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
 * Blocked, the channel groups are the work items (at least two per thread, or the passes stream),
 * so that each group's second pass hits the cache of the core that did its first. Streamed, the
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

  /** The training passes run blocked when their first pass reads more than this... */
  static final long BLOCKED_MIN_BYTES = 4L << 20;

  /** ...and at most this; streamed otherwise. */
  static final long BLOCKED_MAX_BYTES = 16L << 20;

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

  private static final ThreadLocal<Job> JOBS = ThreadLocal.withInitial(Job::new);

  /** Training passes: choose by shape ({@link #AUTO}), channel-blocked, or streamed. */
  public static final int AUTO = 0;
  /** Training passes channel by channel, the second pass from cache. */
  public static final int BLOCKED = 1;
  /** Training passes over all channels in memory order, one after the other. */
  public static final int STREAMED = 2;

  /** For experiments: {@code -Dbatchnorm4j.passes=blocked|streamed} overrides {@link #AUTO}. */
  private static final int DEFAULT_MODE = parseMode(System.getProperty("batchnorm4j.passes", ""));

  private static int parseMode(String value) {
    switch (value) {
      case "blocked":
        return BLOCKED;
      case "streamed":
        return STREAMED;
      default:
        return AUTO;
    }
  }

  private BatchNormKernels() {}

  /**
   * Training forward over all channels; see {@code BatchNormFunctional.forwardTraining} for the
   * arguments. Writes nothing when m = 0.
   */
  public static void forwardTraining(KernelOps ops, float[] x, float[] y, int batch, int channels,
      int spatial, float[] weight, float[] bias, float[] runningMean, float[] runningVar,
      double factor, double eps, float[] saveMean, float[] saveInvStd, int threads) {
    forwardTraining(ops, x, y, batch, channels, spatial, weight, bias, runningMean, runningVar,
        factor, eps, saveMean, saveInvStd, threads, AUTO);
  }

  /** As above, with the passes chosen by {@code mode} ({@link #AUTO}, {@link #BLOCKED} or
   * {@link #STREAMED}); every mode gives bitwise the same results. */
  public static void forwardTraining(KernelOps ops, float[] x, float[] y, int batch, int channels,
      int spatial, float[] weight, float[] bias, float[] runningMean, float[] runningVar,
      double factor, double eps, float[] saveMean, float[] saveInvStd, int threads, int mode) {
    if ((long) batch * spatial == 0) {
      return;
    }
    Job j = JOBS.get();
    j.start(ops, batch, channels, spatial);
    j.x = x;
    j.y = y;
    j.weight = weight;
    j.bias = bias;
    j.runningMean = runningMean;
    j.runningVar = runningVar;
    j.factor = factor;
    j.eps = eps;
    j.saveMean = saveMean;
    j.saveInvStd = saveInvStd;
    try {
      j.runTraining(Job.FORWARD_CHANNELS, Job.FORWARD_STATS, Job.NORMALIZE, threads, mode);
    } finally {
      j.clear();
    }
  }

  /** Eval forward with fixed statistics; see {@code BatchNormFunctional.forwardInference}. */
  public static void forwardInference(KernelOps ops, float[] x, float[] y, int batch, int channels,
      int spatial, float[] weight, float[] bias, float[] mean, float[] var, double eps,
      int threads) {
    if ((long) batch * spatial == 0) {
      return;
    }
    Job j = JOBS.get();
    j.start(ops, batch, channels, spatial);
    j.x = x;
    j.y = y;
    for (int c = 0; c < channels; c++) {
      j.mean[c] = mean[c];
      j.alpha[c] = (weight == null ? 1.0 : weight[c]) / Math.sqrt(var[c] + eps);
      j.beta[c] = bias == null ? 0.0 : bias[c];
    }
    try {
      j.runElementwise(Job.NORMALIZE, j.threadsFor(threads));
    } finally {
      j.clear();
    }
  }

  /** Training backward; see {@code BatchNormFunctional.backwardTraining}. Nothing when m = 0. */
  public static void backwardTraining(KernelOps ops, float[] x, float[] dy, float[] dx, int batch,
      int channels, int spatial, float[] weight, float[] saveMean, float[] saveInvStd,
      float[] weightGrad, float[] biasGrad, int threads) {
    backwardTraining(ops, x, dy, dx, batch, channels, spatial, weight, saveMean, saveInvStd,
        weightGrad, biasGrad, threads, AUTO);
  }

  /** As above, with the passes chosen by {@code mode}; every mode gives bitwise the same results. */
  public static void backwardTraining(KernelOps ops, float[] x, float[] dy, float[] dx, int batch,
      int channels, int spatial, float[] weight, float[] saveMean, float[] saveInvStd,
      float[] weightGrad, float[] biasGrad, int threads, int mode) {
    if ((long) batch * spatial == 0) {
      return;
    }
    Job j = JOBS.get();
    j.start(ops, batch, channels, spatial);
    j.x = x;
    j.dy = dy;
    j.dx = dx;
    j.weight = weight;
    j.saveMean = saveMean;
    j.saveInvStd = saveInvStd;
    j.weightGrad = weightGrad;
    j.biasGrad = biasGrad;
    try {
      j.runTraining(Job.BACKWARD_CHANNELS, Job.BACKWARD_STATS, Job.BACKWARD_DX, threads, mode);
    } finally {
      j.clear();
    }
  }

  /** Eval backward with fixed statistics; see {@code BatchNormFunctional.backwardInference}. */
  public static void backwardInference(KernelOps ops, float[] x, float[] dy, float[] dx,
      int batch, int channels, int spatial, float[] weight, float[] mean, float[] var, double eps,
      float[] weightGrad, float[] biasGrad, int threads) {
    if ((long) batch * spatial == 0) {
      return;
    }
    Job j = JOBS.get();
    j.start(ops, batch, channels, spatial);
    j.x = x;
    j.dy = dy;
    j.dx = dx;
    j.sums = weightGrad != null || biasGrad != null;
    for (int c = 0; c < channels; c++) {
      double invStd = 1.0 / Math.sqrt(var[c] + eps);
      j.mean[c] = mean[c];
      j.alpha[c] = (weight == null ? 1.0 : weight[c]) * invStd;
      j.beta[c] = invStd;
    }
    try {
      int t = j.threadsFor(threads);
      if (j.sums) {
        j.runSums(Job.SCALE_GRAD_SUMS, t);
      } else {
        j.runElementwise(Job.SCALE_GRAD, t);
      }
      if (j.sums) {
        for (int c = 0; c < channels; c++) {
          double sumDy = 0;
          double sumDyCentered = 0;
          for (int g = 0, u = c * j.segments; g < j.segments; g++, u++) {
            sumDy += j.partials[3 * u];
            sumDyCentered += j.partials[3 * u + 1];
          }
          if (biasGrad != null) {
            biasGrad[c] = (float) (biasGrad[c] + sumDy);
          }
          if (weightGrad != null) {
            weightGrad[c] = (float) (weightGrad[c] + sumDyCentered * j.beta[c]);
          }
        }
      }
    } finally {
      j.clear();
    }
  }

  /** One call's arguments and scratch, reused by the calls of one thread. */
  static final class Job implements ChannelParallel.Work {
    static final int FORWARD_CHANNELS = 1;
    static final int FORWARD_STATS = 2;
    static final int NORMALIZE = 3;
    static final int BACKWARD_CHANNELS = 4;
    static final int BACKWARD_STATS = 5;
    static final int BACKWARD_DX = 6;
    static final int SCALE_GRAD = 7;
    static final int SCALE_GRAD_SUMS = 8;
    static final int MATRIX_FORWARD_STATS = 9;
    static final int MATRIX_BACKWARD_STATS = 10;
    static final int MATRIX_SCALE_GRAD_SUMS = 11;

    KernelOps ops;
    int op;
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
    float[] weight;
    float[] bias;
    float[] runningMean;
    float[] runningVar;
    double factor;
    double eps;
    float[] saveMean;
    float[] saveInvStd;
    float[] weightGrad;
    float[] biasGrad;
    boolean sums;

    // Per channel: the elementwise pass's constants (forward: mean, alpha, beta; backward: mean,
    // meanDy, k, scale in mean, beta, k, alpha).
    double[] mean = new double[0];
    double[] alpha = new double[0];
    double[] beta = new double[0];
    double[] k = new double[0];
    // Per (channel, segment) unit: up to three sums.
    double[] partials = new double[0];

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
      if (mean.length < c) {
        mean = new double[c];
        alpha = new double[c];
        beta = new double[c];
        k = new double[c];
      }
      long units = (long) c * segments;
      if (partials.length < 3 * units) {
        partials = new double[(int) (3 * units)];
      }
    }

    int threadsFor(int threads) {
      return ChannelParallel.effectiveThreads(threads, count * channels, Integer.MAX_VALUE);
    }

    void clear() {
      ops = null;
      x = y = dy = dx = null;
      weight = bias = runningMean = runningVar = null;
      saveMean = saveInvStd = weightGrad = biasGrad = null;
    }

    /**
     * The training passes. Blocked: whole channels per item, the second pass from cache. Streamed:
     * the sums over all (segment, channel) units in memory order, the per-channel arithmetic, then
     * the elementwise pass in memory order.
     */
    void runTraining(int channelOp, int statsOp, int elementOp, int threads, int mode) {
      int t = ChannelParallel.effectiveThreads(threads, count * channels, Integer.MAX_VALUE);
      long channelBytes = 4L * count * (channelOp == FORWARD_CHANNELS ? 1 : 2);
      // Groups that fit the cache budget, and at least two per thread when the channels allow.
      long perItem = Math.min(GROUP_BYTES / channelBytes, (channels + 2L * t - 1) / (2L * t));
      channelsPerItem = (int) Math.max(1, Math.min(channels, perItem));
      int channelItems = (channels + channelsPerItem - 1) / channelsPerItem;
      if (blocked(mode == AUTO ? DEFAULT_MODE : mode, channelBytes, channelItems, t)) {
        op = channelOp;
        runItems(channelItems, t);
        return;
      }
      runSums(statsOp, t);
      for (int c = 0; c < channels; c++) {
        if (statsOp == FORWARD_STATS) {
          finishForward(c);
        } else {
          finishBackward(c);
        }
      }
      runElementwise(elementOp, t);
    }

    /**
     * Runs items [0, items) of the current op: on the caller's thread in order when t = 1 (a
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

    /** Whether the training passes run channel-blocked rather than streamed. */
    private boolean blocked(int mode, long channelBytes, int channelItems, int t) {
      if (mode != AUTO) {
        return mode == BLOCKED;
      }
      if (channelItems < 2 * t || spatial < SHORT_PLANE) {
        // Too few groups to share between the threads, or one holds every channel; or short
        // planes (one value for BatchNorm1d's (N, C)), where a channel's values are a few floats
        // per row and only the streamed passes read memory in order.
        return false;
      }
      // Measured on a 2-core AMD Zen 5 (docs/kernels.md). Up to a few MB the streamed passes'
      // second read of x comes from the caches anyway, and reading in memory order wins. A group
      // is N runs of its channels' values, C * S floats apart, and each run restarts the hardware
      // prefetchers: with one channel per group the runs are short (S values) and that costs more
      // than the streamed second read; beyond a few tens of MB it does whatever the group. In
      // between, groups of several channels save a second read the caches could not hold.
      long bytes = channelBytes * channels;
      return bytes > BLOCKED_MIN_BYTES && bytes <= BLOCKED_MAX_BYTES
          && GROUP_BYTES / channelBytes >= 2;
    }

    /** A sums pass over every (segment, channel) unit, segment-major (memory order). */
    void runSums(int sumOp, int t) {
      if (spatial < SHORT_PLANE) {
        runMatrixSums(sumOp, t);
        return;
      }
      op = sumOp;
      long units = (long) channels * segments;
      int items = (int) ((units + unitsPerItem - 1) / unitsPerItem);
      runItems(items, t);
    }

    /**
     * A sums pass for short planes (one value for BatchNorm1d's (N, C)): items of (segment, block of
     * {@link #MATRIX_BLOCK} channels), each walking its segment's rows in memory order with the
     * block's channels side by side. The same (channel, segment) sums as {@link #unit}, bit for bit.
     */
    private void runMatrixSums(int sumOp, int t) {
      switch (sumOp) {
        case FORWARD_STATS:
          op = MATRIX_FORWARD_STATS;
          for (int c = 0; c < channels; c++) {
            k[c] = shift(c);
          }
          break;
        case BACKWARD_STATS:
          op = MATRIX_BACKWARD_STATS;
          for (int c = 0; c < channels; c++) {
            k[c] = saveMean[c]; // the pivots, until finishBackward sets k
          }
          break;
        default:
          op = MATRIX_SCALE_GRAD_SUMS;
      }
      int blocks = (channels + MATRIX_BLOCK - 1) / MATRIX_BLOCK;
      runItems(segments * blocks, t);
    }

    private void matrixSums(int item) {
      int blocks = (channels + MATRIX_BLOCK - 1) / MATRIX_BLOCK;
      int g = item / blocks;
      int c0 = (item % blocks) * MATRIX_BLOCK;
      int c1 = Math.min(channels, c0 + MATRIX_BLOCK);
      int r0 = g * planesPerSegment;
      int r1 = Math.min(batch, r0 + planesPerSegment);
      switch (op) {
        case MATRIX_FORWARD_STATS:
          ops.shiftedSumsAcross(x, r0, r1, channels, spatial, c0, c1, k, partials, 3 * g,
              3 * segments);
          break;
        case MATRIX_BACKWARD_STATS:
          ops.backwardSumsAcross(x, dy, r0, r1, channels, spatial, c0, c1, k, partials, 3 * g,
              3 * segments);
          break;
        default:
          ops.scaleGradAcross(x, dy, dx, r0, r1, channels, spatial, c0, c1, mean, alpha, partials,
              3 * g, 3 * segments);
      }
    }

    /** An elementwise pass in memory order: row blocks, or (row, channel block) tiles. */
    void runElementwise(int elementOp, int t) {
      op = elementOp;
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
    private void tile(int elementOp, int item) {
      int channelBlocks = (channels + tileChannels - 1) / tileChannels;
      int n0 = (item / channelBlocks) * tileRows;
      int n1 = Math.min(batch, n0 + tileRows);
      int c0 = (item % channelBlocks) * tileChannels;
      int c1 = Math.min(channels, c0 + tileChannels);
      if (c0 == 0 && c1 == channels) {
        rows(elementOp, n0, n1);
        return;
      }
      for (int c = c0; c < c1; c++) {
        elementwise(elementOp, c, n0 * stride + c * spatial, n1 - n0, spatial);
      }
    }

    /** Whole rows [n0, n1) of the elementwise pass, in memory order, in one kernel call. */
    private void rows(int elementOp, int n0, int n1) {
      int base = n0 * stride;
      switch (elementOp) {
        case NORMALIZE:
          ops.normalizeRows(x, y, base, n1 - n0, channels, spatial, mean, alpha, beta);
          break;
        case BACKWARD_DX:
          ops.backwardDxRows(x, dy, dx, base, n1 - n0, channels, spatial, mean, beta, k, alpha);
          break;
        case SCALE_GRAD:
          ops.scaleGradRows(dy, dx, base, n1 - n0, channels, spatial, alpha);
          break;
        default:
          throw new AssertionError(elementOp);
      }
    }

    private void elementwise(int elementOp, int c, int base, int planes, int len) {
      switch (elementOp) {
        case NORMALIZE:
          ops.normalize(x, y, base, stride, planes, len, mean[c], alpha[c], beta[c]);
          break;
        case BACKWARD_DX:
          ops.backwardDx(x, dy, dx, base, stride, planes, len, mean[c], beta[c], k[c], alpha[c]);
          break;
        case SCALE_GRAD:
          ops.scaleGrad(x, dy, dx, base, stride, planes, len, mean[c], alpha[c], false, null, 0);
          break;
        default:
          throw new AssertionError(elementOp);
      }
    }

    @Override
    public void run(int item) {
      switch (op) {
        case FORWARD_CHANNELS:
        case BACKWARD_CHANNELS: {
          int c0 = item * channelsPerItem;
          channelGroup(op, c0, Math.min(channels, c0 + channelsPerItem));
          return;
        }
        case MATRIX_FORWARD_STATS:
        case MATRIX_BACKWARD_STATS:
        case MATRIX_SCALE_GRAD_SUMS:
          matrixSums(item);
          return;
        case FORWARD_STATS:
        case BACKWARD_STATS:
        case SCALE_GRAD_SUMS: {
          long u0 = (long) item * unitsPerItem;
          long u1 = Math.min((long) channels * segments, u0 + unitsPerItem);
          for (long u = u0; u < u1; u++) {
            unit(op, (int) (u % channels), (int) (u / channels));
          }
          return;
        }
        default:
          tile(op, item);
      }
    }

    /**
     * Both training passes over the channels [c0, c1): the first pass over every (segment,
     * channel) unit of the group in memory order, the per-channel arithmetic, then the second pass
     * in memory order, which finds the group's values in cache.
     */
    private void channelGroup(int channelOp, int c0, int c1) {
      boolean forward = channelOp == FORWARD_CHANNELS;
      for (int g = 0; g < segments; g++) {
        for (int c = c0; c < c1; c++) {
          unit(forward ? FORWARD_STATS : BACKWARD_STATS, c, g);
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
          unit(forward ? NORMALIZE : BACKWARD_DX, c, g);
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

    private double shift(int c) {
      // K: the channel's first value; a large common offset cancels exactly in x - K.
      double shift = x[c * spatial];
      return Double.isFinite(shift) ? shift : 0.0;
    }

    /** One (channel, segment) unit of a segment pass. */
    private void unit(int unitOp, int c, int g) {
      int base = segmentBase(c, g);
      int planes = segmentPlanes(g);
      int len = segmentLength(g);
      int u = c * segments + g;
      switch (unitOp) {
        case FORWARD_STATS:
          ops.shiftedSums(x, base, stride, planes, len, shift(c), partials, 3 * u);
          break;
        case NORMALIZE:
          ops.normalize(x, y, base, stride, planes, len, mean[c], alpha[c], beta[c]);
          break;
        case BACKWARD_STATS:
          ops.backwardSums(x, dy, base, stride, planes, len, saveMean[c], partials, 3 * u);
          break;
        case BACKWARD_DX:
          ops.backwardDx(x, dy, dx, base, stride, planes, len, mean[c], beta[c], k[c], alpha[c]);
          break;
        case SCALE_GRAD_SUMS:
          ops.scaleGrad(x, dy, dx, base, stride, planes, len, mean[c], alpha[c], true, partials,
              3 * u);
          break;
        default:
          throw new AssertionError(unitOp);
      }
    }

    // ---- training forward

    /** Statistics, saved values and running update of channel c from its segment sums. */
    private void finishForward(int c) {
      double sum = 0;
      double squares = 0;
      for (int g = 0, u = c * segments; g < segments; g++, u++) {
        sum += partials[3 * u];
        squares += partials[3 * u + 1];
      }
      final double m = count;
      final double mean = shift(c) + sum / m;
      // sum (x - mean)^2 = sum (x - K)^2 - (sum (x - K))^2 / m, never negative in exact arithmetic.
      double centered = squares - sum * (sum / m);
      if (centered < 0) {
        centered = 0;
      }
      final double var = centered / m;
      final double invStd = 1.0 / Math.sqrt(var + eps);
      saveMean[c] = (float) mean;
      saveInvStd[c] = (float) invStd;
      this.mean[c] = mean;
      this.alpha[c] = (weight == null ? 1.0 : weight[c]) * invStd;
      this.beta[c] = bias == null ? 0.0 : bias[c];
      if (runningMean != null) {
        // Normalization uses the biased variance; the running estimate the unbiased one, as
        // PyTorch does. m > 1 here: the callers reject a single value per channel.
        double unbiasedVar = centered / (m - 1);
        runningMean[c] = (float) ((1 - factor) * runningMean[c] + factor * mean);
        runningVar[c] = (float) ((1 - factor) * runningVar[c] + factor * unbiasedVar);
      }
    }

    // ---- training backward

    /** Parameter gradients and dx constants of channel c from its segment sums. */
    private void finishBackward(int c) {
      double sumDy = 0;
      double sumDyCentered = 0;
      double sumCentered = 0;
      for (int g = 0, u = c * segments; g < segments; g++, u++) {
        sumDy += partials[3 * u];
        sumDyCentered += partials[3 * u + 1];
        sumCentered += partials[3 * u + 2];
      }
      final double m = count;
      final float pivot = saveMean[c];
      // pivot is the float-rounded mean; the exact batch mean is pivot + correction.
      final double correction = sumCentered / m;
      final double dotXhatUnscaled = sumDyCentered - correction * sumDy; // sum dy * (x - mean)
      final double invStd = saveInvStd[c];
      final double gamma = weight == null ? 1.0 : weight[c];
      if (biasGrad != null) {
        biasGrad[c] = (float) (biasGrad[c] + sumDy);
      }
      if (weightGrad != null) {
        weightGrad[c] = (float) (weightGrad[c] + dotXhatUnscaled * invStd);
      }
      mean[c] = pivot + correction;
      beta[c] = sumDy / m; // meanDy
      k[c] = dotXhatUnscaled * invStd * invStd / m;
      alpha[c] = gamma * invStd; // scale
    }
  }
}
