package io.github.batchnorm4j;

import io.github.batchnorm4j.internal.BatchNormKernels;
import io.github.batchnorm4j.internal.BatchNormKernels.PassOrder;
import io.github.batchnorm4j.internal.KernelOps;

/**
 * Stateless batch-normalization kernels over raw {@code float[]} data, the layer beneath
 * {@link BatchNorm1d}, {@link BatchNorm2d}, {@link BatchNorm3d} and {@link FrozenBatchNorm2d}, and
 * the Java counterpart of {@code torch.nn.functional.batch_norm} and its backward.
 *
 * <h2>Calling it</h2>
 * Every method takes its arguments in one order: the {@link BatchNormOptions}, the {@link Shape}
 * of the data, the data arrays (x, y, dy, dx), then the per-channel arrays grouped by role
 * ({@link AffineParameters}, {@link ChannelStatistics}, {@link BatchStatistics},
 * {@link ParameterGradients}). The holders and options are small immutable objects: build them
 * once and reuse them, and no call allocates.
 *
 * <pre>{@code
 * BatchNormOptions options = BatchNormOptions.defaults().withThreads(2);
 * Shape shape = Shape.of(32, 64, 56, 56);
 * AffineParameters affine = new AffineParameters(gamma, beta);
 * ChannelStatistics running = new ChannelStatistics(runningMean, runningVar);
 * BatchStatistics saved = new BatchStatistics(new float[64], new float[64]);
 * BatchNormFunctional.forwardTraining(options, shape, x, y, affine, running, 0.1, saved);
 * BatchNormFunctional.backwardTraining(options, shape, x, y, dy, dx, affine, saved,
 *     new ParameterGradients(gammaGrad, betaGrad));
 * }</pre>
 *
 * <h2>Layout</h2>
 * Data is dense and row-major, (N, C, *spatial) channels-first or (N, *spatial, C) channels-last
 * ({@link BatchNormOptions#layout()}); a shape of rank 2, (N, C), is the same in both. For channel
 * c the statistics run over its m = N * prod(spatial) values.
 *
 * <h2>Formulas</h2>
 * <pre>
 * mean_c   = (1/m) sum x                     var_c = (1/m) sum (x - mean_c)^2   (biased)
 * invStd_c = 1 / sqrt(var_c + eps)
 * y        = act((x - mean_c) * invStd_c * gamma_c + beta_c)     act = identity or max(0, .)
 * </pre>
 *
 * <h2>Contract</h2>
 * <ul>
 *   <li>Outputs are caller-provided. Nothing is allocated in steady state, on one thread or
 *       several: each calling thread keeps a scratch area (a few doubles per channel, and per
 *       reduction segment of 8,192 values) of at most 4 MiB, plus per executing thread a vector
 *       scratch of a few doubles per channel of one row; a call that needs more allocates it and
 *       releases it afterwards.
 *   <li>Outputs may alias their elementwise inputs ({@code y == x}; {@code dx} may be x, y or dy):
 *       each element is read before it is written, and every sum is complete before the pass that
 *       writes.
 *   <li>Every argument is checked before anything is written; on an {@link IllegalArgumentException}
 *       no output, running statistic or gradient has changed.
 *   <li>NaN or infinity in the data is not an error: it propagates into the outputs and statistics of
 *       its channel, as in PyTorch.
 *   <li>Each channel's statistics are one shifted pass (sums of x - K and (x - K)^2, K a value of
 *       the channel; PyTorch's CPU kernel takes two passes, this one saves a read of x) over
 *       segments fixed by the shape alone, added in a fixed order: the results are bitwise
 *       identical for every thread count, in every layout and variant. The scalar kernels add in
 *       double (the variance within about m * 1e-16 relative); the Vector API kernels add runs of
 *       128 values or more in float lanes around local means and only the blocks' sums in double,
 *       which keeps the variance within about one float ulp, 2^-23 relative (docs/numerics.md,
 *       section 1).
 *   <li>The kernels use the Vector API when the JVM has {@code jdk.incubator.vector} (start it with
 *       {@code --add-modules jdk.incubator.vector}); {@code -Dbatchnorm4j.simd=false} forces the
 *       scalar kernels. Both keep the same accuracy contract (docs/numerics.md).
 * </ul>
 */
public final class BatchNormFunctional {

  private BatchNormFunctional() {}

  /**
   * Training-mode forward: normalizes each channel with its batch statistics, saves them for the
   * backward and, when running statistics are given, updates them with the factor {@code f =
   * momentum}:
   * <pre>
   * saved.mean_c = mean_c     saved.invStd_c = invStd_c
   * running.mean_c = (1 - f) * running.mean_c + f * mean_c
   * running.var_c  = (1 - f) * running.var_c  + f * var_c * m / (m - 1)   (unbiased; var_c if not)
   * </pre>
   * PyTorch's {@code momentum=None} (cumulative average) is {@code f = 1 / numBatchesTracked}
   * after the counter has been incremented. An empty batch (m = 0) writes nothing.
   *
   * @param options eps, layout, activation, running-variance convention and threads
   * @param shape the shape of x and y
   * @param x the input. Not modified (unless y is x).
   * @param y the output. Modified. May be x.
   * @param affine gamma and beta, or null for gamma = 1 and beta = 0. Not modified.
   * @param running the running statistics, updated in place; or null to update none
   * @param momentum the factor f in [0, 1]; ignored when running is null
   * @param saved receives the batch mean and inverse standard deviation. Modified.
   * @throws IllegalArgumentException if an argument is null where not allowed, a length does not
   *     match the shape, momentum is outside [0, 1], saved and running share an array, or m == 1
   *     (a single value per channel has no variance)
   */
  public static void forwardTraining(BatchNormOptions options, Shape shape, float[] x, float[] y,
      AffineParameters affine, ChannelStatistics running, double momentum, BatchStatistics saved) {
    int channels = checkData(options, shape, "x", x, "y", y);
    checkAffine(affine, channels, shape);
    if (running != null) {
      Checks.perChannel("running.mean", running.mean(), channels, shape);
      Checks.momentum(momentum);
    }
    checkHolder("saved", saved, saved == null ? null : saved.mean(), channels, shape);
    if (running != null && (saved.mean() == running.mean() || saved.mean() == running.var()
        || saved.invStd() == running.mean() || saved.invStd() == running.var())) {
      // The batch statistics would overwrite the running ones they are averaged into.
      throw new IllegalArgumentException("saved and running must not share arrays; input shape "
          + shape);
    }
    Checks.moreThanOneValue(shape, options.layout(), "when training");
    runForwardTraining(options, shape, x, y, affine, running, momentum, saved);
  }

  /**
   * Inference (eval-mode) forward with fixed statistics, usually the running ones:
   * {@code y = act((x - mean_c) / sqrt(var_c + eps) * gamma_c + beta_c)}. Only y changes.
   *
   * @param options eps, layout, activation and threads
   * @param shape the shape of x and y
   * @param x the input. Not modified (unless y is x).
   * @param y the output. Modified. May be x.
   * @param affine gamma and beta, or null. Not modified.
   * @param statistics the per-channel mean and variance to normalize with. Not modified.
   * @throws IllegalArgumentException as for training, except that any m is allowed
   */
  public static void forwardInference(BatchNormOptions options, Shape shape, float[] x, float[] y,
      AffineParameters affine, ChannelStatistics statistics) {
    int channels = checkData(options, shape, "x", x, "y", y);
    checkAffine(affine, channels, shape);
    checkHolder("statistics", statistics, statistics == null ? null : statistics.mean(), channels,
        shape);
    runForwardInference(options, shape, x, y, affine, statistics);
  }

  /**
   * Backward of the training forward, where the batch statistics depend on x. With g the gradient
   * reaching the normalization (dy, or with {@link Activation#RELU} 0 where the forward's y is
   * {@code <= 0}) and xhat = (x - mean_c) * invStd_c:
   * <pre>
   * dbeta_c  = sum g                        (ADDED into grads.biasGrad)
   * dgamma_c = sum g * xhat                 (ADDED into grads.weightGrad)
   * dx       = gamma_c * invStd_c * (g - dbeta_c / m - xhat * dgamma_c / m)
   * </pre>
   * The saved mean is only a pivot: the kernel recovers the exact batch mean from x, so its float
   * rounding does not bias the gradient.
   *
   * @param options the options of the forward
   * @param shape the shape of x, y, dy and dx
   * @param x the forward's input. Not modified (unless dx is x).
   * @param y the forward's output: required with {@link Activation#RELU} (its mask), else ignored
   *     and may be null. Not modified (unless dx is y).
   * @param dy dL/dy. Not modified (unless dx is dy).
   * @param dx receives dL/dx. Modified. May be x, y or dy.
   * @param affine the forward's gamma (beta is not read), or null for gamma = 1
   * @param saved what the forward saved for this x. Not modified.
   * @param grads the parameter gradients to add into, or null for none. Modified.
   * @throws IllegalArgumentException if an argument is null where not allowed or a length does not
   *     match the shape
   */
  public static void backwardTraining(BatchNormOptions options, Shape shape, float[] x, float[] y,
      float[] dy, float[] dx, AffineParameters affine, BatchStatistics saved,
      ParameterGradients grads) {
    int channels = checkBackward(options, shape, x, y, dy, dx, affine, grads);
    checkHolder("saved", saved, saved == null ? null : saved.mean(), channels, shape);
    runBackwardTraining(options, shape, x, y, dy, dx, affine, saved, grads);
  }

  /**
   * Backward of the inference forward, where the statistics are constants. With g as for the
   * training backward and invStd_c = 1 / sqrt(var_c + eps):
   * <pre>
   * dx       = g * gamma_c * invStd_c
   * dgamma_c = sum g * (x - mean_c) * invStd_c   (ADDED into grads.weightGrad)
   * dbeta_c  = sum g                             (ADDED into grads.biasGrad)
   * </pre>
   *
   * @param options the options of the forward
   * @param shape the shape of x, y, dy and dx
   * @param x the forward's input; only read for dgamma. Not modified (unless dx is x).
   * @param y the forward's output, required with {@link Activation#RELU}, else may be null
   * @param dy dL/dy. Not modified (unless dx is dy).
   * @param dx receives dL/dx. Modified. May be x, y or dy.
   * @param affine the forward's gamma, or null for gamma = 1
   * @param statistics the statistics the forward used. Not modified.
   * @param grads the parameter gradients to add into, or null for none. Modified.
   * @throws IllegalArgumentException if an argument is null where not allowed or a length does not
   *     match the shape
   */
  public static void backwardInference(BatchNormOptions options, Shape shape, float[] x,
      float[] y, float[] dy, float[] dx, AffineParameters affine, ChannelStatistics statistics,
      ParameterGradients grads) {
    int channels = checkBackward(options, shape, x, y, dy, dx, affine, grads);
    checkHolder("statistics", statistics, statistics == null ? null : statistics.mean(), channels,
        shape);
    runBackwardInference(options, shape, x, y, dy, dx, affine, statistics, grads);
  }

  // ---------------------------------------------------------------------------------------------
  // The trusted entry points, shared with the modules (which checked their own arguments).

  static void runForwardTraining(BatchNormOptions o, Shape shape, float[] x, float[] y,
      AffineParameters affine, ChannelStatistics running, double momentum,
      BatchStatistics saved) {
    Layout layout = o.layout();
    BatchNormKernels.forwardTraining(KernelOps.forSize(x.length), shape.dim(0),
        channels(shape, layout), Checks.spatial(shape, layout),
        layout == Layout.CHANNELS_LAST, x, y, weight(affine), bias(affine),
        running == null ? null : running.mean(), running == null ? null : running.var(), momentum,
        o.unbiasedRunningVar(), o.eps(), o.activation() == Activation.RELU, saved.mean(),
        saved.invStd(), o.threads(), PassOrder.AUTO);
  }

  static void runForwardInference(BatchNormOptions o, Shape shape, float[] x, float[] y,
      AffineParameters affine, ChannelStatistics statistics) {
    Layout layout = o.layout();
    BatchNormKernels.forwardInference(KernelOps.forSize(x.length), shape.dim(0),
        channels(shape, layout), Checks.spatial(shape, layout),
        layout == Layout.CHANNELS_LAST, x, y, weight(affine), bias(affine), statistics.mean(),
        statistics.var(), o.eps(), o.activation() == Activation.RELU, o.threads());
  }

  static void runBackwardTraining(BatchNormOptions o, Shape shape, float[] x, float[] y,
      float[] dy, float[] dx, AffineParameters affine, BatchStatistics saved,
      ParameterGradients grads) {
    Layout layout = o.layout();
    BatchNormKernels.backwardTraining(KernelOps.forSize(x.length), shape.dim(0),
        channels(shape, layout), Checks.spatial(shape, layout),
        layout == Layout.CHANNELS_LAST, x, o.activation() == Activation.RELU ? y : null, dy, dx,
        weight(affine), saved.mean(), saved.invStd(), weightGrad(grads), biasGrad(grads),
        o.threads(), PassOrder.AUTO);
  }

  static void runBackwardInference(BatchNormOptions o, Shape shape, float[] x, float[] y,
      float[] dy, float[] dx, AffineParameters affine, ChannelStatistics statistics,
      ParameterGradients grads) {
    Layout layout = o.layout();
    BatchNormKernels.backwardInference(KernelOps.forSize(x.length), shape.dim(0),
        channels(shape, layout), Checks.spatial(shape, layout),
        layout == Layout.CHANNELS_LAST, x, o.activation() == Activation.RELU ? y : null, dy, dx,
        weight(affine), statistics.mean(), statistics.var(), o.eps(), weightGrad(grads),
        biasGrad(grads), o.threads());
  }

  /** The channel count of checked data: the layout's channel dimension. */
  private static int channels(Shape shape, Layout layout) {
    assert shape.rank() >= 2 : shape;
    return shape.dim(layout.channelAxis(shape.rank()));
  }

  private static float[] weight(AffineParameters affine) {
    return affine == null ? null : affine.weight();
  }

  private static float[] bias(AffineParameters affine) {
    return affine == null ? null : affine.bias();
  }

  private static float[] weightGrad(ParameterGradients grads) {
    return grads == null ? null : grads.weightGrad();
  }

  private static float[] biasGrad(ParameterGradients grads) {
    return grads == null ? null : grads.biasGrad();
  }

  // ---------------------------------------------------------------------------------------------
  // Checks of the functional arguments (the rules themselves live in Checks).

  /** Checks options, shape and two data arrays; returns the channel count. */
  private static int checkData(BatchNormOptions options, Shape shape, String firstName,
      float[] first, String secondName, float[] second) {
    Checks.notNull("options", options);
    int channels = Checks.channels(shape, options.layout());
    Checks.data(firstName, first, shape);
    Checks.data(secondName, second, shape);
    return channels;
  }

  /** Checks the arguments both backward passes take; returns the channel count. */
  private static int checkBackward(BatchNormOptions options, Shape shape, float[] x, float[] y,
      float[] dy, float[] dx, AffineParameters affine, ParameterGradients grads) {
    int channels = checkData(options, shape, "x", x, "dy", dy);
    Checks.data("dx", dx, shape);
    if (options.activation() == Activation.RELU) {
      // The mask of ReLU's backward: dy passes where y > 0.
      Checks.data("y (the forward's output, the ReLU's mask)", y, shape);
    }
    checkAffine(affine, channels, shape);
    if (grads != null) {
      Checks.perChannel("grads.weightGrad", grads.weightGrad(), channels, shape);
      Checks.perChannel("grads.biasGrad", grads.biasGrad(), channels, shape);
    }
    return channels;
  }

  /**
   * A required holder of per-channel statistics; its first array's length stands for both (the
   * holder checked that they match).
   */
  private static void checkHolder(String name, Object holder, float[] first, int channels,
      Shape shape) {
    Checks.notNull(name, holder, shape);
    Checks.perChannel(name + ".mean", first, channels, shape);
  }

  private static void checkAffine(AffineParameters affine, int channels, Shape shape) {
    if (affine != null) {
      Checks.perChannel("affine.weight", affine.weight(), channels, shape);
      Checks.perChannel("affine.bias", affine.bias(), channels, shape);
    }
  }
}
