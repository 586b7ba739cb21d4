package io.github.batchnorm4j;

import io.github.batchnorm4j.internal.BatchNormKernels;
import io.github.batchnorm4j.internal.KernelOps;

import java.util.Arrays;

/**
 * Synchronized (cross-replica) batch normalization: the training mode of a {@link BatchNorm1d},
 * {@link BatchNorm2d} or {@link BatchNorm3d} in which k data-parallel workers normalize with the
 * statistics of their global batch (the concatenation of their local batches), like PyTorch's
 * {@code torch.nn.SyncBatchNorm}. Each worker wraps its replica's module and the worker's view of a
 * {@link StatisticsExchange}; k = 1 gives the module's own training mode (to rounding), except for
 * a batch with no values: the module, as PyTorch's, writes nothing, keeps its running statistics
 * and counts the batch, while SyncBatchNorm rejects a global batch of at most one value per
 * channel, none included, as it has no statistics to share.
 *
 * <h2>Forward, training mode</h2>
 * Worker r computes the (count n_r, mean, M2) of each channel of its local batch, held in double
 * ({@link ChannelMoments}, which says to what accuracy) and all-gathers them with a small header;
 * every worker then merges them in rank order with Chan's formula into the same global statistics
 * (n, mean_c, M2_c) and
 * <pre>
 * var_c = M2_c / n                  invStd_c = 1 / sqrt(var_c + eps)
 * y     = (x - mean_c) * invStd_c * gamma_c + beta_c                (local x, global statistics)
 * numBatchesTracked += 1 ; f = momentum, or 1 / numBatchesTracked for a cumulative average
 * runningMean_c = (1 - f) * runningMean_c + f * mean_c
 * runningVar_c  = (1 - f) * runningVar_c  + f * M2_c / (n - 1)       (global unbiased variance)
 * </pre>
 * so every replica's running statistics stay identical. "More than one value per channel" is
 * judged on the global n: a worker with an empty local batch (N = 0) takes part, contributing
 * n_r = 0, and uneven local batches are weighted by their counts.
 *
 * <h2>Backward</h2>
 * Each worker all-gathers its per-channel sums {@code sum dy} and {@code sum dy * (x - mean_c)}
 * (global mean); with their totals G_c and H_c over all workers:
 * <pre>
 * dx       = gamma_c * invStd_c * (dy - G_c / n - (x - mean_c) * invStd_c^2 * H_c / n)
 * dbeta_c  += local sum dy                      (ADDED into module.biasGrad())
 * dgamma_c += local sum dy * (x - mean_c) * invStd_c   (ADDED into module.weightGrad())
 * </pre>
 * dx equals the gradient of one module on the concatenated batch, restricted to this worker's rows.
 * The parameter gradients are this worker's share only: their sum over the workers is the
 * concatenated batch's gradient. Like PyTorch's SyncBatchNorm under DistributedDataParallel, the
 * training loop must all-reduce (sum, or average consistently with the loss) gamma's and beta's
 * gradients together with every other parameter's gradient before the optimizer step.
 *
 * <h2>Eval mode</h2>
 * In eval mode (the module's {@link BatchNorm#isTraining()} is false) the wrapper calls the
 * module's own forward and backward and exchanges nothing. A module without running statistics
 * then normalizes with its local batch's statistics, as PyTorch's SyncBatchNorm does.
 *
 * <h2>Errors</h2>
 * Every worker of a training step must call forward (and backward) the same number of times in
 * the same order, even with an empty or rejected batch: a worker whose input is bad still takes
 * part in the exchange with a "rejected" flag, then throws its own {@link IllegalArgumentException};
 * the others throw an {@link IllegalArgumentException} naming its rank. The header also carries
 * the channel count, eps, momentum, the module flags, numBatchesTracked and the step number, so
 * workers whose modules disagree (a different channel count, a different configuration, a replica
 * in another step) fail alike with a message saying what differs. A failed exchange (the exchange
 * throws) raises an {@link IllegalStateException}. In all these cases no module, running statistic
 * or gradient has changed (the outputs y or dx are not written either). A worker in eval mode does
 * not take part, so its peers' exchange fails (an {@link InProcessExchange} times out).
 *
 * <h2>Scope</h2>
 * Channels-first modules without a fused activation (the defaults); the synchronized path's
 * passes (the local sums, the normalization, dx) use the module's threads (by default automatic:
 * see {@link BatchNormOptions#AUTO_THREADS}; with several workers in one JVM, one call at a time
 * gets the shared worker threads and the others run on their own threads). It allocates the
 * messages (a few arrays of 2 C doubles) on every training call.
 * A wrapper is not thread-safe: it belongs to its worker's thread, like its module. See
 * docs/distributed.md for the design and the message sizes.
 */
public final class SyncBatchNorm {

  private static final double FORWARD = 7301;
  private static final double BACKWARD = 7302;
  private static final int OK = 0;
  private static final int REJECTED = 1;
  /** Header values of a forward message before the 2 C statistics. */
  static final int FORWARD_HEADER = 9;
  /** Header values of a backward message before the 2 C sums. */
  static final int BACKWARD_HEADER = 5;

  private final BatchNorm module;
  private final StatisticsExchange exchange;
  private final int channels;

  private long step; // synchronized training forwards completed, the same on every worker

  // Per-call scratch, reused.
  private final double[] localMean;
  private final double[] localM2;
  private final float[] meanHead;
  private final float[] varFloat;
  private final float[] shiftedBias;

  // The last synchronized forward, for the backward.
  private Tensor savedInput;
  private long savedCount;
  private long savedStep;
  private long savedModeChanges;
  private final double[] savedMean;
  private final double[] savedInvStd;
  private boolean lastForwardSynchronized;
  private String backwardUnavailable = "backward called before any forward";

  /**
   * Wraps a module for synchronized training.
   *
   * @param module this worker's replica of the layer; channels-first, no fused activation. Not
   *     modified here; later forward and backward calls modify it as described in the class comment.
   * @param exchange this worker's view of the exchange among the replicas
   * @throws IllegalArgumentException if an argument is null, the module uses channels-last data or
   *     a fused activation, or the exchange reports an invalid rank or world size
   */
  public SyncBatchNorm(BatchNorm module, StatisticsExchange exchange) {
    if (module == null || exchange == null) {
      throw new IllegalArgumentException(
          "module and exchange must not be null but module is " + (module == null ? "null" : module)
              + " and exchange is " + (exchange == null ? "null" : exchange));
    }
    if (module.layout() != Layout.CHANNELS_FIRST || module.activation() != Activation.NONE) {
      throw new IllegalArgumentException(
          "SyncBatchNorm supports channels-first modules without a fused activation, but the"
              + " module has layout " + module.layout() + " and activation " + module.activation());
    }
    int k = exchange.worldSize();
    int rank = exchange.rank();
    if (k < 1 || rank < 0 || rank >= k) {
      throw new IllegalArgumentException(
          "the exchange must have worldSize >= 1 and rank in [0, worldSize) but has worldSize "
              + k + " and rank " + rank);
    }
    this.module = module;
    this.exchange = exchange;
    this.channels = module.numFeatures();
    this.localMean = new double[channels];
    this.localM2 = new double[channels];
    this.meanHead = new float[channels];
    this.varFloat = new float[channels];
    this.shiftedBias = new float[channels];
    this.savedMean = new double[channels];
    this.savedInvStd = new double[channels];
  }

  /** {@return the wrapped module, whose parameters, gradients, running statistics and mode are live} */
  public BatchNorm module() {
    return module;
  }

  /** {@return this worker's exchange} */
  public StatisticsExchange exchange() {
    return exchange;
  }

  /**
   * Normalizes {@code x} into a new tensor; see {@link #forward(Tensor, Tensor)}.
   *
   * @param x the local batch. Not modified.
   * @return a new tensor with x's shape
   */
  public Tensor forward(Tensor x) {
    Tensor out = x == null ? null : Tensor.zeros(x.shape());
    forward(x, out);
    return out;
  }

  /**
   * Training mode: exchanges this worker's per-channel statistics, normalizes x with the global
   * ones into out, and updates the module's numBatchesTracked and running statistics with the
   * global mean and unbiased variance (see the class comment). Eval mode: the module's own
   * forward, with no exchange.
   *
   * @param x the local batch (N, C, *spatial) with C = numFeatures, N &gt;= 0. Not modified unless
   *     out is x; referenced (not copied) for the backward.
   * @param out receives y, with x's shape. Modified. May be x (then backward is unavailable).
   * @throws IllegalArgumentException if this worker's or another worker's input is rejected (null,
   *     wrong rank, channel count or output shape), the workers' modules disagree, or the global
   *     batch has at most one value per channel; nothing has changed then
   * @throws IllegalStateException if the exchange fails; nothing has changed then
   */
  public void forward(Tensor x, Tensor out) {
    if (!module.isTraining()) {
      module.forward(x, out); // throws, changing nothing, on bad input
      lastForwardSynchronized = false;
      savedInput = null;
      backwardUnavailable = null; // the module's backward decides
      return;
    }
    String rejected = checkInput(x, out, "input", "out");
    int batch = 0;
    int spatial = 0;
    long count = 0;
    if (rejected == null) {
      batch = x.shape().dim(0);
      spatial = ChannelMoments.spatialSize(x.shape());
      count = (long) batch * spatial;
    }
    double[] message = new double[FORWARD_HEADER + 2 * channels];
    message[0] = FORWARD;
    message[1] = rejected == null ? OK : REJECTED;
    message[2] = channels;
    message[3] = module.eps();
    message[4] = module.momentum().orElse(-1);
    message[5] = (module.tracksRunningStats() ? 1 : 0) + (module.isAffine() ? 2 : 0)
        + (module.unbiasedRunningVar() ? 4 : 0);
    message[6] = module.numBatchesTracked();
    message[7] = step;
    if (rejected == null && count > 0) {
      BatchNormKernels.moments(KernelOps.forSize(x.data().length), batch, channels, spatial,
          x.data(), localMean, localM2, module.threads());
      message[8] = count;
      System.arraycopy(localMean, 0, message, FORWARD_HEADER, channels);
      System.arraycopy(localM2, 0, message, FORWARD_HEADER + channels, channels);
    }
    double[][] all = gather(message, "forward");
    checkMessages(all, message, FORWARD, FORWARD_HEADER, rejected, x);

    ChannelMoments global = new ChannelMoments(channels);
    double[] mean = new double[channels];
    double[] m2 = new double[channels];
    for (double[] part : all) {
      System.arraycopy(part, FORWARD_HEADER, mean, 0, channels);
      System.arraycopy(part, FORWARD_HEADER + channels, m2, 0, channels);
      ChannelMoments.mergeInto(global, (long) part[8], mean, m2);
    }
    long n = global.count();
    if (n <= 1) {
      throw new IllegalArgumentException(
          "expected more than 1 value per channel when training, but the " + all.length
              + " workers' batches hold " + n + " value(s) per channel in all; this worker's input"
              + " shape " + x.shape());
    }

    // Everything is checked: from here on nothing throws.
    double eps = module.eps();
    float[] weight = module.weight();
    float[] bias = module.bias();
    for (int c = 0; c < channels; c++) {
      double mu = global.mean(c);
      double var = global.m2(c) / n;
      savedMean[c] = mu;
      savedInvStd[c] = 1 / Math.sqrt(var + eps);
      // The kernel takes float statistics: pass the float head of the mean and fold the rest of it
      // into beta, with the kernel's own alpha, so y keeps the double mean's accuracy even with a
      // large common offset (1e4 + noise).
      meanHead[c] = (float) mu;
      varFloat[c] = (float) var;
      double gamma = weight == null ? 1.0 : weight[c];
      double alpha = gamma / Math.sqrt(varFloat[c] + eps);
      double beta = bias == null ? 0.0 : bias[c];
      shiftedBias[c] = (float) (beta - (mu - meanHead[c]) * alpha);
    }
    if (count > 0) {
      // The module's own options: channels-first without activation (the constructor checked).
      BatchNormFunctional.runForwardInference(module.options(), x.shape(), x.data(), out.data(),
          new AffineParameters(weight, shiftedBias), new ChannelStatistics(meanHead, varFloat));
    }
    if (module.tracksRunningStats()) {
      // As BatchNorm: the counter saturates at Long.MAX_VALUE, so f stays in (0, 1].
      long tracked = module.numBatchesTracked() == Long.MAX_VALUE ? Long.MAX_VALUE
          : module.numBatchesTracked() + 1;
      double f = module.momentum().isPresent() ? module.momentum().getAsDouble() : 1.0 / tracked;
      long divisor = module.unbiasedRunningVar() ? n - 1 : n;
      float[] runningMean = module.runningMean();
      float[] runningVar = module.runningVar();
      for (int c = 0; c < channels; c++) {
        runningMean[c] = (float) ((1 - f) * runningMean[c] + f * global.mean(c));
        runningVar[c] = (float) ((1 - f) * runningVar[c] + f * (global.m2(c) / divisor));
      }
      module.setNumBatchesTracked(tracked);
    }
    savedStep = step;
    savedModeChanges = module.modeChanges();
    step++;
    savedCount = n;
    lastForwardSynchronized = true;
    if (x.data() == out.data()) {
      savedInput = null;
      backwardUnavailable = "backward is not available after an in-place forward (out was the"
          + " input array); input shape " + x.shape();
    } else {
      savedInput = x;
      backwardUnavailable = null;
    }
  }

  /**
   * Returns dL/dx in a new tensor; see {@link #backward(Tensor, Tensor)}.
   *
   * @param gradOutput dL/dy of the last forward. Not modified.
   * @return a new tensor
   */
  public Tensor backward(Tensor gradOutput) {
    Tensor gradInput = gradOutput == null ? null : Tensor.zeros(gradOutput.shape());
    backward(gradOutput, gradInput);
    return gradInput;
  }

  /**
   * After a synchronized forward: exchanges the per-channel sums of dy and dy * (x - mean), writes
   * dx of the concatenated batch for this worker's rows, and ADDS this worker's share of dgamma and
   * dbeta into the module's weightGrad() and biasGrad() (to be all-reduced with the other
   * gradients). After an eval-mode forward: the module's own backward, with no exchange.
   *
   * @param gradOutput dL/dy, with the shape of the forward's input. Not modified unless it is
   *     gradInput.
   * @param gradInput receives dL/dx, same shape. Modified. May be gradOutput, not the forward's
   *     input.
   * @throws IllegalArgumentException if this or another worker's gradient has the wrong shape or
   *     gradInput is the forward's input array, or the workers are not at the same step; nothing
   *     has changed then
   * @throws IllegalStateException if there is no forward to differentiate (none yet, in place, or
   *     the module's mode was switched since, even if back), or the exchange fails; nothing has
   *     changed then
   */
  public void backward(Tensor gradOutput, Tensor gradInput) {
    if (!lastForwardSynchronized) {
      if (backwardUnavailable != null) {
        throw new IllegalStateException("SyncBatchNorm: " + backwardUnavailable);
      }
      module.backward(gradOutput, gradInput);
      return;
    }
    if (savedInput == null) {
      throw new IllegalStateException("SyncBatchNorm: " + backwardUnavailable);
    }
    if (module.modeChanges() != savedModeChanges) {
      // As BatchNorm does: a mode change invalidates the saved forward, also when the mode has
      // been switched back. Every worker changes mode at the same point of the loop, so all of
      // them stop here, before any exchange.
      throw new IllegalStateException("SyncBatchNorm: backward called after the mode changed"
          + (module.isTraining() ? " from training to eval and back" : " from training to eval")
          + " since the last forward; run forward again in the new mode");
    }
    Tensor x = savedInput;
    String rejected = checkGradients(gradOutput, gradInput, x);
    int batch = x.shape().dim(0);
    int spatial = ChannelMoments.spatialSize(x.shape());
    double[] sumDy = new double[channels];
    double[] sumDyCentered = new double[channels];
    double[] message = new double[BACKWARD_HEADER + 2 * channels];
    message[0] = BACKWARD;
    message[1] = rejected == null ? OK : REJECTED;
    message[2] = channels;
    message[3] = savedCount;
    message[4] = savedStep;
    if (rejected == null && (long) batch * spatial > 0) {
      BatchNormKernels.gradientSums(KernelOps.forSize(x.data().length), batch, channels, spatial,
          x.data(), gradOutput.data(), savedMean, sumDy, sumDyCentered, module.threads());
      System.arraycopy(sumDy, 0, message, BACKWARD_HEADER, channels);
      System.arraycopy(sumDyCentered, 0, message, BACKWARD_HEADER + channels, channels);
    }
    double[][] all = gather(message, "backward");
    checkMessages(all, message, BACKWARD, BACKWARD_HEADER, rejected, x);

    // Totals in rank order, so every worker gets the same bits.
    double[] totalDy = new double[channels];
    double[] totalDyCentered = new double[channels];
    for (double[] part : all) {
      for (int c = 0; c < channels; c++) {
        totalDy[c] += part[BACKWARD_HEADER + c];
        totalDyCentered[c] += part[BACKWARD_HEADER + channels + c];
      }
    }
    float[] weight = module.weight();
    double n = savedCount;
    double[] scale = new double[channels];
    double[] meanDy = new double[channels];
    double[] slope = new double[channels];
    for (int c = 0; c < channels; c++) {
      double invStd = savedInvStd[c];
      scale[c] = (weight == null ? 1.0 : weight[c]) * invStd;
      meanDy[c] = totalDy[c] / n;
      slope[c] = invStd * invStd * totalDyCentered[c] / n;
    }
    if ((long) batch * spatial > 0) {
      BatchNormKernels.gradInput(KernelOps.forSize(x.data().length), batch, channels, spatial,
          x.data(), gradOutput.data(), gradInput.data(), savedMean, meanDy, slope, scale,
          module.threads());
    }
    if (module.isAffine()) {
      float[] weightGrad = module.weightGrad();
      float[] biasGrad = module.biasGrad();
      for (int c = 0; c < channels; c++) {
        weightGrad[c] = (float) (weightGrad[c] + sumDyCentered[c] * savedInvStd[c]);
        biasGrad[c] = (float) (biasGrad[c] + sumDy[c]);
      }
    }
  }

  private double[][] gather(double[] message, String phase) {
    double[][] all;
    try {
      all = exchange.allGather(message);
    } catch (RuntimeException e) {
      throw new IllegalStateException(
          "SyncBatchNorm " + phase + ": the exchange failed on rank " + exchange.rank() + " of "
              + exchange.worldSize() + " (" + e.getMessage() + "); nothing was changed", e);
    }
    return all;
  }

  /** Checks every worker's message against this worker's; throws for the first difference. */
  private void checkMessages(double[][] all, double[] mine, double phase, int header,
      String rejected, Tensor x) {
    int k = exchange.worldSize();
    int rank = exchange.rank();
    String where = "SyncBatchNorm " + (phase == FORWARD ? "forward" : "backward") + " on rank "
        + rank + " of " + k + ": ";
    if (all == null || all.length != k) {
      throw new IllegalStateException(where + "the exchange returned "
          + (all == null ? "null" : all.length + " contributions") + " instead of " + k);
    }
    if (!Arrays.equals(all[rank], mine)) {
      throw new IllegalStateException(
          where + "the exchange returned a different contribution at this worker's rank");
    }
    if (rejected != null) {
      throw new IllegalArgumentException(where + rejected + "; nothing was changed on any worker");
    }
    for (int r = 0; r < k; r++) {
      double[] m = all[r];
      if (m == null || m.length < header || m[0] != phase) {
        throw new IllegalArgumentException(where + "rank " + r + " sent "
            + (m == null || m.length < 1 ? "no message"
                : m[0] == FORWARD ? "a forward message" : m[0] == BACKWARD ? "a backward message"
                : "an unknown message")
            + " while this worker is in its " + (phase == FORWARD ? "forward" : "backward")
            + "; the workers are out of step (every worker must call forward and backward in the"
            + " same order); nothing was changed");
      }
      if (m[1] != OK) {
        throw new IllegalArgumentException(where + "rank " + r
            + " rejected its input (see the exception on that worker); nothing was changed on any"
            + " worker");
      }
      if (m[2] != channels || m.length != mine.length) {
        throw new IllegalArgumentException(where + "rank " + r + " has " + (long) m[2]
            + " channels but this worker's " + module.getClass().getSimpleName() + " has "
            + channels + " (message length " + m.length + ", expected " + mine.length
            + "); this worker's input shape " + (x == null ? "null" : x.shape())
            + "; nothing was changed");
      }
      for (int i = 3; i < header; i++) {
        if (phase == FORWARD && i == 8) {
          continue; // the local count, which may differ
        }
        if (Double.compare(m[i], mine[i]) != 0) {
          throw new IllegalArgumentException(where + "rank " + r + " differs in "
              + describe(phase, i) + ": " + m[i] + " there, " + mine[i] + " here"
              + "; the replicas must be configured alike and at the same step; nothing was"
              + " changed");
        }
      }
    }
  }

  private static String describe(double phase, int i) {
    if (phase == FORWARD) {
      return switch (i) {
        case 3 -> "eps";
        case 4 -> "momentum (-1 for the cumulative average)";
        case 5 -> "the flags trackRunningStats + 2 affine + 4 unbiasedRunningVar";
        case 6 -> "numBatchesTracked";
        default -> "the synchronized step number";
      };
    }
    return i == 3 ? "the global count of the forward" : "the synchronized step number";
  }

  private String checkInput(Tensor x, Tensor out, String xName, String outName) {
    if (x == null) {
      return xName + " must not be null";
    }
    Shape shape = x.shape();
    String accepted = module.rejectRank(shape.rank(), Layout.CHANNELS_FIRST);
    if (accepted != null) {
      return xName + " has rank " + shape.rank() + " but " + module.getClass().getSimpleName()
          + " expects " + accepted + "; input shape " + shape;
    }
    if (shape.dim(1) != channels) {
      return xName + " has " + shape.dim(1) + " channels but " + module.getClass().getSimpleName()
          + " was built for " + channels + "; input shape " + shape;
    }
    if (out == null) {
      return outName + " must not be null; input shape " + shape;
    }
    if (!out.shape().equals(shape)) {
      return outName + " has shape " + out.shape() + " but must have the input's shape " + shape;
    }
    return null;
  }

  private static String checkGradients(Tensor gradOutput, Tensor gradInput, Tensor input) {
    Shape shape = input.shape();
    if (gradOutput == null) {
      return "gradOutput must not be null; input shape " + shape;
    }
    if (!gradOutput.shape().equals(shape)) {
      return "gradOutput has shape " + gradOutput.shape()
          + " but the input of the last forward had shape " + shape;
    }
    if (gradInput == null) {
      return "gradInput must not be null; input shape " + shape;
    }
    if (!gradInput.shape().equals(shape)) {
      return "gradInput has shape " + gradInput.shape()
          + " but must have the shape of the forward's input " + shape;
    }
    if (gradInput.data() == input.data()) {
      // dx would overwrite x, which a second backward of the same forward reads again.
      return "gradInput must not share its array with the input of the last forward; input shape "
          + shape;
    }
    return null;
  }

  /** For example {@code SyncBatchNorm(BatchNorm2d(...), rank 1 of 4)}. */
  @Override
  public String toString() {
    return "SyncBatchNorm(" + module + ", rank " + exchange.rank() + " of " + exchange.worldSize()
        + ")";
  }
}
