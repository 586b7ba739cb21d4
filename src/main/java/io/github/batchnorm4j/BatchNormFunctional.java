package io.github.batchnorm4j;

import io.github.batchnorm4j.internal.BatchNormKernels;
import io.github.batchnorm4j.internal.KernelOps;

/**
 * Stateless batch-normalization kernels over raw {@code float[]} data, the layer beneath
 * {@link BatchNorm1d}, {@link BatchNorm2d} and {@link BatchNorm3d}, and the Java counterpart of
 * {@code torch.nn.functional.batch_norm} and its backward.
 *
 * <h2>Layout</h2>
 * Data is dense and row-major with shape (batch, channels, spatial), where {@code spatial} is the
 * product of the spatial sizes: 1 for (N, C), L for (N, C, L), H*W for (N, C, H, W), D*H*W for
 * (N, C, D, H, W). For channel c the statistics run over m = batch * spatial values.
 *
 * <h2>Formulas</h2>
 * <pre>
 * mean_c   = (1/m) sum x                     var_c = (1/m) sum (x - mean_c)^2   (biased)
 * invStd_c = 1 / sqrt(var_c + eps)
 * y        = (x - mean_c) * invStd_c * gamma_c + beta_c
 * </pre>
 * gamma is {@code weight}, beta is {@code bias}; a null weight means gamma = 1 and a null bias
 * beta = 0 (PyTorch's {@code affine=False}).
 *
 * <h2>Contract</h2>
 * <ul>
 *   <li>Outputs are caller-provided and nothing is allocated in steady state, on one thread or
 *       several (the worker threads are persistent and the per-call state is reused).
 *   <li>Outputs may alias their elementwise inputs ({@code y == x}, {@code dx == dy} or
 *       {@code dx == x}): each channel is read completely before it is written.
 *   <li>Every argument is checked before anything is written; on an {@link IllegalArgumentException}
 *       no output, running statistic or gradient has changed.
 *   <li>NaN or infinity in the data is not an error: it propagates into the outputs and statistics of
 *       its channel, as in PyTorch.
 *   <li>Each channel is reduced over a partition fixed by the shape alone, in a fixed order, so
 *       results are bitwise identical for every {@code threads} value.
 *   <li>The kernels use the Vector API when the JVM has {@code jdk.incubator.vector} (start it with
 *       {@code --add-modules jdk.incubator.vector}); {@code -Dbatchnorm4j.simd=false} forces the
 *       scalar kernels. Both keep the same accuracy contract.
 * </ul>
 */
public final class BatchNormFunctional {

  private BatchNormFunctional() {}

  /**
   * Training-mode forward on the caller's thread; see
   * {@link #forwardTraining(float[], float[], int, int, int, float[], float[], float[], float[], double, double, float[], float[], int)}.
   *
   * @param x the input, length batch * channels * spatial. Not modified (unless an output is x).
   * @param y the output (or, for a backward, the forward's output), same length
   * @param batch N, &gt;= 0
   * @param channels C, &gt;= 1
   * @param spatial the product of the spatial sizes, &gt;= 0
   * @param weight gamma, length C, or null for gamma = 1. Not modified.
   * @param bias beta, length C, or null for beta = 0. Not modified.
   * @param runningMean running mean, length C, or null (then runningVar must be null too). Modified.
   * @param runningVar running variance, length C, or null. Modified.
   * @param factor the update factor f in [0, 1]; ignored when there are no running statistics
   * @param eps added to the variance, finite and &gt; 0
   * @param saveMean the batch mean per channel, length C (written by the forward, read by the backward)
   * @param saveInvStd the batch invStd per channel, length C (written by the forward, read by the backward)
   */
  public static void forwardTraining(
      float[] x, float[] y, int batch, int channels, int spatial,
      float[] weight, float[] bias, float[] runningMean, float[] runningVar, double factor,
      double eps, float[] saveMean, float[] saveInvStd) {
    forwardTraining(x, y, batch, channels, spatial, weight, bias, runningMean, runningVar, factor,
        eps, saveMean, saveInvStd, 1);
  }

  /**
   * Training-mode forward: normalizes each channel with its batch statistics and, when running
   * statistics are given, updates them with the exponential-average factor {@code f}:
   * <pre>
   * runningMean_c = (1 - f) * runningMean_c + f * mean_c
   * runningVar_c  = (1 - f) * runningVar_c  + f * var_c * m / (m - 1)      (unbiased)
   * </pre>
   * PyTorch's {@code momentum} is {@code f}; its {@code momentum=None} (cumulative average) is
   * {@code f = 1 / numBatchesTracked} after the counter has been incremented.
   *
   * <p>An empty batch (m = 0) writes nothing and leaves the running statistics unchanged.
   *
   * @param x the input, length batch * channels * spatial. Not modified (unless y == x).
   * @param y the output, same length. Modified. May be the same array as x.
   * @param batch N, &gt;= 0
   * @param channels C, &gt;= 1
   * @param spatial the product of the spatial sizes, &gt;= 0
   * @param weight gamma, length C, or null for gamma = 1. Not modified.
   * @param bias beta, length C, or null for beta = 0. Not modified.
   * @param runningMean running mean, length C, or null (then runningVar must be null too).
   *     Modified.
   * @param runningVar running variance, length C, or null. Modified.
   * @param factor the update factor f in [0, 1]; ignored when there are no running statistics
   * @param eps added to the variance, finite and &gt; 0
   * @param saveMean receives mean_c (float-rounded), length C, for the backward. Modified.
   * @param saveInvStd receives invStd_c, length C, for the backward. Modified.
   * @param threads the most threads to use, &gt;= 1 (1 = the caller's thread only)
   * @throws IllegalArgumentException if an argument is null where not allowed, a length does not
   *     match, a value is out of range, or m == 1 (a single value per channel has no variance)
   */
  public static void forwardTraining(
      float[] x, float[] y, int batch, int channels, int spatial,
      float[] weight, float[] bias, float[] runningMean, float[] runningVar, double factor,
      double eps, float[] saveMean, float[] saveInvStd, int threads) {
    checkData("x", x, batch, channels, spatial);
    checkData("y", y, batch, channels, spatial);
    checkAffine(weight, bias, channels);
    checkRunning(runningMean, runningVar, channels);
    if (runningMean != null && !(factor >= 0 && factor <= 1)) {
      throw new IllegalArgumentException("factor must be in [0, 1] but is " + factor);
    }
    checkEps(eps);
    checkPerChannel("saveMean", saveMean, channels, false);
    checkPerChannel("saveInvStd", saveInvStd, channels, false);
    checkThreads(threads);
    checkMoreThanOneValue(batch, spatial, channels);
    BatchNormKernels.forwardTraining(KernelOps.forSize(x.length), x, y, batch, channels, spatial,
        weight, bias, runningMean, runningVar, factor, eps, saveMean, saveInvStd, threads);
  }

  /**
   * Inference forward on the caller's thread; see
   * {@link #forwardInference(float[], float[], int, int, int, float[], float[], float[], float[], double, int)}.
   *
   * @param x the input, length batch * channels * spatial. Not modified (unless an output is x).
   * @param y the output (or, for a backward, the forward's output), same length
   * @param batch N, &gt;= 0
   * @param channels C, &gt;= 1
   * @param spatial the product of the spatial sizes, &gt;= 0
   * @param weight gamma, length C, or null for gamma = 1. Not modified.
   * @param bias beta, length C, or null for beta = 0. Not modified.
   * @param mean the per-channel mean, length C. Not modified.
   * @param var the per-channel variance, length C. Not modified.
   * @param eps added to the variance, finite and &gt; 0
   */
  public static void forwardInference(
      float[] x, float[] y, int batch, int channels, int spatial,
      float[] weight, float[] bias, float[] mean, float[] var, double eps) {
    forwardInference(x, y, batch, channels, spatial, weight, bias, mean, var, eps, 1);
  }

  /**
   * Inference (eval-mode) forward with fixed statistics, usually the running ones:
   * {@code y = (x - mean_c) / sqrt(var_c + eps) * gamma_c + beta_c}. Nothing but {@code y} changes.
   *
   * @param x the input. Not modified (unless y == x).
   * @param y the output, same length. Modified. May be the same array as x.
   * @param mean the per-channel mean, length C. Not modified.
   * @param var the per-channel variance, length C. Not modified.
   * @param threads the most threads to use, &gt;= 1
   * @param batch N, &gt;= 0
   * @param channels C, &gt;= 1
   * @param spatial the product of the spatial sizes, &gt;= 0
   * @param weight gamma, length C, or null for gamma = 1. Not modified.
   * @param bias beta, length C, or null for beta = 0. Not modified.
   * @param eps added to the variance, finite and &gt; 0
   * @throws IllegalArgumentException as for training, except that any m is allowed
   */
  public static void forwardInference(
      float[] x, float[] y, int batch, int channels, int spatial,
      float[] weight, float[] bias, float[] mean, float[] var, double eps, int threads) {
    checkData("x", x, batch, channels, spatial);
    checkData("y", y, batch, channels, spatial);
    checkAffine(weight, bias, channels);
    checkPerChannel("mean", mean, channels, false);
    checkPerChannel("var", var, channels, false);
    checkEps(eps);
    checkThreads(threads);
    BatchNormKernels.forwardInference(KernelOps.forSize(x.length), x, y, batch, channels, spatial,
        weight, bias, mean, var, eps, threads);
  }

  /**
   * Training backward on the caller's thread; see
   * {@link #backwardTraining(float[], float[], float[], int, int, int, float[], float[], float[], float[], float[], int)}.
   *
   * @param x the input, length batch * channels * spatial. Not modified (unless an output is x).
   * @param dy the gradient with respect to y. Not modified (unless dx == dy).
   * @param dx receives the gradient with respect to x. Modified. May be x or dy.
   * @param batch N, &gt;= 0
   * @param channels C, &gt;= 1
   * @param spatial the product of the spatial sizes, &gt;= 0
   * @param weight gamma, length C, or null for gamma = 1. Not modified.
   * @param saveMean the batch mean per channel, length C (written by the forward, read by the backward)
   * @param saveInvStd the batch invStd per channel, length C (written by the forward, read by the backward)
   * @param weightGrad dgamma is added here, length C, or null to skip. Modified.
   * @param biasGrad dbeta is added here, length C, or null to skip. Modified.
   */
  public static void backwardTraining(
      float[] x, float[] dy, float[] dx, int batch, int channels, int spatial,
      float[] weight, float[] saveMean, float[] saveInvStd, float[] weightGrad, float[] biasGrad) {
    backwardTraining(x, dy, dx, batch, channels, spatial, weight, saveMean, saveInvStd, weightGrad,
        biasGrad, 1);
  }

  /**
   * Backward of the training-mode forward, where the batch statistics depend on x. With
   * xhat = (x - mean_c) * invStd_c over the same m values:
   * <pre>
   * dbeta_c  = sum dy                       (ADDED into biasGrad)
   * dgamma_c = sum dy * xhat                (ADDED into weightGrad)
   * dx       = gamma_c * invStd_c * (dy - dbeta_c / m - xhat * dgamma_c / m)
   * </pre>
   * Parameter gradients accumulate, as PyTorch's {@code .grad} does; zero them to start afresh.
   *
   * @param x the input of the forward. Not modified (unless dx == x).
   * @param dy the gradient of the loss with respect to y. Not modified (unless dx == dy).
   * @param dx receives the gradient with respect to x. Modified. May be the same array as x or dy.
   * @param weight gamma of the forward, or null for gamma = 1. Not modified.
   * @param saveMean the mean written by {@code forwardTraining} for this x. The kernel uses it as a
   *     pivot and recovers the exact batch mean from x, so its float rounding does not bias the
   *     gradient. Not modified.
   * @param saveInvStd the invStd written by {@code forwardTraining}. Not modified.
   * @param weightGrad dgamma is added here, length C, or null to skip. Modified.
   * @param biasGrad dbeta is added here, length C, or null to skip. Modified.
   * @param threads the most threads to use, &gt;= 1
   * @param batch N, &gt;= 0
   * @param channels C, &gt;= 1
   * @param spatial the product of the spatial sizes, &gt;= 0
   * @throws IllegalArgumentException if an argument is null where not allowed or a length does not
   *     match
   */
  public static void backwardTraining(
      float[] x, float[] dy, float[] dx, int batch, int channels, int spatial,
      float[] weight, float[] saveMean, float[] saveInvStd, float[] weightGrad, float[] biasGrad,
      int threads) {
    checkData("x", x, batch, channels, spatial);
    checkData("dy", dy, batch, channels, spatial);
    checkData("dx", dx, batch, channels, spatial);
    checkPerChannel("weight", weight, channels, true);
    checkPerChannel("saveMean", saveMean, channels, false);
    checkPerChannel("saveInvStd", saveInvStd, channels, false);
    checkPerChannel("weightGrad", weightGrad, channels, true);
    checkPerChannel("biasGrad", biasGrad, channels, true);
    checkThreads(threads);
    BatchNormKernels.backwardTraining(KernelOps.forSize(x.length), x, dy, dx, batch, channels,
        spatial, weight, saveMean, saveInvStd, weightGrad, biasGrad, threads);
  }

  /**
   * Inference backward on the caller's thread; see
   * {@link #backwardInference(float[], float[], float[], int, int, int, float[], float[], float[], double, float[], float[], int)}.
   *
   * @param x the input, length batch * channels * spatial. Not modified (unless an output is x).
   * @param dy the gradient with respect to y. Not modified (unless dx == dy).
   * @param dx receives the gradient with respect to x. Modified. May be x or dy.
   * @param batch N, &gt;= 0
   * @param channels C, &gt;= 1
   * @param spatial the product of the spatial sizes, &gt;= 0
   * @param weight gamma, length C, or null for gamma = 1. Not modified.
   * @param mean the per-channel mean, length C. Not modified.
   * @param var the per-channel variance, length C. Not modified.
   * @param eps added to the variance, finite and &gt; 0
   * @param weightGrad dgamma is added here, length C, or null to skip. Modified.
   * @param biasGrad dbeta is added here, length C, or null to skip. Modified.
   */
  public static void backwardInference(
      float[] x, float[] dy, float[] dx, int batch, int channels, int spatial,
      float[] weight, float[] mean, float[] var, double eps, float[] weightGrad, float[] biasGrad) {
    backwardInference(x, dy, dx, batch, channels, spatial, weight, mean, var, eps, weightGrad,
        biasGrad, 1);
  }

  /**
   * Backward of the inference forward, where the statistics are constants. With
   * invStd_c = 1 / sqrt(var_c + eps):
   * <pre>
   * dx       = dy * gamma_c * invStd_c
   * dgamma_c = sum dy * (x - mean_c) * invStd_c   (ADDED into weightGrad)
   * dbeta_c  = sum dy                             (ADDED into biasGrad)
   * </pre>
   *
   * @param x the input of the forward; only read for dgamma. Not modified (unless dx == x).
   * @param dy the gradient with respect to y. Not modified (unless dx == dy).
   * @param dx receives the gradient with respect to x. Modified. May be the same array as x or dy.
   * @param mean the statistics the forward used, length C. Not modified.
   * @param var the statistics the forward used, length C. Not modified.
   * @param weightGrad dgamma is added here, or null to skip. Modified.
   * @param biasGrad dbeta is added here, or null to skip. Modified.
   * @param threads the most threads to use, &gt;= 1
   * @param batch N, &gt;= 0
   * @param channels C, &gt;= 1
   * @param spatial the product of the spatial sizes, &gt;= 0
   * @param weight gamma, length C, or null for gamma = 1. Not modified.
   * @param eps added to the variance, finite and &gt; 0
   * @throws IllegalArgumentException if an argument is null where not allowed, a length does not
   *     match, or eps is not finite and &gt; 0
   */
  public static void backwardInference(
      float[] x, float[] dy, float[] dx, int batch, int channels, int spatial,
      float[] weight, float[] mean, float[] var, double eps, float[] weightGrad, float[] biasGrad,
      int threads) {
    checkData("x", x, batch, channels, spatial);
    checkData("dy", dy, batch, channels, spatial);
    checkData("dx", dx, batch, channels, spatial);
    checkPerChannel("weight", weight, channels, true);
    checkPerChannel("mean", mean, channels, false);
    checkPerChannel("var", var, channels, false);
    checkEps(eps);
    checkPerChannel("weightGrad", weightGrad, channels, true);
    checkPerChannel("biasGrad", biasGrad, channels, true);
    checkThreads(threads);
    BatchNormKernels.backwardInference(KernelOps.forSize(x.length), x, dy, dx, batch, channels,
        spatial, weight, mean, var, eps, weightGrad, biasGrad, threads);
  }

  // ---------------------------------------------------------------------------------------------
  // Layouts, fused activation and the running-variance convention (interop; see docs/interop.md).
  // The methods above are the channels-first, no-activation, unbiased case of these.

  /**
   * Training-mode forward for either {@link Layout}, with an optional fused {@link Activation} and
   * a choice of running-variance estimate. With z the normalized value of
   * {@link #forwardTraining(float[], float[], int, int, int, float[], float[], float[], float[], double, double, float[], float[], int)},
   * {@code y = z} for {@link Activation#NONE} and {@code y = max(0, z)} for {@link Activation#RELU};
   * the running variance is updated with {@code var_c * m / (m - 1)} (unbiased, PyTorch) or
   * {@code var_c} (biased, Keras and DL4J):
   * <pre>
   * runningVar_c = (1 - f) * runningVar_c + f * (unbiasedRunningVar ? var_c * m / (m - 1) : var_c)
   * </pre>
   * Channels-last data is (batch, spatial..., channels): {@code batch * spatial} rows of
   * {@code channels} values. The statistics, the accuracy and the aliasing rules are the same as for
   * channels-first: y may be x.
   *
   * @param layout where the channel dimension is; not null
   * @param activation the fused activation; not null
   * @param unbiasedRunningVar true for PyTorch's unbiased running variance, false for the biased one
   * @param x the input, length batch * channels * spatial. Not modified (unless an output is x).
   * @param y the output (or, for a backward, the forward's output), same length
   * @param batch N, &gt;= 0
   * @param channels C, &gt;= 1
   * @param spatial the product of the spatial sizes, &gt;= 0
   * @param weight gamma, length C, or null for gamma = 1. Not modified.
   * @param bias beta, length C, or null for beta = 0. Not modified.
   * @param runningMean running mean, length C, or null (then runningVar must be null too). Modified.
   * @param runningVar running variance, length C, or null. Modified.
   * @param factor the update factor f in [0, 1]; ignored when there are no running statistics
   * @param eps added to the variance, finite and &gt; 0
   * @param saveMean the batch mean per channel, length C (written by the forward, read by the backward)
   * @param saveInvStd the batch invStd per channel, length C (written by the forward, read by the backward)
   * @param threads the most threads to use, &gt;= 1 (1 = the caller's thread only)
   * @throws IllegalArgumentException as for the channels-first method, or if layout or activation
   *     is null; nothing has changed then
   */
  public static void forwardTraining(
      Layout layout, Activation activation, float[] x, float[] y, int batch, int channels,
      int spatial, float[] weight, float[] bias, float[] runningMean, float[] runningVar,
      double factor, boolean unbiasedRunningVar, double eps, float[] saveMean, float[] saveInvStd,
      int threads) {
    FunctionalVariants.forwardTraining(layout, activation, x, y, batch, channels, spatial, weight,
        bias, runningMean, runningVar, factor, unbiasedRunningVar, eps, saveMean, saveInvStd,
        threads);
  }

  /**
   * Inference forward for either {@link Layout}, with an optional fused {@link Activation}:
   * {@code y = act((x - mean_c) / sqrt(var_c + eps) * gamma_c + beta_c)}. Only y changes; y may be
   * x.
   *
   * @param layout where the channel dimension is; not null
   * @param activation the fused activation; not null
   * @param x the input, length batch * channels * spatial. Not modified (unless an output is x).
   * @param y the output (or, for a backward, the forward's output), same length
   * @param batch N, &gt;= 0
   * @param channels C, &gt;= 1
   * @param spatial the product of the spatial sizes, &gt;= 0
   * @param weight gamma, length C, or null for gamma = 1. Not modified.
   * @param bias beta, length C, or null for beta = 0. Not modified.
   * @param mean the per-channel mean, length C. Not modified.
   * @param var the per-channel variance, length C. Not modified.
   * @param eps added to the variance, finite and &gt; 0
   * @param threads the most threads to use, &gt;= 1 (1 = the caller's thread only)
   * @throws IllegalArgumentException as for the channels-first method, or if layout or activation
   *     is null
   */
  public static void forwardInference(
      Layout layout, Activation activation, float[] x, float[] y, int batch, int channels,
      int spatial, float[] weight, float[] bias, float[] mean, float[] var, double eps,
      int threads) {
    FunctionalVariants.forwardInference(layout, activation, x, y, batch, channels, spatial, weight,
        bias, mean, var, eps, threads);
  }

  /**
   * Backward of the training forward for either {@link Layout}, through an optional fused
   * {@link Activation}. With ReLU the gradient reaching the normalization is
   * {@code g = y <= 0 ? 0 : dy} (y the forward's output), and then, as without activation,
   * <pre>
   * dbeta_c = sum g     dgamma_c = sum g * xhat     (both ADDED into the gradient arrays)
   * dx = gamma_c * invStd_c * (g - dbeta_c / m - xhat * dgamma_c / m)
   * </pre>
   *
   * @param layout where the channel dimension is; not null
   * @param activation the activation the forward fused; not null
   * @param x the forward's input. Not modified (unless dx == x).
   * @param y the forward's output, read for the ReLU mask; required with {@link Activation#RELU},
   *     ignored (may be null) with {@link Activation#NONE}. Not modified (unless dx == y).
   * @param dx receives dL/dx. Modified. May be x, y or dy.
   * @param dy the gradient with respect to y. Not modified (unless dx == dy).
   * @param batch N, &gt;= 0
   * @param channels C, &gt;= 1
   * @param spatial the product of the spatial sizes, &gt;= 0
   * @param weight gamma, length C, or null for gamma = 1. Not modified.
   * @param saveMean the batch mean per channel, length C (written by the forward, read by the backward)
   * @param saveInvStd the batch invStd per channel, length C (written by the forward, read by the backward)
   * @param weightGrad dgamma is added here, length C, or null to skip. Modified.
   * @param biasGrad dbeta is added here, length C, or null to skip. Modified.
   * @param threads the most threads to use, &gt;= 1 (1 = the caller's thread only)
   * @throws IllegalArgumentException as for the channels-first method, if layout or activation is
   *     null, or if y is needed and null or of the wrong length
   */
  public static void backwardTraining(
      Layout layout, Activation activation, float[] x, float[] y, float[] dy, float[] dx,
      int batch, int channels, int spatial, float[] weight, float[] saveMean, float[] saveInvStd,
      float[] weightGrad, float[] biasGrad, int threads) {
    FunctionalVariants.backwardTraining(layout, activation, x, y, dy, dx, batch, channels, spatial,
        weight, saveMean, saveInvStd, weightGrad, biasGrad, threads);
  }

  /**
   * Backward of the inference forward for either {@link Layout}, through an optional fused
   * {@link Activation}: with {@code g = y <= 0 ? 0 : dy} for ReLU (else g = dy),
   * {@code dx = g * gamma_c / sqrt(var_c + eps)}, and sum g and sum g * (x - mean_c) / sqrt(var_c + eps)
   * ADDED into biasGrad and weightGrad.
   *
   * @param y the forward's output; required with {@link Activation#RELU}, else may be null
   * @param dx receives dL/dx. Modified. May be x, y or dy.
   * @param layout where the channel dimension is; not null
   * @param activation the fused activation; not null
   * @param x the input, length batch * channels * spatial. Not modified (unless an output is x).
   * @param dy the gradient with respect to y. Not modified (unless dx == dy).
   * @param batch N, &gt;= 0
   * @param channels C, &gt;= 1
   * @param spatial the product of the spatial sizes, &gt;= 0
   * @param weight gamma, length C, or null for gamma = 1. Not modified.
   * @param mean the per-channel mean, length C. Not modified.
   * @param var the per-channel variance, length C. Not modified.
   * @param eps added to the variance, finite and &gt; 0
   * @param weightGrad dgamma is added here, length C, or null to skip. Modified.
   * @param biasGrad dbeta is added here, length C, or null to skip. Modified.
   * @param threads the most threads to use, &gt;= 1 (1 = the caller's thread only)
   * @throws IllegalArgumentException as for the channels-first method, if layout or activation is
   *     null, or if y is needed and null or of the wrong length
   */
  public static void backwardInference(
      Layout layout, Activation activation, float[] x, float[] y, float[] dy, float[] dx,
      int batch, int channels, int spatial, float[] weight, float[] mean, float[] var, double eps,
      float[] weightGrad, float[] biasGrad, int threads) {
    FunctionalVariants.backwardInference(layout, activation, x, y, dy, dx, batch, channels,
        spatial, weight, mean, var, eps, weightGrad, biasGrad, threads);
  }

  // ---------------------------------------------------------------------------------------------
  // Argument checks, shared with the modules.

  static int checkData(String name, float[] data, int batch, int channels, int spatial) {
    if (batch < 0 || channels < 1 || spatial < 0) {
      throw new IllegalArgumentException(
          "need batch >= 0, channels >= 1 and spatial >= 0 but got batch " + batch + ", channels "
              + channels + ", spatial " + spatial);
    }
    if (data == null) {
      throw new IllegalArgumentException(name + " must not be null");
    }
    long expected = (long) batch * channels * spatial;
    if (data.length != expected) {
      throw new IllegalArgumentException(
          name + " has length " + data.length + " but batch * channels * spatial = " + batch
              + " * " + channels + " * " + spatial + " = " + expected);
    }
    return data.length;
  }

  static void checkPerChannel(String name, float[] values, int channels, boolean nullable) {
    if (values == null) {
      if (!nullable) {
        throw new IllegalArgumentException(name + " must not be null");
      }
      return;
    }
    if (values.length != channels) {
      throw new IllegalArgumentException(
          name + " has length " + values.length + " but there are " + channels + " channels");
    }
  }

  private static void checkAffine(float[] weight, float[] bias, int channels) {
    checkPerChannel("weight", weight, channels, true);
    checkPerChannel("bias", bias, channels, true);
  }

  private static void checkRunning(float[] runningMean, float[] runningVar, int channels) {
    if ((runningMean == null) != (runningVar == null)) {
      throw new IllegalArgumentException(
          "runningMean and runningVar must both be given or both be null, but runningMean is "
              + (runningMean == null ? "null" : "given") + " and runningVar is "
              + (runningVar == null ? "null" : "given"));
    }
    checkPerChannel("runningMean", runningMean, channels, true);
    checkPerChannel("runningVar", runningVar, channels, true);
  }

  static void checkEps(double eps) {
    if (!(eps > 0) || Double.isInfinite(eps)) {
      throw new IllegalArgumentException("eps must be finite and > 0 but is " + eps);
    }
  }

  static void checkThreads(int threads) {
    if (threads < 1) {
      throw new IllegalArgumentException("threads must be >= 1 but is " + threads);
    }
  }

  private static void checkMoreThanOneValue(int batch, int spatial, int channels) {
    if ((long) batch * spatial == 1) {
      throw new IllegalArgumentException(
          "expected more than 1 value per channel when training, got batch " + batch + " * spatial "
              + spatial + " = 1 value for each of the " + channels + " channels");
    }
  }
}
