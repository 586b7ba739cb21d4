package io.github.batchnorm4j.testing;

import io.github.batchnorm4j.BatchNorm2d;
import io.github.batchnorm4j.KernelInfo;
import io.github.batchnorm4j.Shape;
import io.github.batchnorm4j.Tensor;
import io.github.batchnorm4j.internal.BatchNormKernels;
import io.github.batchnorm4j.internal.BatchNormKernels.PassOrder;
import io.github.batchnorm4j.internal.KernelOps;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Run by {@code KernelWarmUpTest} in fresh JVMs; prints {@code key=value} lines for the test to
 * check (an exception exits with status 1).
 *
 * <ul>
 *   <li>{@code calls}: three training forward + backward calls of a BatchNorm2d on (16, 16, 28,
 *       28), then prints the KernelInfo (for the log lines on stderr and the state).
 *   <li>{@code warm-up}: training steps until the vector kernels take over (at most 60 s), noting
 *       whether the first step ran while warming up, whether the thread {@code batchnorm4j-warmup}
 *       was alive then, and whether the first step's output has the scalar kernels' bits and the
 *       last one the vector kernels' bits; then whether the thread has ended.
 * </ul>
 */
public final class FreshJvmKernels {

  private static final int N = 16;
  private static final int C = 16;
  private static final int S = 28 * 28;

  private FreshJvmKernels() {}

  /**
   * Runs one scenario.
   *
   * @param args the scenario, {@code calls} or {@code warm-up}
   * @throws InterruptedException if interrupted
   */
  public static void main(String[] args) throws InterruptedException {
    float[] x = new float[N * C * S];
    SplittableRandom rnd = new SplittableRandom(3);
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) (rnd.nextGaussian() * 2 + 5);
    }
    switch (args[0]) {
      case "calls":
        for (int i = 0; i < 3; i++) {
          step(x);
        }
        print(KernelInfo.current());
        break;
      case "warm-up":
        warmUp(x);
        break;
      default:
        throw new IllegalArgumentException(args[0]);
    }
  }

  private static void print(KernelInfo k) {
    System.out.println("implementation=" + k.implementation());
    System.out.println("simdActive=" + k.simdActive());
    System.out.println("warmingUp=" + k.warmingUp());
    System.out.println("vectorBits=" + k.vectorBits());
    System.out.println("flagWouldHelp=" + k.flagWouldHelp());
    System.out.println("warmUp=" + k.warmUp().orElse("none"));
    System.out.println("info=" + k);
  }

  private static void warmUp(float[] x) throws InterruptedException {
    float[] first = step(x);
    // The hand-over happens once, so if the warm-up still runs, the whole first step ran on the
    // scalar kernels (a machine slow enough to finish the warm-up within it reports "skipped").
    KernelInfo k = KernelInfo.current();
    boolean warming = k.warmingUp();
    Thread thread = warmUpThread();
    System.out.println("firstStepWhileWarmingUp=" + warming);
    System.out.println("threadAliveWhileWarmingUp="
        + (warming ? String.valueOf(thread != null && thread.isAlive()) : "skipped"));
    System.out.println("firstStepScalarBits=" + (warming
        ? String.valueOf(Arrays.equals(first, direct(KernelOps.scalar(), x))) : "skipped"));
    long deadline = System.nanoTime() + 60_000_000_000L;
    while (KernelInfo.current().warmingUp() && System.nanoTime() < deadline) {
      step(x);
    }
    float[] last = step(x);
    k = KernelInfo.current();
    print(k);
    System.out.println("lastStepVectorBits="
        + Arrays.equals(last, direct(KernelOps.vector().orElseThrow(), x)));
    Thread t = warmUpThread();
    if (t != null) {
      t.join(10_000);
    }
    System.out.println("threadEnded=" + (t == null || !t.isAlive()));
  }

  private static Thread warmUpThread() {
    for (Thread t : Thread.getAllStackTraces().keySet()) {
      if (t.getName().equals("batchnorm4j-warmup") && t.isDaemon()) {
        return t;
      }
    }
    return null;
  }

  /** A module's training forward and backward from a fresh module; y then dx, concatenated. */
  private static float[] step(float[] x) {
    BatchNorm2d bn = new BatchNorm2d(C);
    Tensor in = Tensor.of(Shape.of(N, C, 28, 28), x);
    Tensor y = Tensor.zeros(in.shape());
    bn.forward(in, y);
    Tensor dx = Tensor.zeros(in.shape());
    bn.backward(in, dx); // x as the incoming gradient: any data will do
    float[] out = Arrays.copyOf(y.data(), 2 * x.length);
    System.arraycopy(dx.data(), 0, out, x.length, x.length);
    return out;
  }

  /** The same step on the given kernels, through the planner. */
  private static float[] direct(KernelOps ops, float[] x) {
    float[] y = new float[x.length];
    float[] dx = new float[x.length];
    float[] weight = new float[C];
    float[] bias = new float[C];
    Arrays.fill(weight, 1f);
    float[] runningMean = new float[C];
    float[] runningVar = new float[C];
    Arrays.fill(runningVar, 1f);
    float[] saveMean = new float[C];
    float[] saveInvStd = new float[C];
    BatchNormKernels.forwardTraining(ops, N, C, S, false, x, y, weight, bias, runningMean,
        runningVar, 0.1, true, 1e-5, false, saveMean, saveInvStd, 1, PassOrder.AUTO);
    BatchNormKernels.backwardTraining(ops, N, C, S, false, x, null, x, dx, weight, saveMean,
        saveInvStd, new float[C], new float[C], 1, PassOrder.AUTO);
    float[] out = Arrays.copyOf(y, 2 * x.length);
    System.arraycopy(dx, 0, out, x.length, x.length);
    return out;
  }
}
