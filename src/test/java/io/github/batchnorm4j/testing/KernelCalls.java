package io.github.batchnorm4j.testing;

import io.github.batchnorm4j.internal.BatchNormKernels;
import io.github.batchnorm4j.internal.BatchNormKernels.PassOrder;
import io.github.batchnorm4j.internal.KernelOps;

/**
 * The planner's entry points for channels-first data without activation and with PyTorch's
 * unbiased running variance, with the argument order the kernel tests were written in (data first,
 * then the shape). Pass orders as ints so that tests can loop over them.
 */
public final class KernelCalls {

  public static final int AUTO = 0;
  public static final int BLOCKED = 1;
  public static final int STREAMED = 2;

  private KernelCalls() {}

  public static PassOrder order(int mode) {
    return PassOrder.values()[mode];
  }

  public static void forwardTraining(KernelOps ops, float[] x, float[] y, int batch, int channels,
      int spatial, float[] weight, float[] bias, float[] runningMean, float[] runningVar,
      double factor, double eps, float[] saveMean, float[] saveInvStd, int threads) {
    forwardTraining(ops, x, y, batch, channels, spatial, weight, bias, runningMean, runningVar,
        factor, eps, saveMean, saveInvStd, threads, AUTO);
  }

  public static void forwardTraining(KernelOps ops, float[] x, float[] y, int batch, int channels,
      int spatial, float[] weight, float[] bias, float[] runningMean, float[] runningVar,
      double factor, double eps, float[] saveMean, float[] saveInvStd, int threads, int mode) {
    BatchNormKernels.forwardTraining(ops, batch, channels, spatial, false, x, y, weight, bias,
        runningMean, runningVar, factor, true, eps, false, saveMean, saveInvStd, threads,
        order(mode));
  }

  public static void forwardInference(KernelOps ops, float[] x, float[] y, int batch,
      int channels, int spatial, float[] weight, float[] bias, float[] mean, float[] var,
      double eps, int threads) {
    BatchNormKernels.forwardInference(ops, batch, channels, spatial, false, x, y, weight, bias,
        mean, var, eps, false, threads);
  }

  public static void backwardTraining(KernelOps ops, float[] x, float[] dy, float[] dx, int batch,
      int channels, int spatial, float[] weight, float[] saveMean, float[] saveInvStd,
      float[] weightGrad, float[] biasGrad, int threads) {
    backwardTraining(ops, x, dy, dx, batch, channels, spatial, weight, saveMean, saveInvStd,
        weightGrad, biasGrad, threads, AUTO);
  }

  public static void backwardTraining(KernelOps ops, float[] x, float[] dy, float[] dx, int batch,
      int channels, int spatial, float[] weight, float[] saveMean, float[] saveInvStd,
      float[] weightGrad, float[] biasGrad, int threads, int mode) {
    BatchNormKernels.backwardTraining(ops, batch, channels, spatial, false, x, null, dy, dx,
        weight, saveMean, saveInvStd, weightGrad, biasGrad, threads, order(mode));
  }

  public static void backwardInference(KernelOps ops, float[] x, float[] dy, float[] dx,
      int batch, int channels, int spatial, float[] weight, float[] mean, float[] var, double eps,
      float[] weightGrad, float[] biasGrad, int threads) {
    BatchNormKernels.backwardInference(ops, batch, channels, spatial, false, x, null, dy, dx,
        weight, mean, var, eps, weightGrad, biasGrad, threads);
  }
}
