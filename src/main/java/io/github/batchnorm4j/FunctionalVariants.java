package io.github.batchnorm4j;

import static io.github.batchnorm4j.BatchNormFunctional.checkData;
import static io.github.batchnorm4j.BatchNormFunctional.checkEps;
import static io.github.batchnorm4j.BatchNormFunctional.checkPerChannel;
import static io.github.batchnorm4j.BatchNormFunctional.checkThreads;

import io.github.batchnorm4j.internal.ChannelParallel;
import io.github.batchnorm4j.internal.ChannelsFirstKernels;
import io.github.batchnorm4j.internal.ChannelsLastKernels;

/**
 * The checks and dispatch behind the {@link Layout} and {@link Activation} overloads of
 * {@link BatchNormFunctional}. The default variant (channels-first, no activation, unbiased running
 * variance) goes to the default kernels through {@link BatchNormFunctional}'s original methods;
 * every other variant to {@link ChannelsFirstKernels} or {@link ChannelsLastKernels}, split by
 * channel ranges over threads (each channel is computed by one thread in a fixed order, so results
 * do not depend on the thread count).
 */
final class FunctionalVariants {

  private FunctionalVariants() {}

  /** The work for channels [c0, c1). */
  private interface Range {
    void run(int c0, int c1);
  }

  static void forwardTraining(
      Layout layout, Activation activation, float[] x, float[] y, int batch, int channels,
      int spatial, float[] weight, float[] bias, float[] runningMean, float[] runningVar,
      double factor, boolean unbiasedRunningVar, double eps, float[] saveMean, float[] saveInvStd,
      int threads) {
    checkVariant(layout, activation);
    if (layout == Layout.CHANNELS_FIRST && activation == Activation.NONE && unbiasedRunningVar) {
      BatchNormFunctional.forwardTraining(x, y, batch, channels, spatial, weight, bias,
          runningMean, runningVar, factor, eps, saveMean, saveInvStd, threads);
      return;
    }
    int numel = checkData("x", x, batch, channels, spatial);
    checkData("y", y, batch, channels, spatial);
    checkPerChannel("weight", weight, channels, true);
    checkPerChannel("bias", bias, channels, true);
    if ((runningMean == null) != (runningVar == null)) {
      throw new IllegalArgumentException(
          "runningMean and runningVar must both be given or both be null, but runningMean is "
              + (runningMean == null ? "null" : "given") + " and runningVar is "
              + (runningVar == null ? "null" : "given"));
    }
    checkPerChannel("runningMean", runningMean, channels, true);
    checkPerChannel("runningVar", runningVar, channels, true);
    if (runningMean != null && !(factor >= 0 && factor <= 1)) {
      throw new IllegalArgumentException("factor must be in [0, 1] but is " + factor);
    }
    checkEps(eps);
    checkPerChannel("saveMean", saveMean, channels, false);
    checkPerChannel("saveInvStd", saveInvStd, channels, false);
    checkThreads(threads);
    if ((long) batch * spatial == 1) {
      throw new IllegalArgumentException(
          "expected more than 1 value per channel when training, got batch " + batch + " * spatial "
              + spatial + " = 1 value for each of the " + channels + " channels");
    }
    boolean relu = activation == Activation.RELU;
    if (layout == Layout.CHANNELS_FIRST) {
      if (ChannelParallel.effectiveThreads(threads, numel, channels) <= 1) {
        ChannelsFirstKernels.forwardTraining(x, y, batch,
          channels, spatial, 0, channels, weight, bias, runningMean, runningVar, factor,
          unbiasedRunningVar, eps, saveMean, saveInvStd, relu); // no task object on one thread
      } else {
        split(threads, channels, numel, (c0, c1) -> ChannelsFirstKernels.forwardTraining(x, y, batch,
          channels, spatial, c0, c1, weight, bias, runningMean, runningVar, factor,
          unbiasedRunningVar, eps, saveMean, saveInvStd, relu));
      }
    } else {
      double[] scratch = ChannelsLastKernels.scratch(channels);
      int rows = batch * spatial;
      if (ChannelParallel.effectiveThreads(threads, numel, channels) <= 1) {
        ChannelsLastKernels.forwardTraining(x, y, rows,
          channels, 0, channels, weight, bias, runningMean, runningVar, factor, unbiasedRunningVar, eps,
          saveMean, saveInvStd, relu, scratch); // no task object on one thread
      } else {
        split(threads, channels, numel, (c0, c1) -> ChannelsLastKernels.forwardTraining(x, y, rows,
          channels, c0, c1, weight, bias, runningMean, runningVar, factor, unbiasedRunningVar, eps,
          saveMean, saveInvStd, relu, scratch));
      }
    }
  }

  static void forwardInference(
      Layout layout, Activation activation, float[] x, float[] y, int batch, int channels,
      int spatial, float[] weight, float[] bias, float[] mean, float[] var, double eps,
      int threads) {
    checkVariant(layout, activation);
    if (layout == Layout.CHANNELS_FIRST && activation == Activation.NONE) {
      BatchNormFunctional.forwardInference(x, y, batch, channels, spatial, weight, bias, mean, var,
          eps, threads);
      return;
    }
    int numel = checkData("x", x, batch, channels, spatial);
    checkData("y", y, batch, channels, spatial);
    checkPerChannel("weight", weight, channels, true);
    checkPerChannel("bias", bias, channels, true);
    checkPerChannel("mean", mean, channels, false);
    checkPerChannel("var", var, channels, false);
    checkEps(eps);
    checkThreads(threads);
    boolean relu = activation == Activation.RELU;
    if (layout == Layout.CHANNELS_FIRST) {
      if (ChannelParallel.effectiveThreads(threads, numel, channels) <= 1) {
        ChannelsFirstKernels.forwardInference(x, y,
          batch, channels, spatial, 0, channels, weight, bias, mean, var, eps, relu); // no task object on one thread
      } else {
        split(threads, channels, numel, (c0, c1) -> ChannelsFirstKernels.forwardInference(x, y,
          batch, channels, spatial, c0, c1, weight, bias, mean, var, eps, relu));
      }
    } else {
      double[] scratch = ChannelsLastKernels.scratch(channels);
      int rows = batch * spatial;
      if (ChannelParallel.effectiveThreads(threads, numel, channels) <= 1) {
        ChannelsLastKernels.forwardInference(x, y, rows,
          channels, 0, channels, weight, bias, mean, var, eps, relu, scratch); // no task object on one thread
      } else {
        split(threads, channels, numel, (c0, c1) -> ChannelsLastKernels.forwardInference(x, y, rows,
          channels, c0, c1, weight, bias, mean, var, eps, relu, scratch));
      }
    }
  }

  static void backwardTraining(
      Layout layout, Activation activation, float[] x, float[] y, float[] dy, float[] dx,
      int batch, int channels, int spatial, float[] weight, float[] saveMean, float[] saveInvStd,
      float[] weightGrad, float[] biasGrad, int threads) {
    checkVariant(layout, activation);
    if (layout == Layout.CHANNELS_FIRST && activation == Activation.NONE) {
      BatchNormFunctional.backwardTraining(x, dy, dx, batch, channels, spatial, weight, saveMean,
          saveInvStd, weightGrad, biasGrad, threads);
      return;
    }
    int numel = checkData("x", x, batch, channels, spatial);
    float[] reluOutput = checkReluOutput(activation, y, batch, channels, spatial);
    checkData("dy", dy, batch, channels, spatial);
    checkData("dx", dx, batch, channels, spatial);
    checkPerChannel("weight", weight, channels, true);
    checkPerChannel("saveMean", saveMean, channels, false);
    checkPerChannel("saveInvStd", saveInvStd, channels, false);
    checkPerChannel("weightGrad", weightGrad, channels, true);
    checkPerChannel("biasGrad", biasGrad, channels, true);
    checkThreads(threads);
    if (layout == Layout.CHANNELS_FIRST) {
      if (ChannelParallel.effectiveThreads(threads, numel, channels) <= 1) {
        ChannelsFirstKernels.backwardTraining(x,
          reluOutput, dy, dx, batch, channels, spatial, 0, channels, weight, saveMean, saveInvStd,
          weightGrad, biasGrad); // no task object on one thread
      } else {
        split(threads, channels, numel, (c0, c1) -> ChannelsFirstKernels.backwardTraining(x,
          reluOutput, dy, dx, batch, channels, spatial, c0, c1, weight, saveMean, saveInvStd,
          weightGrad, biasGrad));
      }
    } else {
      double[] scratch = ChannelsLastKernels.scratch(channels);
      int rows = batch * spatial;
      if (ChannelParallel.effectiveThreads(threads, numel, channels) <= 1) {
        ChannelsLastKernels.backwardTraining(x,
          reluOutput, dy, dx, rows, channels, 0, channels, weight, saveMean, saveInvStd, weightGrad,
          biasGrad, scratch); // no task object on one thread
      } else {
        split(threads, channels, numel, (c0, c1) -> ChannelsLastKernels.backwardTraining(x,
          reluOutput, dy, dx, rows, channels, c0, c1, weight, saveMean, saveInvStd, weightGrad,
          biasGrad, scratch));
      }
    }
  }

  static void backwardInference(
      Layout layout, Activation activation, float[] x, float[] y, float[] dy, float[] dx,
      int batch, int channels, int spatial, float[] weight, float[] mean, float[] var, double eps,
      float[] weightGrad, float[] biasGrad, int threads) {
    checkVariant(layout, activation);
    if (layout == Layout.CHANNELS_FIRST && activation == Activation.NONE) {
      BatchNormFunctional.backwardInference(x, dy, dx, batch, channels, spatial, weight, mean, var,
          eps, weightGrad, biasGrad, threads);
      return;
    }
    int numel = checkData("x", x, batch, channels, spatial);
    float[] reluOutput = checkReluOutput(activation, y, batch, channels, spatial);
    checkData("dy", dy, batch, channels, spatial);
    checkData("dx", dx, batch, channels, spatial);
    checkPerChannel("weight", weight, channels, true);
    checkPerChannel("mean", mean, channels, false);
    checkPerChannel("var", var, channels, false);
    checkEps(eps);
    checkPerChannel("weightGrad", weightGrad, channels, true);
    checkPerChannel("biasGrad", biasGrad, channels, true);
    checkThreads(threads);
    if (layout == Layout.CHANNELS_FIRST) {
      if (ChannelParallel.effectiveThreads(threads, numel, channels) <= 1) {
        ChannelsFirstKernels.backwardInference(x,
          reluOutput, dy, dx, batch, channels, spatial, 0, channels, weight, mean, var, eps, weightGrad,
          biasGrad); // no task object on one thread
      } else {
        split(threads, channels, numel, (c0, c1) -> ChannelsFirstKernels.backwardInference(x,
          reluOutput, dy, dx, batch, channels, spatial, c0, c1, weight, mean, var, eps, weightGrad,
          biasGrad));
      }
    } else {
      double[] scratch = ChannelsLastKernels.scratch(channels);
      int rows = batch * spatial;
      if (ChannelParallel.effectiveThreads(threads, numel, channels) <= 1) {
        ChannelsLastKernels.backwardInference(x,
          reluOutput, dy, dx, rows, channels, 0, channels, weight, mean, var, eps, weightGrad, biasGrad,
          scratch); // no task object on one thread
      } else {
        split(threads, channels, numel, (c0, c1) -> ChannelsLastKernels.backwardInference(x,
          reluOutput, dy, dx, rows, channels, c0, c1, weight, mean, var, eps, weightGrad, biasGrad,
          scratch));
      }
    }
  }

  /**
   * Runs the range task split into channel blocks on up to {@code threads} threads (callers run
   * single-threaded work directly, so that it allocates no task object).
   */
  private static void split(int threads, int channels, int numel, Range task) {
    int t = ChannelParallel.effectiveThreads(threads, numel, channels);
    if (t <= 1) {
      task.run(0, channels);
      return;
    }
    int parts = Math.min(channels, 4 * t); // a few blocks per thread absorb uneven progress
    ChannelParallel.run(
        item -> task.run((int) ((long) item * channels / parts),
            (int) ((long) (item + 1) * channels / parts)),
        parts, t);
  }

  // ---------------------------------------------------------------------------------------------
  // Checks (the same rules and messages as BatchNormFunctional's)

  private static void checkVariant(Layout layout, Activation activation) {
    if (layout == null) {
      throw new IllegalArgumentException("layout must not be null");
    }
    if (activation == null) {
      throw new IllegalArgumentException("activation must not be null");
    }
  }

  private static float[] checkReluOutput(
      Activation activation, float[] y, int batch, int channels, int spatial) {
    if (activation != Activation.RELU) {
      return null;
    }
    if (y == null) {
      throw new IllegalArgumentException(
          "y (the forward's output) must not be null with Activation.RELU: the backward masks dy"
              + " where y <= 0");
    }
    checkData("y", y, batch, channels, spatial);
    return y;
  }
}
