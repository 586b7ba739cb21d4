package io.github.batchnorm4j.bench;

import java.util.Arrays;

/**
 * Which plain loops HotSpot's C2 vectorizes on this JVM: the loops the scalar kernels are made of
 * and their alternatives, timed on 16 Ki floats (in L1: shows vectorization) and on 6.4 Mi floats
 * (in memory: what (32, 64, 56, 56) meets), one thread, no flag. Elements per ns, median of 7
 * timed batches after 30 warm-up calls. A guide for docs/kernels.md ("Plain loops and C2"), not a
 * JMH benchmark. Each loop runs in a JVM of its own (given its number as the argument), so that no
 * loop is compiled with another's profile; run it alone on a quiet machine,
 *
 * <pre>for k in 0 1 2 3 4 5 6; do
 *   java -cp benchmarks/target/benchmarks.jar io.github.batchnorm4j.bench.C2LoopProbe $k
 * done</pre>
 */
public final class C2LoopProbe {

  private C2LoopProbe() {}

  private static final float M = 0.3f;
  private static final float A = 1.7f;
  private static final float A_LO = 1e-8f;
  private static final float B = 0.2f;
  private static final float B_LO = 1e-9f;
  private static volatile double sink;

  interface Loop {
    double run(float[] x, float[] y);
  }

  static double copy(float[] x, float[] y) {
    for (int i = 0; i < x.length; i++) {
      y[i] = x[i];
    }
    return 0;
  }

  static double floatFma(float[] x, float[] y) {
    for (int i = 0; i < x.length; i++) {
      y[i] = Math.fma(x[i] - M, A, B);
    }
    return 0;
  }

  static double compensated(float[] x, float[] y) {
    for (int i = 0; i < x.length; i++) {
      float d = x[i] - M;
      float prod = d * A;
      float prodErr = Math.fma(d, A, -prod);
      float t = prod + B;
      float z = t - prod;
      float sumErr = (prod - (t - z)) + (B - z);
      y[i] = t + (sumErr + prodErr + Math.fma(d, A_LO, B_LO));
    }
    return 0;
  }

  static double doubleOnFloat(float[] x, float[] y) {
    double m = M;
    double a = A;
    double b = B;
    for (int i = 0; i < x.length; i++) {
      y[i] = (float) ((x[i] - m) * a + b);
    }
    return 0;
  }

  static double sumsTwo(float[] x, float[] y) {
    double s0 = 0;
    double s1 = 0;
    double q0 = 0;
    double q1 = 0;
    for (int i = 0; i + 2 <= x.length; i += 2) {
      double a = x[i] - 0.1;
      double b = x[i + 1] - 0.1;
      s0 += a;
      q0 += a * a;
      s1 += b;
      q1 += b * b;
    }
    return s0 + s1 + q0 + q1;
  }

  static double sumsFour(float[] x, float[] y) {
    double s0 = 0;
    double s1 = 0;
    double s2 = 0;
    double s3 = 0;
    double q0 = 0;
    double q1 = 0;
    double q2 = 0;
    double q3 = 0;
    for (int i = 0; i + 4 <= x.length; i += 4) {
      double a = x[i] - 0.1;
      double b = x[i + 1] - 0.1;
      double c = x[i + 2] - 0.1;
      double d = x[i + 3] - 0.1;
      s0 += a;
      s1 += b;
      s2 += c;
      s3 += d;
      q0 += a * a;
      q1 += b * b;
      q2 += c * c;
      q3 += d * d;
    }
    return (s0 + s1) + (s2 + s3) + (q0 + q1) + (q2 + q3);
  }

  /** Sums into double[] columns: C2 of JDK 25 vectorizes it, JDK 17's does not. */
  static double doubleColumns(float[] x, float[] y) {
    double[] s = COLUMNS[0];
    double[] q = COLUMNS[1];
    for (int i = 0; i + 64 <= x.length; i += 64) {
      for (int j = 0; j < 64; j++) {
        double d = x[i + j] - 0.1;
        s[j] += d;
        q[j] += d * d;
      }
    }
    return s[0] + q[0];
  }

  private static final double[][] COLUMNS = new double[2][64];

  static void time(String name, int n, Loop loop) {
    float[] x = new float[n];
    float[] y = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = (float) Math.sin(i);
    }
    int reps = Math.max(3, (int) (5e7 / n));
    for (int w = 0; w < 30; w++) {
      sink = loop.run(x, y);
    }
    long[] t = new long[7];
    for (int r = 0; r < t.length; r++) {
      long start = System.nanoTime();
      for (int q = 0; q < reps; q++) {
        sink = loop.run(x, y);
      }
      t[r] = System.nanoTime() - start;
    }
    Arrays.sort(t);
    double ns = (double) t[3] / reps;
    System.out.printf("%-34s %9d floats %7.2f elements/ns%n", name, n, n / ns);
  }

  public static void main(String[] args) {
    String[] names = {"copy", "float fma(x - m, a, b)", "float, compensated (old JDK 17 y)",
      "double on float data", "double sums, 2 accumulators", "double sums, 4 accumulators",
      "double sums into double[64] columns"};
    Loop[] loops = {C2LoopProbe::copy, C2LoopProbe::floatFma, C2LoopProbe::compensated,
      C2LoopProbe::doubleOnFloat, C2LoopProbe::sumsTwo, C2LoopProbe::sumsFour,
      C2LoopProbe::doubleColumns};
    int k = Integer.parseInt(args[0]);
    System.out.println("Java " + System.getProperty("java.version") + ", load " + loadAverage());
    for (int n : new int[] {1 << 14, 6_422_528}) {
      time(names[k], n, loops[k]);
    }
  }

  private static String loadAverage() {
    try {
      return new String(java.nio.file.Files.readAllBytes(java.nio.file.Path.of("/proc/loadavg")))
          .trim();
    } catch (java.io.IOException e) {
      return "unknown";
    }
  }
}
