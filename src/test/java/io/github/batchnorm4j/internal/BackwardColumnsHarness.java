package io.github.batchnorm4j.internal;

import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Times the scalar kernels' training-backward sums ({@link ScalarKernels#backwardSums}, on JDK 25
 * the three double columns, two 64-value blocks per update) against three rewrites that were
 * measured and dropped (docs/kernels.md, *Plain loops and C2*): float columns emptied into double
 * every {@link KernelOps#FLOAT_BLOCK} terms; two blocks per column update written {@code column[j]
 * += a + b} (the kernel's pairing in a form C2 does not vectorize, and with other bits); and two
 * columns (without {@code sum (x - P)}).
 * One thread, the sums pass of an NCHW tensor channel by channel as the kernels run it; µs per
 * pass (median of the last 200 passes) and values per ns. Not a test (surefire does not pick it
 * up).
 *
 * <pre>
 * ./mvnw -o -q test-compile
 * java -cp target/classes:target/test-classes \
 *     io.github.batchnorm4j.internal.BackwardColumnsHarness 128x32x64 32x64x3136 2x4x3136
 * </pre>
 *
 * Each argument is N x C x (H W). The two-column candidate leaves {@code out[o + 2]} at 0, so its
 * difference from the kernel's result is not printed.
 */
public final class BackwardColumnsHarness {

  private static final int COLUMNS = ScalarKernels.COLUMNS;
  private static final double[][] DOUBLE_COLUMNS = new double[3][COLUMNS];
  private static final float[][] FLOAT_COLUMNS = new float[2][COLUMNS];

  private BackwardColumnsHarness() {}

  /** A candidate for {@link KernelOps#backwardSums} without the ReLU mask. */
  private interface Sums {
    void run(float[] x, float[] dy, int base, int stride, int planes, int len, double pivot,
        double[] out, int o);
  }

  /**
   * Times every shape, see the class comment.
   *
   * @param args shapes such as {@code 128x32x64}
   */
  public static void main(String[] args) {
    String[] names = {"kernel", "float columns", "two blocks +=", "two columns"};
    Sums[] candidates = {
        (x, dy, b, s, p, l, piv, out, o) ->
            ScalarKernels.INSTANCE.backwardSums(x, dy, null, b, s, p, l, piv, out, o),
        BackwardColumnsHarness::floatColumns,
        BackwardColumnsHarness::twoBlocks,
        BackwardColumnsHarness::twoColumns};
    System.out.println("Java " + Runtime.version().feature() + ", wide path "
        + ScalarKernels.WIDE);
    for (String arg : args) {
      String[] dims = arg.split("x");
      int n = Integer.parseInt(dims[0]);
      int c = Integer.parseInt(dims[1]);
      int len = Integer.parseInt(dims[2]);
      float[] x = new float[n * c * len];
      float[] dy = new float[x.length];
      SplittableRandom random = new SplittableRandom(1);
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) (random.nextGaussian() + 0.5);
        dy[i] = (float) random.nextGaussian();
      }
      double[] reference = new double[3 * c];
      double[] out = new double[3 * c];
      for (int k = 0; k < candidates.length; k++) {
        double[] target = k == 0 ? reference : out;
        long[] times = new long[200];
        for (int pass = 0; pass < 3000; pass++) {
          long t0 = System.nanoTime();
          for (int ch = 0; ch < c; ch++) {
            candidates[k].run(x, dy, ch * len, c * len, n, len, 0.5, target, 3 * ch);
          }
          times[pass % times.length] = System.nanoTime() - t0;
        }
        Arrays.sort(times);
        double median = times[times.length / 2];
        boolean comparable = k == 1 || k == 2; // not the kernel itself, nor the two-column sums
        double difference = 0;
        for (int i = 0; comparable && i < out.length; i++) {
          difference = Math.max(difference, Math.abs(out[i] - reference[i]));
        }
        System.out.printf(Locale.ROOT, "%s %-13s %9.1f us %5.2f values/ns  max |diff| %.2e%n",
            arg, names[k], median / 1e3, x.length / median, difference);
      }
    }
  }

  /** Float columns for {@code sum g c} and {@code sum c}, emptied into double ones. */
  private static void floatColumns(float[] x, float[] dy, int base, int stride, int planes,
      int len, double pivot, double[] out, int o) {
    final float p = (float) pivot;
    final float[] gradCentered = FLOAT_COLUMNS[0];
    final float[] centered = FLOAT_COLUMNS[1];
    final double[][] wide = zeroed();
    final int blocks = len - len % COLUMNS;
    final int blocksPerPlane = (len + COLUMNS - 1) / COLUMNS;
    int terms = 0;
    for (int q = 0, start = base; q < planes; q++, start += stride) {
      if (terms + blocksPerPlane > KernelOps.FLOAT_BLOCK) {
        empty(gradCentered, wide[1]);
        empty(centered, wide[2]);
        terms = 0;
      }
      terms += blocksPerPlane;
      for (int i = start, end = start + blocks; i < end; i += COLUMNS) {
        for (int j = 0; j < COLUMNS; j++) {
          float c = x[i + j] - p;
          float g = dy[i + j];
          wide[0][j] += g;
          gradCentered[j] = Math.fma(g, c, gradCentered[j]);
          centered[j] += c;
        }
      }
      final int tail = start + blocks;
      for (int j = 0; j < len - blocks; j++) {
        float c = x[tail + j] - p;
        float g = dy[tail + j];
        wide[0][j] += g;
        gradCentered[j] = Math.fma(g, c, gradCentered[j]);
        centered[j] += c;
      }
    }
    empty(gradCentered, wide[1]);
    empty(centered, wide[2]);
    KernelOps.writeBackwardSums(out, o, total(wide[0]), total(wide[1]), total(wide[2]), p, pivot,
        planes, len);
  }

  /**
   * Two 64-value blocks per column update: consecutive blocks of a plane, or for planes of one
   * block the same block of two consecutive planes.
   */
  private static void twoBlocks(float[] x, float[] dy, int base, int stride, int planes, int len,
      double pivot, double[] out, int o) {
    final double[][] columns = zeroed();
    final int blocks = len - len % COLUMNS;
    int q = 0;
    int start = base;
    if (len == COLUMNS) {
      for (; q + 1 < planes; q += 2, start += 2 * stride) {
        addPair(x, dy, start, start + stride, pivot, columns);
      }
    }
    for (; q < planes; q++, start += stride) {
      int i = start;
      for (; i + COLUMNS < start + blocks; i += 2 * COLUMNS) {
        addPair(x, dy, i, i + COLUMNS, pivot, columns);
      }
      for (; i < start + blocks; i += COLUMNS) {
        for (int j = 0; j < COLUMNS; j++) {
          double c = x[i + j] - pivot;
          double g = dy[i + j];
          columns[0][j] += g;
          columns[1][j] += g * c;
          columns[2][j] += c;
        }
      }
      for (int j = 0; i < start + len; i++, j++) {
        double c = x[i] - pivot;
        double g = dy[i];
        columns[0][j] += g;
        columns[1][j] += g * c;
        columns[2][j] += c;
      }
    }
    out[o] = total(columns[0]);
    out[o + 1] = total(columns[1]);
    out[o + 2] = total(columns[2]);
  }

  private static void addPair(float[] x, float[] dy, int a, int b, double pivot,
      double[][] columns) {
    for (int j = 0; j < COLUMNS; j++) {
      double c = x[a + j] - pivot;
      double d = x[b + j] - pivot;
      double g = dy[a + j];
      double h = dy[b + j];
      columns[0][j] += g + h;
      columns[1][j] += g * c + h * d;
      columns[2][j] += c + d;
    }
  }

  /** {@code sum g} and {@code sum g c} only. */
  private static void twoColumns(float[] x, float[] dy, int base, int stride, int planes,
      int len, double pivot, double[] out, int o) {
    final double[][] columns = zeroed();
    final double[] grad = columns[0];
    final double[] gradCentered = columns[1];
    final int blocks = len - len % COLUMNS;
    for (int q = 0, start = base; q < planes; q++, start += stride) {
      for (int i = start, end = start + blocks; i < end; i += COLUMNS) {
        for (int j = 0; j < COLUMNS; j++) {
          double c = x[i + j] - pivot;
          double g = dy[i + j];
          grad[j] += g;
          gradCentered[j] += g * c;
        }
      }
      for (int i = start + blocks, j = 0, end = start + len; i < end; i++, j++) {
        double c = x[i] - pivot;
        double g = dy[i];
        grad[j] += g;
        gradCentered[j] += g * c;
      }
    }
    out[o] = total(grad);
    out[o + 1] = total(gradCentered);
    out[o + 2] = 0;
  }

  private static double[][] zeroed() {
    for (double[] column : DOUBLE_COLUMNS) {
      Arrays.fill(column, 0.0);
    }
    return DOUBLE_COLUMNS;
  }

  private static void empty(float[] from, double[] into) {
    for (int j = 0; j < COLUMNS; j++) {
      into[j] += from[j];
      from[j] = 0f;
    }
  }

  private static double total(double[] column) {
    double sum = 0;
    for (double value : column) {
      sum += value;
    }
    return sum;
  }
}
