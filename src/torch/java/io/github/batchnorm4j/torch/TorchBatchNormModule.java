package io.github.batchnorm4j.torch;

import java.util.Arrays;

/**
 * The state and forward logic of PyTorch's {@code torch.nn.BatchNorm1d/2d/3d} (the Python
 * {@code _BatchNorm.forward} of torch/nn/modules/batchnorm.py, transcribed), with the numerical work
 * done by libtorch through {@link TorchBatchNorm}. Test code only.
 *
 * <p>What {@code _BatchNorm.forward} does, and so this class:
 *
 * <pre>
 * f = 0.0 if momentum is None else momentum
 * if training and track_running_stats:
 *     num_batches_tracked += 1
 *     f = 1.0 / num_batches_tracked if momentum is None else momentum
 * bn_training = training or (running_mean is None and running_var is None)
 * F.batch_norm(x, running_mean if not training or track_running_stats else None, running_var ...,
 *              weight, bias, bn_training, f, eps)
 * </pre>
 *
 * Note that PyTorch increments {@code num_batches_tracked} before {@code F.batch_norm} checks for
 * more than one value per channel, so a rejected batch still counts there; this class behaves the
 * same way.
 *
 * <p>{@link #step} is forward plus, with dy, the backward into fresh gradients (as if {@code .grad}
 * were set to None before each step).
 */
public final class TorchBatchNormModule {

  /** What one {@link #step} produced; running statistics are the state after the step. */
  public record Step(
      float[] y,
      float[] dx,
      float[] weightGrad,
      float[] biasGrad,
      float[] runningMean,
      float[] runningVar,
      long numBatchesTracked) {}

  private final TorchBatchNorm torch;
  private final int numFeatures;
  private final double eps;
  private final Double momentum; // null: cumulative moving average
  private final boolean affine;
  private final boolean track;

  private final float[] weight;
  private final float[] bias;
  private float[] runningMean;
  private float[] runningVar;
  private long numBatchesTracked;
  private boolean training = true;

  /**
   * A module in training mode with PyTorch's initial state (weight 1, bias 0, running mean 0, var
   * 1, count 0).
   *
   * @param momentum the momentum, or null for the cumulative moving average (momentum=None)
   */
  public TorchBatchNormModule(
      TorchBatchNorm torch, int numFeatures, double eps, Double momentum, boolean affine, boolean track) {
    this.torch = torch;
    this.numFeatures = numFeatures;
    this.eps = eps;
    this.momentum = momentum;
    this.affine = affine;
    this.track = track;
    this.weight = affine ? filled(numFeatures, 1f) : null;
    this.bias = affine ? new float[numFeatures] : null;
    this.runningMean = track ? new float[numFeatures] : null;
    this.runningVar = track ? filled(numFeatures, 1f) : null;
  }

  public TorchBatchNormModule train() {
    training = true;
    return this;
  }

  public TorchBatchNormModule eval() {
    training = false;
    return this;
  }

  /** Live weight (gamma); null when not affine. */
  public float[] weight() {
    return weight;
  }

  /** Live bias (beta); null when not affine. */
  public float[] bias() {
    return bias;
  }

  /** Live running mean; null without running statistics. */
  public float[] runningMean() {
    return runningMean;
  }

  /** Live running variance; null without running statistics. */
  public float[] runningVar() {
    return runningVar;
  }

  public long numBatchesTracked() {
    return numBatchesTracked;
  }

  public void setNumBatchesTracked(long n) {
    numBatchesTracked = n;
  }

  /**
   * One forward (and backward if {@code dy != null}) of the module in its current mode.
   *
   * @param shape (N, C, *spatial)
   */
  public Step step(int[] shape, float[] x, float[] dy) {
    if (shape[1] != numFeatures) {
      throw new IllegalArgumentException(
          "input has " + shape[1] + " channels, module " + numFeatures + ": " + Arrays.toString(shape));
    }
    double f = momentum == null ? 0.0 : momentum;
    if (training && track) {
      numBatchesTracked += 1;
      f = momentum == null ? 1.0 / (double) numBatchesTracked : momentum;
    }
    boolean bnTraining = training || (runningMean == null && runningVar == null);
    boolean passStats = !training || track;
    TorchBatchNorm.Result r = torch.run(
        shape, x, dy, weight, bias,
        passStats ? runningMean : null, passStats ? runningVar : null,
        bnTraining, f, eps);
    if (passStats && r.runningMean() != null) {
      runningMean = r.runningMean();
      runningVar = r.runningVar();
    }
    return new Step(
        r.y(), r.dx(), r.weightGrad(), r.biasGrad(),
        runningMean == null ? null : runningMean.clone(),
        runningVar == null ? null : runningVar.clone(),
        numBatchesTracked);
  }

  private static float[] filled(int n, float v) {
    float[] a = new float[n];
    Arrays.fill(a, v);
    return a;
  }
}
