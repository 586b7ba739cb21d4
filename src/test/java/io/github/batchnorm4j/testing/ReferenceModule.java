package io.github.batchnorm4j.testing;

import java.util.Arrays;

/**
 * A float64 model of a BatchNorm module's state machine (items 1 to 15 of the semantics), built on
 * {@link ReferenceBatchNorm}: parameters, running statistics, the batch counter, train/eval, and
 * gradient accumulation.
 */
public final class ReferenceModule {
  public final int channels;
  public final double eps;
  public final Double momentum; // null = cumulative moving average
  public final boolean affine;
  public final boolean track;
  public double[] weight;
  public double[] bias;
  public double[] runningMean;
  public double[] runningVar;
  public long numBatchesTracked;
  public double[] weightGrad;
  public double[] biasGrad;
  public boolean training = true;

  private double[] lastX;
  private int n;
  private int s;
  private boolean lastUsedBatchStats;
  private double[] lastInvStd;

  public ReferenceModule(int channels, double eps, Double momentum, boolean affine, boolean track) {
    this.channels = channels;
    this.eps = eps;
    this.momentum = momentum;
    this.affine = affine;
    this.track = track;
    if (affine) {
      weight = new double[channels];
      Arrays.fill(weight, 1);
      bias = new double[channels];
      weightGrad = new double[channels];
      biasGrad = new double[channels];
    }
    if (track) {
      runningMean = new double[channels];
      runningVar = new double[channels];
      Arrays.fill(runningVar, 1);
    }
  }

  public double[] forward(double[] x, int n, int s) {
    this.lastX = x.clone();
    this.n = n;
    this.s = s;
    boolean batchStats = training || !track;
    lastUsedBatchStats = batchStats;
    if (batchStats) {
      ReferenceBatchNorm.Forward f =
          ReferenceBatchNorm.forwardTraining(x, n, channels, s, weight, bias, eps);
      lastInvStd = invStd(f.stats().biasedVar());
      if (training && track) {
        numBatchesTracked++;
        double factor = momentum == null ? 1.0 / numBatchesTracked : momentum;
        if ((long) n * s > 0) {
          ReferenceBatchNorm.updateRunning(f.stats(), runningMean, runningVar, factor);
        }
      }
      return f.y();
    }
    lastInvStd = invStd(runningVar);
    return ReferenceBatchNorm.normalize(
        x, n, channels, s, runningMean, runningVar, weight, bias, eps);
  }

  private double[] invStd(double[] var) {
    double[] inv = new double[channels];
    for (int c = 0; c < channels; c++) {
      inv[c] = 1 / Math.sqrt(var[c] + eps);
    }
    return inv;
  }

  /** The largest |gamma_c| / sqrt(var_c + eps) of the last forward: the scale of dx's terms. */
  public double maxScaleOfLastForward() {
    double max = 0;
    for (int c = 0; c < channels; c++) {
      max = Math.max(max, (affine ? Math.abs(weight[c]) : 1) * lastInvStd[c]);
    }
    return max;
  }

  public double[] backward(double[] dy) {
    ReferenceBatchNorm.Backward b = lastUsedBatchStats
        ? ReferenceBatchNorm.backwardTraining(lastX, dy, n, channels, s, weight, eps)
        : ReferenceBatchNorm.backwardInference(
            lastX, dy, n, channels, s, weight, runningMean, runningVar, eps);
    if (affine) {
      for (int c = 0; c < channels; c++) {
        weightGrad[c] += b.dWeight()[c];
        biasGrad[c] += b.dBias()[c];
      }
    }
    return b.dx();
  }
}
