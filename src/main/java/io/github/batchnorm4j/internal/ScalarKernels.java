package io.github.batchnorm4j.internal;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * The scalar kernels: plain Java loops, always available, and the kernels of every JVM started
 * without the Vector API module. They are written for what HotSpot's C2 compiler does with plain
 * loops, so that they are fast without any flag (docs/kernels.md, "Plain loops and C2", has the
 * measurements). See {@link KernelOps} for the contract and {@link BatchNormKernels} for the passes
 * that call these loops.
 *
 * <h2>Sums: double, four independent accumulators (and float ones for the JDK 17 backward)</h2>
 * Each float term is widened to double, so {@code x - K}, its square and the products of two
 * floats are exact, and the sums round as double sums do (see the {@link KernelOps} contract),
 * except in the backward's float accumulators described at the end of this section.
 * C2 vectorizes no reduction, so each sum is kept in four accumulators, unrolled by hand, whose adds
 * do not wait for each other: about 4 times faster than two accumulators on JDK 17 (C2LoopProbe). They are added
 * in a fixed order, so the results do not depend on anything but the block. On JDK 25 and later
 * ({@link #WIDE}) runs of at least {@link #COLUMNS} values (in the training backward, of at least
 * {@link #SHORT_COLUMNS}) are summed into 64 double columns instead, a loop C2 vectorizes there
 * (about twice as fast), also in a fixed order. Off that path
 * (JDK 17 and 21) the training backward's {@code sum g (x - P)} and {@code sum (x - P)} are kept
 * in eight float accumulators each, emptied into double every {@link KernelOps#FLOAT_BLOCK} terms,
 * as the Vector API kernels' float lanes are ({@link #backwardSumsFloat}).
 *
 * <p>In the unrolled main loops of the scalar sums ({@link #shiftedSums}, {@link #backwardSums}
 * and {@link #backwardSumsFloat}) an accumulation is written {@code s = plus(s, t)}, that is
 * {@code Math.fma(1, t, s)}: the same sum as {@code s + t}, bit for bit (the product by 1 is exact
 * and the fma rounds once), but an FMA instruction, which C2 does not fold back into an add. On AMD's Zen cores (this project's
 * benchmark machine) FMAs issue on other ports than adds; these unvectorized sums are bound by
 * their adds, subtractions and float-to-double conversions, which share the add ports, so moving
 * the accumulations over made the JDK 17 statistics and backward sums 1.1 to 1.2 times faster on
 * planes of 64 and 784 values (docs/kernels.md). Where adds and FMAs share their ports (Intel's
 * cores since Skylake) it should gain nothing and cost nothing.
 *
 * <h2>Elementwise: float arithmetic</h2>
 * C2 of JDK 17 does not vectorize the widening of float data to double (such a loop ran 8 to 9 times
 * slower than the same loop in float, C2LoopProbe), but it vectorizes float {@code -} and {@code Math.fma}. So
 * the elementwise passes run in float, with the per-channel constants rounded to float once per
 * call and every scale split into two floats {@code a + a'} (so that its rounding does not count):
 * <ul>
 *   <li>{@code y = fma(d, a, b + fma(d, a', b'))} with {@code d = x - P} ({@link #affine}, four
 *       float operations): the small terms {@code d a' + b'} are formed first, and the product
 *       {@code d a} is exact inside the outer fma, so y is rounded twice, once at the size of b
 *       and once at its own. P is 0 when the mean is small against the spread (x is then used as
 *       it is, exactly) and otherwise the mean rounded to float (x - P is then exact for the data
 *       with a large offset, by Sterbenz's lemma); the rest of the mean goes into b, computed in
 *       double. The error is at most about half an ulp of y plus half an ulp of b, whatever the
 *       offset, where PyTorch's {@code x * alpha + (beta - mean * alpha)} loses four digits at an
 *       offset of 1e4. The half ulp of b is absolute: where {@code d a} cancels b (y near 0) it is
 *       many ulps of y, as PyTorch's error is there. (A compensated form rounded about once, with
 *       Knuth's two-sum, within half an ulp of y everywhere, took 13 operations and made the eval
 *       forward 1.8 to 3.4 times slower; docs/numerics.md weighs the two. {@code
 *       -Dbatchnorm4j.scalarElementwise=double} gives the double formulas below on any JDK,
 *       unvectorized on JDK 17.)
 *   <li>{@code dx = fma(g, s, fma(g, s', fma(x - P, t, fma(x - P, t', u))))} with {@code s} the
 *       scale, {@code t = -s k} and {@code u} the rest, so about one ulp of the largest of the
 *       terms {@code s g} and {@code s (x - mean) k}. Where these cancel (two values per channel and
 *       a small eps), the error is relative to them, not to dx; so is PyTorch's, whose float
 *       formula is several times less accurate there (docs/numerics.md).
 * </ul>
 *
 * <h2>Elementwise on JDK 25 and later: double arithmetic, the Vector API kernels' bits</h2>
 * C2 of JDK 25 vectorizes double arithmetic over float data, so there ({@link #WIDE}) the
 * elementwise passes compute in double with the formulas of the Vector API kernels: {@code y =
 * (float) fma(x, alpha, beta - mean alpha)}, {@code dx = (float) fma(g, scale, fma(x, -k scale,
 * (mean k - meanDy) scale))} and {@code dx = (float) (g scale)}, each rounded once from double and
 * bit for bit what those kernels write for the same constants. C2LoopProbe (docs/kernels.md): 6.5
 * values/ns in L1 on JDK 25 against 5.4 for the compensated float y JDK 17 then used, and 1.7 on
 * JDK 17, where the loop is not vectorized; on the short planes of (8, 512, 7, 7) the eval
 * forward took half the time. JDK 21 is not measured, so it keeps the float formulas. (The Vector API kernels are named,
 * not linked: a link would make the default compilation, which has no jdk.incubator.vector,
 * compile them from the source path.)
 */
public final class ScalarKernels extends KernelOps {

  static final ScalarKernels INSTANCE = new ScalarKernels();

  /**
   * The pivot P is the mean (rounded to float) when |mean * scale| exceeds this, that is when the
   * mean lies more than this many output units from 0; below it P = 0.
   */
  static final double PIVOT_THRESHOLD = 8;

  /**
   * Whether the kernels take the path C2 of JDK 25 vectorizes: the elementwise passes in double
   * and the sums of long runs in {@link #COLUMNS} columns (see the class comment). On JDK 25 and
   * later, or as {@code -Dbatchnorm4j.scalarElementwise=double} says ({@code float} forces the
   * JDK 17 path; case and blanks ignored), for tests and measurements.
   */
  static final boolean WIDE = wide(System.getProperty("batchnorm4j.scalarElementwise"),
      Runtime.version().feature());

  /** {@return whether the scalar elementwise passes compute in double, see {@link #WIDE}} */
  static boolean wide(String property, int feature) {
    String value = property == null ? "" : property.trim().toLowerCase(java.util.Locale.ROOT);
    if (value.equals("double")) {
      return true;
    }
    if (value.equals("float")) {
      return false;
    }
    return feature >= 25;
  }

  private ScalarKernels() {
    super(ChannelParallel.MIN_AUTOMATIC_SCALAR_ELEMENTS);
  }

  @Override
  public String name() {
    return "scalar";
  }

  /** {@return the pivot P for a channel of this mean and scale (see the class comment)} */
  static float pivot(double mean, double scale) {
    return Math.abs(mean * scale) > PIVOT_THRESHOLD ? (float) mean : 0f;
  }

  /** {@return the rest of {@code value} after its rounding to float, itself rounded to float} */
  static float low(double value) {
    return (float) (value - (float) value);
  }

  /**
   * On the {@link #WIDE} path, runs of at least this many values are summed into this many
   * double columns ({@code column[j] += x[i + j]}), a loop C2 of JDK 25 vectorizes: 3.9 values/ns
   * against 1.8 for four accumulators (C2LoopProbe, docs/kernels.md). JDK 17 does not vectorize
   * it (1.7), so there the four accumulators stay.
   */
  static final int COLUMNS = 64;

  /**
   * On the {@link #WIDE} path, the training backward's sums of runs of at least this many values
   * (and fewer than {@link #COLUMNS}) go into columns too, the runs of two planes per update:
   * 1.3 to 2.6 times faster than four accumulators for planes of 9 to 49 values (3 x 3 to 7 x 7),
   * one thread, JDK 25 (docs/kernels.md). Shorter planes take the rows path ({@code
   * BatchNormKernels.SHORT_PLANE}). The statistics keep four accumulators below {@link #COLUMNS}:
   * with one run per update their columns were slower for planes of 9 and 16 values.
   */
  static final int SHORT_COLUMNS = 8;

  /** The calling thread's sum columns, zeroed by each call that uses them: 1.5 KiB a thread. */
  private static final ThreadLocal<double[][]> SUM_COLUMNS =
      ThreadLocal.withInitial(() -> new double[3][COLUMNS]);

  @Override
  void shiftedSums(float[] x, int base, int stride, int planes, int len, double shift,
      double[] out, int o) {
    if (WIDE && len >= COLUMNS) {
      shiftedSumsColumns(x, base, stride, planes, len, shift, out, o);
      return;
    }
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    double q0 = 0, q1 = 0, q2 = 0, q3 = 0;
    for (int p = 0, start = base; p < planes; p++, start += stride) {
      final int end = start + len;
      int i = start;
      for (; i <= end - 4; i += 4) {
        double a = x[i] - shift, b = x[i + 1] - shift, c = x[i + 2] - shift, d = x[i + 3] - shift;
        s0 = plus(s0, a);
        s1 = plus(s1, b);
        s2 = plus(s2, c);
        s3 = plus(s3, d);
        q0 = plus(q0, a * a);
        q1 = plus(q1, b * b);
        q2 = plus(q2, c * c);
        q3 = plus(q3, d * d);
      }
      for (; i < end; i++) {
        double a = x[i] - shift;
        s0 += a;
        q0 += a * a;
      }
    }
    out[o] = (s0 + s1) + (s2 + s3);
    out[o + 1] = (q0 + q1) + (q2 + q3);
  }

  /**
   * {@link #shiftedSums} in {@link #COLUMNS} double columns: value j of each 64-value block of a
   * run goes to column j, and so does value j of the run's last {@code len % 64} values (not one
   * column for all of them: a chain of dependent adds); the columns are then added in column
   * order. A fixed order, so the same bits for the same block.
   */
  private static void shiftedSumsColumns(float[] x, int base, int stride, int planes, int len,
      double shift, double[] out, int o) {
    final double[][] columns = zeroedColumns(2);
    final double[] sum = columns[0];
    final double[] squares = columns[1];
    final int blocks = len - len % COLUMNS;
    for (int p = 0, start = base; p < planes; p++, start += stride) {
      for (int i = start, end = start + blocks; i < end; i += COLUMNS) {
        for (int j = 0; j < COLUMNS; j++) {
          double d = x[i + j] - shift;
          sum[j] += d;
          squares[j] += d * d;
        }
      }
      for (int i = start + blocks, j = 0, end = start + len; i < end; i++, j++) {
        double d = x[i] - shift;
        sum[j] += d;
        squares[j] += d * d;
      }
    }
    out[o] = addColumns(sum, COLUMNS);
    out[o + 1] = addColumns(squares, COLUMNS);
  }

  /** {@return the calling thread's sum columns, the first {@code sums} of them zeroed} */
  private static double[][] zeroedColumns(int sums) {
    final double[][] columns = SUM_COLUMNS.get();
    for (int k = 0; k < sums; k++) {
      java.util.Arrays.fill(columns[k], 0.0);
    }
    return columns;
  }

  /**
   * {@return the sum of columns 0 to {@code width - 1} (a multiple of 8, the columns beyond the
   * run's length 0)}: in eight sums, column j into sum {@code j % 8}, in column order, then added
   * pairwise. A fixed order, so the same bits for the same columns. One sum in column order was a
   * chain of 64 dependent adds, about 250 cycles per sum: for (8, 512, 7, 7), 512 channels of
   * three sums, about 100 µs of a backward of 250 (docs/kernels.md).
   */
  private static double addColumns(double[] column, int width) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    for (int j = 0; j < width; j += 8) {
      s0 += column[j];
      s1 += column[j + 1];
      s2 += column[j + 2];
      s3 += column[j + 3];
      s4 += column[j + 4];
      s5 += column[j + 5];
      s6 += column[j + 6];
      s7 += column[j + 7];
    }
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
  }

  /**
   * Whether {@link #normalize} runs the loops of planes shorter than {@link
   * #OUT_OF_LINE_BELOW} values out of line, through {@link #normalizeHandle}: before JDK 25, as
   * {@link KernelOps#callsOutOfLine} says for the Vector API kernels, for a cause of the same
   * kind. Inlined into the planner's thread hand-off ({@code ChannelParallel}'s job), whose
   * compilation also inlines everything else the pass calls, the float loop nest of short planes
   * was compiled in one of two ways, decided anew in each JVM: in about half of the JVMs the
   * register allocator kept the address of x in a vector register and moved it to a general one
   * and back in every iteration, and the eval forward of (128, 32, 8, 8) took 1.7 to 2.3 times as
   * long. Compiled on its own it ran fast in every JVM (JMH, JDK 17, no flag, one thread, fork
   * medians: 59 to 138 µs in 6 forks before, 51 to 57 after; docs/kernels.md, *Plain loops and
   * C2*).
   */
  static final boolean NORMALIZE_OUT_OF_LINE = callsOutOfLine(Runtime.version().feature());

  /**
   * Planes of at least this many values keep their normalize loop inlined: no slow mode was seen
   * there, and on planes of 3136 values the loop called out of line ran the eval forward of (32,
   * 64, 56, 56) about 1.13 times slower (JMH, one thread, 9 forks each, old and new alternating
   * three times). Planes of 196 and 784 values measured the same either way.
   */
  static final int OUT_OF_LINE_BELOW = 1024;

  /**
   * {@return whether {@link #normalize} calls its loops out of line for planes of {@code len}
   * values}
   */
  static boolean normalizesOutOfLine(int len) {
    return NORMALIZE_OUT_OF_LINE && len < OUT_OF_LINE_BELOW;
  }

  /**
   * {@link #normalizeLoops}; not final, on purpose: C2 does not fold a field that is not final,
   * so it cannot inline through the handle, and the loops are compiled on their own (as in {@link
   * OutOfLineKernels}). Written once, by the class initializer.
   */
  private static MethodHandle normalizeHandle = normalizeHandle();

  private static MethodHandle normalizeHandle() {
    try {
      return MethodHandles.lookup().findStatic(ScalarKernels.class, "normalizeLoops",
          MethodType.methodType(void.class, float[].class, float[].class, int.class, int.class,
              int.class, int.class, double.class, double.class, double.class, boolean.class));
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException(e);
    }
  }

  @Override
  void normalize(float[] x, float[] y, int base, int stride, int planes, int len,
      double mean, double alpha, double beta, boolean relu) {
    if (!normalizesOutOfLine(len)) {
      normalizeLoops(x, y, base, stride, planes, len, mean, alpha, beta, relu);
      return;
    }
    try {
      normalizeHandle.invokeExact(x, y, base, stride, planes, len, mean, alpha, beta, relu);
    } catch (Throwable t) {
      throw OutOfLineKernels.rethrow(t);
    }
  }

  /**
   * {@link #normalize}'s work, called directly or through {@link #normalizeHandle}; package-private
   * for a test.
   */
  static void normalizeLoops(float[] x, float[] y, int base, int stride, int planes,
      int len, double mean, double alpha, double beta, boolean relu) {
    if (WIDE) {
      normalizeWide(x, y, base, stride, planes, len, alpha, beta - mean * alpha, relu);
      return;
    }
    // y = d a + b with d = x - P, a = aHi + aLo and b = bHi + bLo (each a double split into two
    // floats); see affine.
    final float p = pivot(mean, alpha);
    final float aHi = (float) alpha;
    final float aLo = low(alpha);
    final double offset = beta + (p - mean) * alpha;
    final float bHi = (float) offset;
    final float bLo = low(offset);
    for (int q = 0, start = base; q < planes; q++, start += stride) {
      final int end = start + len;
      if (relu) {
        for (int i = start; i < end; i++) {
          y[i] = Math.max(affine(x[i] - p, aHi, aLo, bHi, bLo), 0f); // NaN stays NaN
        }
      } else {
        for (int i = start; i < end; i++) {
          y[i] = affine(x[i] - p, aHi, aLo, bHi, bLo);
        }
      }
    }
  }

  /** {@code y = (float) fma(x, alpha, shift)}, as the Vector API kernels compute it. */
  private static void normalizeWide(float[] x, float[] y, int base, int stride, int planes,
      int len, double alpha, double shift, boolean relu) {
    for (int q = 0, start = base; q < planes; q++, start += stride) {
      final int end = start + len;
      if (relu) {
        for (int i = start; i < end; i++) {
          y[i] = Math.max((float) Math.fma(x[i], alpha, shift), 0f); // NaN stays NaN
        }
      } else {
        for (int i = start; i < end; i++) {
          y[i] = (float) Math.fma(x[i], alpha, shift);
        }
      }
    }
  }

  /**
   * {@code d * (aHi + aLo) + (bHi + bLo)} in four float operations: the small terms {@code d aLo +
   * bLo} first (tiny against b and against {@code d aHi}, so their own rounding does not count),
   * added to bHi (one rounding, at most half an ulp of b), then the exact product {@code d aHi}
   * and one more rounding, at most half an ulp of y: an absolute error of about half an ulp of y
   * plus half an ulp of b. Measured against the float64 result on tensors of the accuracy table's
   * kind (ElementwiseFormulaHarness), its largest error per tensor averaged 3 to 27% above that of
   * a form rounded once, and 37 to 71% below PyTorch's.
   */
  static float affine(float d, float aHi, float aLo, float bHi, float bLo) {
    return Math.fma(d, aHi, bHi + Math.fma(d, aLo, bLo));
  }

  /**
   * Channel by channel through the rows, not plane by plane in memory order: the constants of a
   * channel are then derived once per call, not once per plane, which on planes of 49 or 64 values
   * cost more than the plane itself. The rows of one call are a tile of about {@code
   * BatchNormKernels.ITEM} values, in cache, so the strided walk costs nothing. Same bits.
   */
  @Override
  void normalizeRows(float[] x, float[] y, int base, int rows, int channels, int len,
      double[] mean, double[] alpha, double[] beta, boolean relu) {
    for (int c = 0; c < channels; c++) {
      normalize(x, y, base + c * len, channels * len, rows, len, mean[c], alpha[c], beta[c], relu);
    }
  }

  /** Channel by channel, as {@link #normalizeRows}. */
  @Override
  void backwardDxRows(float[] x, float[] dy, float[] reluOutput, float[] dx, int base, int rows,
      int channels, int len, double[] mean, double[] meanDy, double[] k, double[] scale) {
    for (int c = 0; c < channels; c++) {
      backwardDx(x, dy, reluOutput, dx, base + c * len, channels * len, rows, len, mean[c],
          meanDy[c], k[c], scale[c]);
    }
  }

  /** Channel by channel, as {@link #normalizeRows}. */
  @Override
  void scaleGradRows(float[] dy, float[] reluOutput, float[] dx, int base, int rows, int channels,
      int len, double[] scale) {
    for (int c = 0; c < channels; c++) {
      scaleGrad(null, dy, reluOutput, dx, base + c * len, channels * len, rows, len, 0.0, scale[c],
          false, null, 0);
    }
  }

  @Override
  void backwardSums(float[] x, float[] dy, float[] reluOutput, int base, int stride, int planes,
      int len, double pivot, double[] out, int o) {
    if (WIDE && len >= SHORT_COLUMNS && reluOutput == null) {
      backwardSumsColumns(x, dy, base, stride, planes, len, pivot, out, o);
      return;
    }
    if (!WIDE && len >= FLOAT_STEP) {
      backwardSumsFloat(x, dy, reluOutput, base, stride, planes, len, pivot, out, o);
      if (floatBackwardSumsHold(out, o, planes, len)) {
        return;
      }
      // A float product or sum overflowed, or the data hold an infinity or a NaN, or the products
      // are so small that float accumulators may have lost them below float's normal range: the
      // double accumulators below redo the sums.
    }
    double g0 = 0, g1 = 0, g2 = 0, g3 = 0;
    double d0 = 0, d1 = 0, d2 = 0, d3 = 0;
    double c0 = 0, c1 = 0, c2 = 0, c3 = 0;
    for (int p = 0, start = base; p < planes; p++, start += stride) {
      final int end = start + len;
      int i = start;
      for (; i <= end - 4; i += 4) {
        double ca = x[i] - pivot, cb = x[i + 1] - pivot; // exact in double
        double cc = x[i + 2] - pivot, cd = x[i + 3] - pivot;
        double ga = gradient(dy, reluOutput, i), gb = gradient(dy, reluOutput, i + 1);
        double gc = gradient(dy, reluOutput, i + 2), gd = gradient(dy, reluOutput, i + 3);
        g0 = plus(g0, ga);
        g1 = plus(g1, gb);
        g2 = plus(g2, gc);
        g3 = plus(g3, gd);
        d0 = plus(d0, ga * ca);
        d1 = plus(d1, gb * cb);
        d2 = plus(d2, gc * cc);
        d3 = plus(d3, gd * cd);
        c0 = plus(c0, ca);
        c1 = plus(c1, cb);
        c2 = plus(c2, cc);
        c3 = plus(c3, cd);
      }
      for (; i < end; i++) {
        double ca = x[i] - pivot;
        double ga = gradient(dy, reluOutput, i);
        g0 += ga;
        d0 += ga * ca;
        c0 += ca;
      }
    }
    out[o] = (g0 + g1) + (g2 + g3);
    out[o + 1] = (d0 + d1) + (d2 + d3);
    out[o + 2] = (c0 + c1) + (c2 + c3);
  }

  /**
   * Values a step of {@link #backwardSumsFloat}: one for each of its float accumulators of a sum.
   */
  static final int FLOAT_STEP = 8;

  /**
   * {@link #backwardSums} off the {@link #WIDE} path: {@code sum g (x - P)}
   * and {@code sum (x - P)} in eight float accumulators each, with P the pivot rounded to float,
   * and {@code sum g} in four double ones. The float accumulators add at most {@link
   * KernelOps#FLOAT_BLOCK} terms each before they are widened and added, in a fixed order, to a
   * double sum, so their rounding stays within about that many float ulps of the block's terms; a
   * block runs on into the next plane, so that planes of 64 values (eight steps) do not pay a
   * widening each (the sums pass of (128, 32, 8, 8) took 0.90 of the time of blocks that ended
   * with the plane, 0.95 for planes of 196 and 784 values: a standalone copy, JDK 17, one
   * thread, docs/kernels.md). The last {@code len % 8} values of each plane go into the double
   * sums directly. Finally the sums are moved from P to the pivot in double: {@code sum (x -
   * pivot) = sum (x - P) + n (P - pivot)}, {@code sum g (x - pivot) = sum g (x - P) + (P - pivot)
   * sum g}. This is what the Vector API kernels do in their float lanes, in scalar form: C2 of JDK
   * 17 vectorizes no reduction, and widening every float to double made these sums about a
   * quarter slower. The whole training backward at the default threads took 0.77 to 0.84 of its
   * former time on (32, 64, 56, 56), (128, 32, 8, 8) and (64, 16, 28, 28), and 0.96 and 1.01 on
   * (8, 512, 7, 7) and (32, 256, 14, 14) (JMH, JDK 17, no flag, 3 forks, old and new alternating
   * twice; docs/kernels.md). A result that is not finite, or a {@code sum g (x - pivot)} too small
   * for float accumulators, is left for the caller to redo in double (which a channel whose ReLU
   * mask is 0 everywhere, its sums then exactly 0, pays as a second pass).
   */
  private static void backwardSumsFloat(float[] x, float[] dy, float[] reluOutput, int base,
      int stride, int planes, int len, double pivot, double[] out, int o) {
    final float p = (float) pivot;
    final int steps = len - len % FLOAT_STEP;
    double g0 = 0, g1 = 0, g2 = 0, g3 = 0;
    double sumGradCentered = 0;
    double sumCentered = 0;
    float d0 = 0, d1 = 0, d2 = 0, d3 = 0, d4 = 0, d5 = 0, d6 = 0, d7 = 0;
    float c0 = 0, c1 = 0, c2 = 0, c3 = 0, c4 = 0, c5 = 0, c6 = 0, c7 = 0;
    int room = FLOAT_BLOCK; // the steps the float accumulators can still take in this block
    for (int q = 0, start = base; q < planes; q++, start += stride) {
      for (int i = start, end = start + steps; i < end; ) {
        final int stop = i + Math.min(end - i, room * FLOAT_STEP);
        room -= (stop - i) / FLOAT_STEP;
        for (; i < stop; i += FLOAT_STEP) {
          float ca = x[i] - p, cb = x[i + 1] - p, cc = x[i + 2] - p, cd = x[i + 3] - p;
          float ce = x[i + 4] - p, cf = x[i + 5] - p, cg = x[i + 6] - p, ch = x[i + 7] - p;
          float ga = gradient(dy, reluOutput, i), gb = gradient(dy, reluOutput, i + 1);
          float gc = gradient(dy, reluOutput, i + 2), gd = gradient(dy, reluOutput, i + 3);
          float ge = gradient(dy, reluOutput, i + 4), gf = gradient(dy, reluOutput, i + 5);
          float gg = gradient(dy, reluOutput, i + 6), gh = gradient(dy, reluOutput, i + 7);
          g0 = plus(g0, (double) ga + gb);
          g1 = plus(g1, (double) gc + gd);
          g2 = plus(g2, (double) ge + gf);
          g3 = plus(g3, (double) gg + gh);
          d0 = Math.fma(ga, ca, d0);
          d1 = Math.fma(gb, cb, d1);
          d2 = Math.fma(gc, cc, d2);
          d3 = Math.fma(gd, cd, d3);
          d4 = Math.fma(ge, ce, d4);
          d5 = Math.fma(gf, cf, d5);
          d6 = Math.fma(gg, cg, d6);
          d7 = Math.fma(gh, ch, d7);
          c0 = plus(c0, ca);
          c1 = plus(c1, cb);
          c2 = plus(c2, cc);
          c3 = plus(c3, cd);
          c4 = plus(c4, ce);
          c5 = plus(c5, cf);
          c6 = plus(c6, cg);
          c7 = plus(c7, ch);
        }
        if (room == 0) {
          sumGradCentered += widenedSum(d0, d1, d2, d3, d4, d5, d6, d7);
          sumCentered += widenedSum(c0, c1, c2, c3, c4, c5, c6, c7);
          d0 = d1 = d2 = d3 = d4 = d5 = d6 = d7 = 0;
          c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = 0;
          room = FLOAT_BLOCK;
        }
      }
      for (int i = start + steps, end = start + len; i < end; i++) {
        double c = (double) x[i] - p; // exact in double
        double g = gradient(dy, reluOutput, i);
        g0 += g;
        sumGradCentered += g * c;
        sumCentered += c;
      }
    }
    sumGradCentered += widenedSum(d0, d1, d2, d3, d4, d5, d6, d7); // the last, partial block
    sumCentered += widenedSum(c0, c1, c2, c3, c4, c5, c6, c7);
    writeBackwardSums(out, o, (g0 + g1) + (g2 + g3), sumGradCentered, sumCentered, p, pivot,
        planes, len);
  }

  /**
   * {@return {@code s + t}, bit for bit, computed as {@code Math.fma(1, t, s)} so that it issues on
   * the FMA ports (see the class comment)}
   */
  private static double plus(double s, double t) {
    return Math.fma(1.0, t, s);
  }

  /** {@return {@code s + t}, bit for bit, as {@link #plus(double, double)}} */
  private static float plus(float s, float t) {
    return Math.fma(1f, t, s);
  }

  /** {@return the eight floats widened and added in double, in a fixed pairwise order} */
  private static double widenedSum(float a, float b, float c, float d, float e, float f, float g,
      float h) {
    return (((double) a + b) + ((double) c + d)) + (((double) e + f) + ((double) g + h));
  }

  /**
   * {@link #backwardSums} without the ReLU mask in columns, as {@link #shiftedSumsColumns}, with
   * {@code sum g (x - P)} accumulated by {@code Math.fma} (the product is then not rounded on its
   * own), two runs per column update. The planes go in pairs: value j of block b of plane p and
   * then of plane p + 1 go into column j in one update, block after block, then the two tails
   * (the last {@code len % 64} values, which is the whole plane below 64 values, down to {@link
   * #SHORT_COLUMNS}) the same way into the first columns; the last plane of an odd count takes
   * two of its own blocks per update, then its odd block and its tail. A fixed order, so the same
   * bits for the same unit, whatever the threads. Two runs per update halve the column loads and
   * stores, which bound this loop, and C2 of JDK 25 vectorizes the update written {@code grad[j]
   * = grad[j] + g0 + g1}, {@code gc[j] = fma(g1, c1, fma(g0, c0, gc[j]))}: 3.2 values/ns on data
   * in L2 against 2.6 for one block per update, one thread (a probe of 2026-12-07,
   * docs/kernels.md). It does not vectorize the same loop written {@code gc[j] += g0 * c0 + g1 *
   * c1} (BackwardColumnsHarness's "two blocks +=", 0.7 to 0.85 values/ns), nor one with four
   * blocks per update (0.8 to 1.1). Pairing planes rather than the blocks of one plane also pairs
   * the odd block and the tail: the sums pass of (32, 256, 14, 14) (196-value planes, three
   * blocks and a tail of 4) took 721 to 777 µs against 900 to 930 (one thread, JDK 25, two JVMs
   * each).
   */
  private static void backwardSumsColumns(float[] x, float[] dy, int base, int stride, int planes,
      int len, double pivot, double[] out, int o) {
    final double[][] columns = zeroedColumns(3);
    final double[] grad = columns[0];
    final double[] gradCentered = columns[1];
    final double[] centered = columns[2];
    final int blocks = len - len % COLUMNS;
    int start = base;
    // Two planes at a time, the first plane's terms first. Planes of one block or less in loops
    // of their own here, the longer ones block by block in a method of their own: with all three
    // loops in this method, the backward of (128, 32, 8, 8) at one thread took 1.07 to 1.11 times
    // the time of the build before the longer planes were paired (JMH, 5 forks, three rounds each
    // of two builds; C2 inlined the same calls, so our guess is the code's layout); split so,
    // 1.03 (two rounds).
    final int pairs = planes / 2;
    // Planes of exactly one block (8 x 8) have a loop of their own with the constant count: the
    // one below with count len made the one-thread backward of (128, 32, 8, 8) 1.07 times slower
    // (PassTimesHarness 1, JDK 25, three alternating pairs of JVMs: 211-215 µs against 196-201).
    if (len == COLUMNS) {
      for (int q = 0; q < pairs; q++, start += 2 * stride) {
        addTwoRuns(x, dy, start, start + stride, COLUMNS, pivot, grad, gradCentered, centered);
      }
    } else if (len < COLUMNS) {
      for (int q = 0; q < pairs; q++, start += 2 * stride) {
        addTwoRuns(x, dy, start, start + stride, len, pivot, grad, gradCentered, centered);
      }
    } else {
      addPlanePairs(x, dy, start, stride, pairs, len, pivot, grad, gradCentered, centered);
      start += 2 * pairs * stride;
    }
    // The last plane of an odd count: two blocks of it per update, then its odd block and tail.
    if (planes % 2 == 1) {
      final int blocksEnd = start + blocks;
      int i = start;
      for (; i <= blocksEnd - 2 * COLUMNS; i += 2 * COLUMNS) {
        addTwoRuns(x, dy, i, i + COLUMNS, COLUMNS, pivot, grad, gradCentered, centered);
      }
      if (i < blocksEnd) { // the last block of an odd count
        addRun(x, dy, i, COLUMNS, pivot, grad, gradCentered, centered);
      }
      addRun(x, dy, blocksEnd, len - blocks, pivot, grad, gradCentered, centered);
    }
    final int width = Math.min(COLUMNS, (len + 7) & -8); // the columns in use, whole groups of 8
    out[o] = addColumns(grad, width);
    out[o + 1] = addColumns(gradCentered, width);
    out[o + 2] = addColumns(centered, width);
  }

  /**
   * Adds {@code pairs} pairs of planes of {@code len > 64} values from {@code start} into the
   * columns: block by block, the block of the first plane of a pair and the block at the same
   * place of the second in one update, then the two tails (see {@link #backwardSumsColumns}).
   */
  private static void addPlanePairs(float[] x, float[] dy, int start, int stride, int pairs,
      int len, double pivot, double[] grad, double[] gradCentered, double[] centered) {
    final int blocks = len - len % COLUMNS;
    for (int q = 0; q < pairs; q++, start += 2 * stride) {
      final int second = start + stride;
      for (int b = 0; b < blocks; b += COLUMNS) {
        addTwoRuns(x, dy, start + b, second + b, COLUMNS, pivot, grad, gradCentered, centered);
      }
      if (blocks < len) {
        addTwoRuns(x, dy, start + blocks, second + blocks, len - blocks, pivot, grad,
            gradCentered, centered);
      }
    }
  }

  /**
   * Adds the runs of {@code count <= 64} values at {@code first} and {@code second} into columns
   * 0 to {@code count - 1}, the first run's terms before the second's (see {@link
   * #backwardSumsColumns}).
   */
  private static void addTwoRuns(float[] x, float[] dy, int first, int second, int count,
      double pivot, double[] grad, double[] gradCentered, double[] centered) {
    for (int j = 0; j < count; j++) {
      double c0 = x[first + j] - pivot; // exact in double when the pivot is a float
      double c1 = x[second + j] - pivot;
      double g0 = dy[first + j];
      double g1 = dy[second + j];
      grad[j] = grad[j] + g0 + g1;
      gradCentered[j] = Math.fma(g1, c1, Math.fma(g0, c0, gradCentered[j]));
      centered[j] = centered[j] + c0 + c1;
    }
  }

  /**
   * Adds {@code count <= 64} values from {@code from} into columns 0 to {@code count - 1}: a
   * block of its own, or a run's last {@code len % 64} values.
   */
  private static void addRun(float[] x, float[] dy, int from, int count, double pivot,
      double[] grad, double[] gradCentered, double[] centered) {
    for (int j = 0; j < count; j++) {
      double c = x[from + j] - pivot;
      double g = dy[from + j];
      grad[j] += g;
      gradCentered[j] = Math.fma(g, c, gradCentered[j]);
      centered[j] += c;
    }
  }

  @Override
  void backwardDx(float[] x, float[] dy, float[] reluOutput, float[] dx, int base, int stride,
      int planes, int len, double mean, double meanDy, double k, double scale) {
    if (WIDE) {
      backwardDxWide(x, dy, reluOutput, dx, base, stride, planes, len, -k * scale,
          (mean * k - meanDy) * scale, scale);
      return;
    }
    // dx = scale (g - meanDy - (x - mean) k) = g s + (x - P) t + u with s = scale, t = -scale k
    // and u = -scale (meanDy + (P - mean) k); s and t split into two floats each.
    final float p = pivot(mean, scale);
    final double slope = -scale * k;
    final float sHi = (float) scale;
    final float sLo = low(scale);
    final float tHi = (float) slope;
    final float tLo = low(slope);
    final float u = (float) (-scale * (meanDy + (p - mean) * k));
    for (int q = 0, start = base; q < planes; q++, start += stride) {
      final int end = start + len;
      if (reluOutput == null) {
        for (int i = start; i < end; i++) {
          float c = x[i] - p;
          float g = dy[i];
          dx[i] = Math.fma(g, sHi, Math.fma(g, sLo, Math.fma(c, tHi, Math.fma(c, tLo, u))));
        }
      } else {
        for (int i = start; i < end; i++) {
          float c = x[i] - p;
          float g = gradient(dy, reluOutput, i);
          dx[i] = Math.fma(g, sHi, Math.fma(g, sLo, Math.fma(c, tHi, Math.fma(c, tLo, u))));
        }
      }
    }
  }

  /** {@code dx = (float) fma(g, scale, fma(x, slope, offset))}, as the Vector API kernels. */
  private static void backwardDxWide(float[] x, float[] dy, float[] reluOutput, float[] dx,
      int base, int stride, int planes, int len, double slope, double offset, double scale) {
    for (int q = 0, start = base; q < planes; q++, start += stride) {
      final int end = start + len;
      if (reluOutput == null) {
        for (int i = start; i < end; i++) {
          dx[i] = (float) Math.fma(dy[i], scale, Math.fma(x[i], slope, offset));
        }
      } else {
        for (int i = start; i < end; i++) {
          dx[i] = (float) Math.fma(gradient(dy, reluOutput, i), scale,
              Math.fma(x[i], slope, offset));
        }
      }
    }
  }

  @Override
  void scaleGrad(float[] x, float[] dy, float[] reluOutput, float[] dx, int base, int stride,
      int planes, int len, double center, double scale, boolean sums, double[] out, int o) {
    // dx = g * scale: rounded once from double on the WIDE path, else nearly correctly rounded as
    // fma(g, s, g * s') with scale = s + s' (scaled).
    final float sHi = (float) scale;
    final float sLo = low(scale);
    if (!sums) {
      for (int q = 0, start = base; q < planes; q++, start += stride) {
        final int end = start + len;
        if (reluOutput == null) {
          for (int i = start; i < end; i++) {
            dx[i] = scaled(dy[i], scale, sHi, sLo);
          }
        } else {
          for (int i = start; i < end; i++) {
            dx[i] = scaled(gradient(dy, reluOutput, i), scale, sHi, sLo);
          }
        }
      }
      return;
    }
    double g0 = 0, g1 = 0;
    double d0 = 0, d1 = 0;
    for (int q = 0, start = base; q < planes; q++, start += stride) {
      final int end = start + len;
      int i = start;
      for (; i <= end - 2; i += 2) {
        float ga = gradient(dy, reluOutput, i);
        float gb = gradient(dy, reluOutput, i + 1);
        g0 += ga;
        d0 += ga * (x[i] - center);
        g1 += gb;
        d1 += gb * (x[i + 1] - center);
        dx[i] = scaled(ga, scale, sHi, sLo);
        dx[i + 1] = scaled(gb, scale, sHi, sLo);
      }
      for (; i < end; i++) {
        float ga = gradient(dy, reluOutput, i);
        g0 += ga;
        d0 += ga * (x[i] - center);
        dx[i] = scaled(ga, scale, sHi, sLo);
      }
    }
    out[o] = g0 + g1;
    out[o + 1] = d0 + d1;
  }

  /** {@code g * scale} rounded to float: in double on the {@link #WIDE} path, else split. */
  private static float scaled(float g, double scale, float sHi, float sLo) {
    return WIDE ? (float) (g * scale) : Math.fma(g, sHi, g * sLo);
  }

  /**
   * The gradient reaching the normalization at i: dy, or with a fused ReLU 0 where the forward's
   * output is {@code <= 0}, as PyTorch's {@code threshold_backward} masks it (a NaN output passes
   * dy).
   */
  private static float gradient(float[] dy, float[] reluOutput, int i) {
    if (reluOutput == null) {
      return dy[i];
    }
    // The mask as bits, not a branch: ReLU masks are about half zeros in no pattern, and a branch
    // on them mispredicted about every other value.
    final int keep = reluOutput[i] <= 0f ? 0 : -1;
    return Float.intBitsToFloat(Float.floatToRawIntBits(dy[i]) & keep);
  }
}
