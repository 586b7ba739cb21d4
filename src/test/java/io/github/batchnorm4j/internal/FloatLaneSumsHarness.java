package io.github.batchnorm4j.internal;

import java.lang.reflect.Method;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Times the Vector API kernels' sums of long runs, float lanes against the double lanes they
 * replace (the private {@code shiftedSumsDouble} and {@code backwardSumsDouble}, which still run
 * when a float-lane result is not finite), one call per run of one array, in values per ns; the
 * median of the last rounds. Not a test (surefire does not pick it up). docs/kernels.md quotes it.
 *
 * <pre>
 * ./mvnw -o -q test-compile
 * java --add-modules jdk.incubator.vector -cp target/classes:target/test-classes \
 *     io.github.batchnorm4j.internal.FloatLaneSumsHarness 65536 3136 784 196
 * </pre>
 *
 * The first argument is the array length (65,536 floats: 256 KB, in L2), the others run lengths.
 */
public final class FloatLaneSumsHarness {

  private FloatLaneSumsHarness() {}

  /**
   * Times every run length, see the class comment.
   *
   * @param args the array length, then run lengths
   * @throws ReflectiveOperationException if the double-lane methods are gone
   */
  public static void main(String[] args) throws ReflectiveOperationException {
    KernelOps ops = KernelOps.vector().orElseThrow();
    Class<?> kernels = ops.getClass();
    Method statistics = kernels.getDeclaredMethod("shiftedSumsDouble", float[].class, int.class,
        int.class, int.class, int.class, double.class, double[].class, int.class);
    Method backward = kernels.getDeclaredMethod("backwardSumsDouble", float[].class,
        float[].class, int.class, int.class, int.class, int.class, double.class, double[].class,
        int.class);
    statistics.setAccessible(true);
    backward.setAccessible(true);
    int n = Integer.parseInt(args[0]);
    float[] x = new float[n];
    float[] dy = new float[n];
    SplittableRandom random = new SplittableRandom(1);
    for (int i = 0; i < n; i++) {
      x[i] = (float) (random.nextGaussian() + 0.5);
      dy[i] = (float) random.nextGaussian();
    }
    double[] out = new double[3];
    int reps = Math.max(1, 50_000_000 / n);
    for (String arg : Arrays.copyOfRange(args, 1, args.length)) {
      int len = Integer.parseInt(arg);
      double[][] rates = new double[4][7];
      for (int round = -8; round < 7; round++) {
        long t0 = System.nanoTime();
        for (int k = 0; k < reps; k++) {
          for (int s = 0; s + len <= n; s += len) {
            ops.shiftedSums(x, s, len, 1, len, 0.5, out, 0);
          }
        }
        long t1 = System.nanoTime();
        for (int k = 0; k < reps; k++) {
          for (int s = 0; s + len <= n; s += len) {
            statistics.invoke(null, x, s, len, 1, len, 0.5, out, 0);
          }
        }
        long t2 = System.nanoTime();
        for (int k = 0; k < reps; k++) {
          for (int s = 0; s + len <= n; s += len) {
            ops.backwardSums(x, dy, null, s, len, 1, len, 0.5, out, 0);
          }
        }
        long t3 = System.nanoTime();
        for (int k = 0; k < reps; k++) {
          for (int s = 0; s + len <= n; s += len) {
            backward.invoke(null, x, dy, s, len, 1, len, 0.5, out, 0);
          }
        }
        long t4 = System.nanoTime();
        if (round >= 0) {
          double values = (double) reps * (n - n % len);
          rates[0][round] = values / (t1 - t0);
          rates[1][round] = values / (t2 - t1);
          rates[2][round] = values / (t3 - t2);
          rates[3][round] = values / (t4 - t3);
        }
      }
      for (double[] r : rates) {
        Arrays.sort(r);
      }
      System.out.printf(Locale.ROOT, "runs of %5d: statistics float lanes %5.2f, double %5.2f;"
          + " backward sums float lanes %5.2f, double %5.2f values/ns%n", len, rates[0][3],
          rates[1][3], rates[2][3], rates[3][3]);
    }
  }
}
