package io.github.batchnorm4j.internal;

import java.lang.reflect.Method;
import java.util.Locale;
import java.util.Optional;

/**
 * The inner loops of the batch-norm kernels, over one <em>block</em> of a channel: {@code planes}
 * runs of {@code len} contiguous floats starting at {@code base}, {@code base + stride}, ... (for
 * NCHW data the stride is C * H * W). {@link BatchNormKernels} decides which blocks to run, on which
 * thread, and does the per-channel arithmetic between them; implementations only stream through
 * memory.
 *
 * <p>Two implementations exist: {@link ScalarKernels} (plain Java, always available) and {@code
 * VectorKernels} (the incubating Vector API, {@code jdk.incubator.vector}). One is chosen once, at
 * start-up, by {@link #get()}, and the choice is logged once ({@link #selectionReason()}). Scalar
 * is used if {@code -Dbatchnorm4j.simd=false} (or {@code scalar}), if {@code jdk.incubator.vector}
 * is not in the boot layer (start the JVM with {@code --add-modules jdk.incubator.vector} to add
 * it), if the JVM runs interpreted only, or if the preferred double vector is narrower than 256
 * bits; else the Vector API kernels. Nothing outside {@code VectorKernels} touches the Vector API,
 * and that class is only loaded, by name, when the module is present, so the library runs on any
 * JDK 17 without flags.
 *
 * <h2>Contract shared by the implementations</h2>
 * <ul>
 *   <li>Every elementwise result is within about half an ulp of the exact value of the formula on
 *       the float inputs and the double constants: the Vector API kernels compute it in double and
 *       round once; the scalar kernels compute it in float with the constants split into two
 *       floats and, for y, an error-free product and sum (C2 vectorizes float loops on every JDK,
 *       double ones on float data only from JDK 25), so their dx can be about one ulp off. An
 *       element's value does not depend on where it lies in a block (vector body or scalar tail
 *       give the same bits), so any split of the elementwise work gives identical output.
 *   <li>A reduction over a block adds in an order fixed by the block's geometry alone, in double.
 *       {@link BatchNormKernels} always reduces the same blocks (a fixed partition of each channel)
 *       and adds their results in a fixed order, which makes every result independent of the
 *       thread count.
 *   <li>An output may be the same array as an input: each element is read before it is written.
 *   <li>Implementations allocate nothing.
 * </ul>
 */
public abstract class KernelOps {

  /** The system property that forces the scalar kernels: {@code -Dbatchnorm4j.simd=false}. */
  public static final String SIMD_PROPERTY = "batchnorm4j.simd";

  KernelOps() {}

  /** {@return a short name for logs and benchmarks, such as "scalar" or "vector 512-bit"} */
  public abstract String name();

  /**
   * Shifted sums for the statistics: {@code out[o] = sum (x - shift)} and {@code out[o + 1] = sum
   * (x - shift)^2} over the block, in double.
   */
  abstract void shiftedSums(float[] x, int base, int stride, int planes, int len, double shift,
      double[] out, int o);

  /**
   * {@code y = (float) ((x - mean) * alpha + beta)} over the block, in double; with {@code relu}
   * the fused activation's {@code max(0, .)} before the rounding (a NaN stays NaN).
   */
  abstract void normalize(float[] x, float[] y, int base, int stride, int planes, int len,
      double mean, double alpha, double beta, boolean relu);

  /**
   * {@link #normalize} over whole rows: {@code rows} consecutive rows of {@code channels} planes of
   * {@code len} floats each, from {@code base}, one contiguous block of memory; plane c of a row
   * with {@code mean[c], alpha[c], beta[c]}. Gives the same bits as {@code normalize} called plane
   * by plane (which is what this default does); an implementation may do better by walking the
   * block in memory order with no call per plane.
   */
  void normalizeRows(float[] x, float[] y, int base, int rows, int channels, int len,
      double[] mean, double[] alpha, double[] beta, boolean relu) {
    for (int r = 0, start = base; r < rows; r++) {
      for (int c = 0; c < channels; c++, start += len) {
        normalize(x, y, start, len, 1, len, mean[c], alpha[c], beta[c], relu);
      }
    }
  }

  /**
   * {@link #shiftedSums} for short planes ({@code len} values; 1 for BatchNorm1d's (N, C)) taken
   * row by row: rows [r0, r1) of {@code channels} planes each, channels [c0, c1), channel c
   * shifted by {@code shift[c]}, its two sums into {@code out[o + c * outStride]} and the next
   * slot. Each channel's values are added in memory order, as {@code shiftedSums} over that
   * channel's strided block does (which is what this default calls), with the same bits; an
   * implementation may walk the rows in memory order and keep the channels' sums side by side.
   */
  void shiftedSumsAcross(float[] x, int r0, int r1, int channels, int len, int c0, int c1,
      double[] shift, double[] out, int o, int outStride) {
    final int stride = channels * len;
    for (int c = c0; c < c1; c++) {
      shiftedSums(x, r0 * stride + c * len, stride, r1 - r0, len, shift[c], out,
          o + c * outStride);
    }
  }

  /** {@link #backwardSums} for short planes, as {@link #shiftedSumsAcross}; pivot {@code pivot[c]}. */
  void backwardSumsAcross(float[] x, float[] dy, float[] reluOutput, int r0, int r1,
      int channels, int len, int c0, int c1, double[] pivot, double[] out, int o, int outStride) {
    final int stride = channels * len;
    for (int c = c0; c < c1; c++) {
      backwardSums(x, dy, reluOutput, r0 * stride + c * len, stride, r1 - r0, len, pivot[c], out,
          o + c * outStride);
    }
  }

  /**
   * {@link #scaleGrad} with its sums for short planes, as {@link #shiftedSumsAcross}: channel c
   * with {@code center[c], scale[c]}, its two sums into {@code out[o + c * outStride]} and the
   * next slot, dx written for every value.
   */
  void scaleGradAcross(float[] x, float[] dy, float[] reluOutput, float[] dx, int r0, int r1,
      int channels, int len, int c0, int c1, double[] center, double[] scale, double[] out, int o,
      int outStride) {
    final int stride = channels * len;
    for (int c = c0; c < c1; c++) {
      scaleGrad(x, dy, reluOutput, dx, r0 * stride + c * len, stride, r1 - r0, len, center[c],
          scale[c], true, out, o + c * outStride);
    }
  }

  /**
   * The training backward's sums, with c = x - pivot (exact in double) and g the gradient reaching
   * the normalization: {@code out[o] = sum g}, {@code out[o + 1] = sum g * c}, {@code out[o + 2] =
   * sum c}. g is dy, or, when {@code reluOutput} (the fused ReLU's output) is given, 0 where
   * {@code reluOutput <= 0}; the same masking in every method that takes it.
   */
  abstract void backwardSums(float[] x, float[] dy, float[] reluOutput, int base, int stride,
      int planes, int len, double pivot, double[] out, int o);

  /** {@code dx = (float) (scale * ((g - meanDy) - (x - mean) * k))} over the block, in double. */
  abstract void backwardDx(float[] x, float[] dy, float[] reluOutput, float[] dx, int base,
      int stride, int planes, int len, double mean, double meanDy, double k, double scale);

  /**
   * {@link #backwardDx} over whole rows, as {@link #normalizeRows}: plane c of a row with {@code
   * mean[c], meanDy[c], k[c], scale[c]}; the same bits as {@code backwardDx} plane by plane.
   */
  void backwardDxRows(float[] x, float[] dy, float[] reluOutput, float[] dx, int base, int rows,
      int channels, int len, double[] mean, double[] meanDy, double[] k, double[] scale) {
    for (int r = 0, start = base; r < rows; r++) {
      for (int c = 0; c < channels; c++, start += len) {
        backwardDx(x, dy, reluOutput, dx, start, len, 1, len, mean[c], meanDy[c], k[c], scale[c]);
      }
    }
  }

  /**
   * The eval backward without sums over whole rows, as {@link #normalizeRows}: {@code dx = (float)
   * (dy * scale[c])}; the same bits as {@code scaleGrad} plane by plane.
   */
  void scaleGradRows(float[] dy, float[] reluOutput, float[] dx, int base, int rows, int channels,
      int len, double[] scale) {
    for (int r = 0, start = base; r < rows; r++) {
      for (int c = 0; c < channels; c++, start += len) {
        scaleGrad(null, dy, reluOutput, dx, start, len, 1, len, 0.0, scale[c], false, null, 0);
      }
    }
  }

  /**
   * The eval backward: {@code dx = (float) (g * scale)} and, when {@code sums}, {@code out[o] = sum
   * g} and {@code out[o + 1] = sum g * (x - center)}; g as for {@link #backwardSums}.
   */
  abstract void scaleGrad(float[] x, float[] dy, float[] reluOutput, float[] dx, int base,
      int stride, int planes, int len, double center, double scale, boolean sums, double[] out,
      int o);

  // ---------------------------------------------------------------------------------------------
  // Selection, once per JVM (the Lucene VectorizationProvider pattern).

  /** {@return the kernels chosen at start-up (see the class comment for the rules)} */
  public static KernelOps get() {
    return Holder.INSTANCE;
  }

  /**
   * Tensors with fewer elements than this run on the scalar kernels even when the Vector API ones
   * were chosen: their blocks are too short for vectors to pay, and small models stay free of the
   * Vector API's warm-up (until C2 has compiled a Vector API loop, the interpreter and C1 run it
   * slowly and allocate a box per vector operation).
   */
  public static final int MIN_VECTOR_ELEMENTS = 1 << 12;

  /**
   * {@return the kernels for a tensor of {@code elements} values: {@link #get()}, or scalar}
   *
   * @param elements the number of values in the tensor
   */
  public static KernelOps forSize(long elements) {
    return elements < MIN_VECTOR_ELEMENTS ? ScalarKernels.INSTANCE : Holder.INSTANCE;
  }

  /** {@return the scalar kernels, always available} */
  public static KernelOps scalar() {
    return ScalarKernels.INSTANCE;
  }

  /**
   * Returns the Vector API kernels if they can run in this JVM (the module {@code
   * jdk.incubator.vector} is present and the machine has at least 256-bit double vectors), whether
   * or not they were chosen as the default; else empty. For tests and benchmarks.
   *
   * @return the Vector API kernels, or empty
   */
  public static Optional<KernelOps> vector() {
    return Optional.ofNullable(VectorHolder.INSTANCE);
  }

  /** {@return why {@link #get()} returned what it did, as logged once} */
  public static String selectionReason() {
    return Holder.REASON;
  }

  private static final class Holder {
    static final String REASON;
    static final KernelOps INSTANCE;

    static {
      String[] reason = new String[1];
      INSTANCE = select(reason);
      REASON = reason[0];
      System.getLogger("io.github.batchnorm4j")
          .log(System.Logger.Level.INFO, "batchnorm4j kernels: " + REASON);
    }
  }

  private static final class VectorHolder {
    static final String[] WHY_NOT = new String[1];
    static final KernelOps INSTANCE = loadVector(WHY_NOT);
  }

  /**
   * {@return whether a value of {@code -Dbatchnorm4j.simd} forces the scalar kernels}
   *
   * @param setting the property's value, or null
   */
  public static boolean forcesScalar(String setting) {
    String v = setting == null ? "" : setting.trim().toLowerCase(Locale.ROOT);
    return v.equals("false") || v.equals("scalar") || v.equals("off") || v.equals("no");
  }

  private static KernelOps select(String[] reason) {
    String setting = System.getProperty(SIMD_PROPERTY, "auto");
    if (forcesScalar(setting)) {
      reason[0] = "scalar (forced by -D" + SIMD_PROPERTY + "=" + setting + ")";
      return ScalarKernels.INSTANCE;
    }
    KernelOps vector = VectorHolder.INSTANCE;
    if (vector == null) {
      reason[0] = VectorHolder.WHY_NOT[0];
      return ScalarKernels.INSTANCE;
    }
    reason[0] = vector.name() + " (jdk.incubator.vector; -D" + SIMD_PROPERTY
        + "=false forces scalar)";
    return vector;
  }

  private static KernelOps loadVector(String[] reason) {
    Optional<Module> module = ModuleLayer.boot().findModule("jdk.incubator.vector");
    if (module.isEmpty()) {
      reason[0] = "scalar (jdk.incubator.vector is not present; start the JVM with "
          + "--add-modules jdk.incubator.vector to use SIMD)";
      return null;
    }
    if (System.getProperty("java.vm.info", "").contains("interpreted mode")) {
      reason[0] = "scalar (the JVM runs interpreted only; the Vector API needs the JIT)";
      return null;
    }
    try {
      Module self = KernelOps.class.getModule();
      if (self.isNamed()) {
        self.addReads(module.get()); // our descriptor does not require the incubator module
      }
      Class<?> c = Class.forName("io.github.batchnorm4j.internal.VectorKernels");
      Method create = c.getDeclaredMethod("create");
      KernelOps ops = (KernelOps) create.invoke(null);
      if (ops == null) {
        reason[0] = "scalar (the preferred double vector is narrower than 256 bits)";
      }
      return ops;
    } catch (ReflectiveOperationException | LinkageError | RuntimeException e) {
      reason[0] = "scalar (the Vector API kernels failed to load: " + e + ")";
      return null;
    }
  }
}
