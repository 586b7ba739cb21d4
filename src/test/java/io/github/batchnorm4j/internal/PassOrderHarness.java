package io.github.batchnorm4j.internal;

import io.github.batchnorm4j.internal.BatchNormKernels.PassOrder;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Times the two orders of the training passes ({@link PassOrder#BLOCKED} and {@link
 * PassOrder#STREAMED}) call batch by call batch, alternating in one JVM, so that both meet the same
 * state of the machine: 20 rounds of warm-up, then the median of 41 rounds, each about 20 million
 * values of training forward, then of training backward, per order. What {@link PassOrder#AUTO}
 * rests on (docs/kernels.md, "Pass order"). Not a test (surefire does not pick it up).
 *
 * <pre>
 * ./mvnw -o -q test-compile
 * java [--add-modules jdk.incubator.vector -Dbatchnorm4j.warmup=false] \
 *     -cp target/classes:target/test-classes \
 *     io.github.batchnorm4j.internal.PassOrderHarness 1 vector 32x256x14x14 4x64x112x112
 * </pre>
 *
 * The arguments: the thread count, {@code vector} or {@code scalar}, then N x C x H x W shapes.
 */
public final class PassOrderHarness {

  private PassOrderHarness() {}

  /**
   * Times every shape, see the class comment.
   *
   * @param args the thread count, the kernels, then shapes such as {@code 32x256x14x14}
   */
  public static void main(String[] args) {
    int threads = Integer.parseInt(args[0]);
    KernelOps ops = args[1].equals("scalar") ? KernelOps.scalar() : KernelOps.vector().orElseThrow();
    for (String shape : Arrays.copyOfRange(args, 2, args.length)) {
      String[] p = shape.split("x");
      int n = Integer.parseInt(p[0]);
      int c = Integer.parseInt(p[1]);
      int s = Integer.parseInt(p[2]) * Integer.parseInt(p[3]);
      float[] x = new float[n * c * s];
      float[] dy = new float[x.length];
      float[] y = new float[x.length];
      float[] dx = new float[x.length];
      SplittableRandom random = new SplittableRandom(1);
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) (random.nextGaussian() + 0.5);
        dy[i] = (float) random.nextGaussian();
      }
      float[] weight = new float[c];
      float[] runningVar = new float[c];
      Arrays.fill(weight, 1.5f);
      Arrays.fill(runningVar, 1f);
      float[] bias = new float[c];
      float[] runningMean = new float[c];
      float[] saveMean = new float[c];
      float[] saveInvStd = new float[c];
      float[] weightGrad = new float[c];
      float[] biasGrad = new float[c];
      PassOrder[] orders = {PassOrder.BLOCKED, PassOrder.STREAMED};
      int rounds = 41;
      double[][] forward = new double[2][rounds];
      double[][] backward = new double[2][rounds];
      int calls = Math.max(1, 20_000_000 / x.length);
      for (int round = -20; round < rounds; round++) {
        for (int o = 0; o < 2; o++) {
          long t0 = System.nanoTime();
          for (int k = 0; k < calls; k++) {
            BatchNormKernels.forwardTraining(ops, n, c, s, false, x, y, weight, bias, runningMean,
                runningVar, 0.1, true, 1e-5, false, saveMean, saveInvStd, threads, orders[o]);
          }
          long t1 = System.nanoTime();
          for (int k = 0; k < calls; k++) {
            BatchNormKernels.backwardTraining(ops, n, c, s, false, x, null, dy, dx, weight,
                saveMean, saveInvStd, weightGrad, biasGrad, threads, orders[o]);
          }
          long t2 = System.nanoTime();
          if (round >= 0) {
            forward[o][round] = (t1 - t0) / 1e3 / calls;
            backward[o][round] = (t2 - t1) / 1e3 / calls;
          }
        }
      }
      for (int o = 0; o < 2; o++) {
        Arrays.sort(forward[o]);
        Arrays.sort(backward[o]);
      }
      System.out.printf(Locale.ROOT,
          "%-14s threads=%d %-30s forward blocked %7.1f streamed %7.1f | backward blocked %7.1f"
              + " streamed %7.1f us%n", shape, threads, ops.name(), forward[0][rounds / 2],
          forward[1][rounds / 2], backward[0][rounds / 2], backward[1][rounds / 2]);
    }
  }
}
