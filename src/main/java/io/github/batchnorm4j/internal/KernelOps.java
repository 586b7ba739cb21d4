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
 *   <li>Every elementwise result is close to the exact value of the formula on the float inputs
 *       and the double constants: the Vector API kernels (and the scalar ones on JDK 25 and later)
 *       compute it in double and round once, within half an ulp; the scalar kernels of JDK 17
 *       compute it in float with the constants split into two floats (C2 vectorizes float loops on
 *       every JDK, double ones on float data only from JDK 25): y within about half an ulp of y
 *       plus half an ulp of its shift b (absolute, so many ulps of y where y is near 0), dx within
 *       about one ulp of its largest term. An
 *       element's value does not depend on where it lies in a block (vector body or scalar tail
 *       give the same bits), so any split of the elementwise work gives identical output.
 *   <li>A reduction over a block is a function of the block alone: it adds in an order fixed by
 *       the block's geometry, in double. (The Vector API kernels add most terms of long runs in
 *       float lanes first, at most 16 a lane, the statistics around local means taken from the
 *       block itself, and only these partial sums in double: the variance is then within about a
 *       float ulp of exact instead of 1e-14; sum g, dbias, stays in double. The scalar kernels
 *       of JDK 17 and 21 do the same for the backward's sum g (x - P) and sum (x - P), in eight
 *       float accumulators of at most 16 terms each.)
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

  /** See {@link #minAutomaticElements()}. */
  private final int minAutomaticElements;

  /**
   * @param minAutomaticElements the smallest call these kernels share between threads when the
   *     thread count is automatic
   */
  KernelOps(int minAutomaticElements) {
    this.minAutomaticElements = minAutomaticElements;
  }

  /**
   * {@return the smallest call with sums (in values) that these kernels share between threads when
   * the thread count is automatic} Kernels that do more work per value gain from a second thread
   * on smaller calls ({@link ChannelParallel#MIN_AUTOMATIC_ELEMENTS}, {@link
   * ChannelParallel#MIN_AUTOMATIC_SCALAR_ELEMENTS}).
   */
  public final int minAutomaticElements() {
    return minAutomaticElements;
  }

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
  // Selection, once per JVM (the Lucene VectorizationProvider pattern), and the warm-up.

  /**
   * The system property that turns the background warm-up off: with {@code
   * -Dbatchnorm4j.warmup=false} the Vector API kernels run from the first call (slowly until C2
   * has compiled them), which makes every call give the same bits from the start.
   */
  public static final String WARM_UP_PROPERTY = "batchnorm4j.warmup";

  /** The JVM option that puts the Vector API module into the boot layer. */
  public static final String VECTOR_FLAG = "--add-modules jdk.incubator.vector";

  /**
   * From this Java feature version on, a JVM without {@link #VECTOR_FLAG} logs its choice at INFO;
   * below it, at WARNING. Chosen when, without the module, JDK 17 was 3.7 to 5.7 times slower
   * (geometric means per pass, benchmarks/results/defaults-jdk17.json) and JDK 25 1.5 to 2.5
   * times (-jdk25.json), JDK 25's C2 vectorizing more of the plain loops. The no-flag kernels
   * rewritten since narrowed the gap on JDK 17: in the run final8 (benchmarks/results), defaults
   * against defaults, the scalar kernels' training forward, eval forward and backward took 1.83,
   * 1.04 and 1.89 times the vector kernels' time on JDK 17, and 1.68, 1.20 and 1.58 on JDK 25;
   * in the run final9 (docs/generated), 2.00, 1.22 and 1.53 on JDK 17, and 1.61, 1.08 and 1.71
   * on JDK 25. JDK 17 gives up more in the training forward in both runs (and in one other pass
   * in each), so it keeps the warning. JDK 21 was not measured (this machine has no JDK 21); it
   * warns, as the issue asks for JDK 17 and 21 at least.
   */
  public static final int QUIET_FROM_FEATURE = 25;

  /**
   * Below this Java feature version the Vector API kernels are called through {@link
   * OutOfLineKernels}, which keeps C2 from compiling them inside the planner's methods (its class
   * comment has the JDK 17 failure this prevents and the measurements). JDK 25 showed no such
   * failure and calls them directly; JDK 21 was not measured and is treated as JDK 17.
   */
  public static final int INLINED_FROM_FEATURE = 25;

  /**
   * {@return whether the Vector API kernels are called out of line on this Java feature version}
   *
   * @param javaFeature the feature version, such as 17
   */
  public static boolean callsOutOfLine(int javaFeature) {
    return javaFeature < INLINED_FROM_FEATURE;
  }

  /** {@return the kernels chosen at start-up (see the class comment for the rules)} */
  public static KernelOps get() {
    return Holder.SELECTION.chosen;
  }

  /**
   * Tensors with fewer elements than this run on the scalar kernels even when the Vector API ones
   * were chosen: their blocks are too short for vectors to pay, and small models stay free of the
   * Vector API's warm-up (until C2 has compiled a Vector API loop, the interpreter and C1 run it
   * slowly and allocate a box per vector operation).
   */
  public static final int MIN_VECTOR_ELEMENTS = 1 << 12;

  /**
   * {@return the kernels for a tensor of {@code elements} values: {@link #get()}, or scalar for
   * small tensors and while the Vector API kernels are warming up}
   *
   * @param elements the number of values in the tensor
   */
  public static KernelOps forSize(long elements) {
    return elements < MIN_VECTOR_ELEMENTS ? ScalarKernels.INSTANCE : Holder.SELECTION.active;
  }

  /**
   * The most terms a float accumulator of a sum adds (a float lane of the Vector API kernels, a
   * float variable of the scalar ones) before it is widened and added to a double sum: its rounding
   * then stays within about this many float ulps of the block's terms.
   */
  static final int FLOAT_BLOCK = 16;

  /**
   * A float-accumulated sum of squares or products whose mean is below this is recomputed in
   * double: its terms may have fallen below float's normal range (1.2e-38), where they lose bits or
   * vanish (measured: 3e-3 relative error on the variance of data of scale 1e-22). Sums of
   * well-scaled data that cancel to below it only pay the double sums' time.
   */
  static final double TINY_MEAN_SQUARE = 1e-30;

  /**
   * {@return whether backward sums computed partly in float ({@link #backwardSums}'s three, at
   * {@code out[o]}) can stand: all finite, and {@code sum g (x - pivot)} not so small that its
   * float terms may have fallen below float's normal range ({@link #TINY_MEAN_SQUARE}); otherwise
   * the caller redoes them in double}
   *
   * @param out the sums
   * @param o the index of the first
   * @param planes the planes summed
   * @param len the values of each plane
   */
  static boolean floatBackwardSumsHold(double[] out, int o, int planes, int len) {
    return Double.isFinite(out[o]) && Double.isFinite(out[o + 1]) && Double.isFinite(out[o + 2])
        && Math.abs(out[o + 1]) >= TINY_MEAN_SQUARE * planes * len;
  }

  /**
   * Writes the backward's three sums, taken around the float pivot {@code p}, moved to {@code
   * pivot} in double: {@code sum (x - pivot) = sum (x - p) + n (p - pivot)} and {@code sum g (x -
   * pivot) = sum g (x - p) + (p - pivot) sum g} ({@code p - pivot} is exact: two close doubles).
   * Shared by the scalar and Vector API float accumulators.
   */
  static void writeBackwardSums(double[] out, int o, double sumGrad, double sumGradCentered,
      double sumCentered, float p, double pivot, int planes, int len) {
    final double shiftBack = p - pivot;
    out[o] = sumGrad;
    out[o + 1] = sumGradCentered + shiftBack * sumGrad;
    out[o + 2] = sumCentered + shiftBack * ((double) planes * len);
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
    return Holder.SELECTION.reason;
  }

  /**
   * {@return true while the Vector API kernels are chosen but not yet compiled, so that {@link
   * #forSize} still hands out the scalar kernels}
   */
  public static boolean warmingUp() {
    Selection s = Holder.SELECTION;
    return s.warmUp != null && s.warmUpResult == null;
  }

  /** What large tensors run on. */
  public enum State {
    /** The scalar kernels, for good. */
    SCALAR,
    /** The scalar kernels while the Vector API kernels are warming up. */
    WARMING_UP,
    /** The Vector API kernels. */
    VECTOR
  }

  /** {@return what {@link #forSize} hands out for large tensors now, from one consistent read} */
  public static State state() {
    Selection s = Holder.SELECTION;
    if (s.chosen == ScalarKernels.INSTANCE) {
      return State.SCALAR;
    }
    if (s.warmUp == null) {
      return State.VECTOR;
    }
    VectorWarmUp.Result r = s.warmUpResult;
    return r == null ? State.WARMING_UP : r.vectorTakesOver() ? State.VECTOR : State.SCALAR;
  }

  /**
   * {@return how the warm-up ended, such as "compiled after 640 ms (212 rounds, 4 of 4 kernel
   * signatures compiled)"; "running" while it runs; empty when there is none (scalar kernels, or
   * {@code -Dbatchnorm4j.warmup=false})}
   */
  public static Optional<String> warmUpOutcome() {
    Selection s = Holder.SELECTION;
    if (s.warmUp == null) {
      return Optional.empty();
    }
    VectorWarmUp.Result r = s.warmUpResult;
    return Optional.of(r == null ? "running" : r.toString());
  }

  /**
   * Waits until the warm-up has ended (at once when there is none).
   *
   * @param nanos the longest to wait
   * @return true if no warm-up is running any more
   * @throws InterruptedException if the waiting thread is interrupted
   */
  public static boolean awaitWarmUp(long nanos) throws InterruptedException {
    VectorWarmUp w = Holder.SELECTION.warmUp;
    return w == null || w.await(nanos);
  }

  /** {@return the width in bits of the double vectors of the chosen kernels; 0 for scalar} */
  public static int vectorBits() {
    return state() == State.SCALAR ? 0 : VectorHolder.BITS;
  }

  /**
   * {@return whether a value of {@code -Dbatchnorm4j.simd} forces the scalar kernels}
   *
   * @param setting the property's value, or null
   */
  public static boolean forcesScalar(String setting) {
    return isOff(setting);
  }

  /**
   * {@return whether a value of {@code -Dbatchnorm4j.warmup} turns the warm-up off}
   *
   * @param setting the property's value, or null
   */
  public static boolean disablesWarmUp(String setting) {
    return isOff(setting);
  }

  private static boolean isOff(String setting) {
    String v = setting == null ? "" : setting.trim().toLowerCase(Locale.ROOT);
    return v.equals("false") || v.equals("scalar") || v.equals("off") || v.equals("no");
  }

  /**
   * {@return whether starting this JVM with {@link #VECTOR_FLAG} would make the library choose the
   * Vector API kernels: the module is absent, nothing forces scalar and the JIT runs (the vector
   * width is checked only once the module is there)}
   *
   * @param modulePresent whether {@code jdk.incubator.vector} is in the boot layer
   * @param forcedScalar whether {@code -Dbatchnorm4j.simd} forces the scalar kernels
   * @param interpretedOnly whether the JVM runs without a JIT ({@code -Xint})
   */
  public static boolean flagWouldHelp(boolean modulePresent, boolean forcedScalar,
      boolean interpretedOnly) {
    return !modulePresent && !forcedScalar && !interpretedOnly;
  }

  /**
   * The WARNING logged once when a JVM that is markedly slower without the Vector API module
   * lacks it, like Lucene's "Java vector incubator module is not readable"; empty where the
   * choice is logged at INFO (the module is present, scalar is forced, the JVM is interpreted
   * only, or the feature version is at least {@link #QUIET_FROM_FEATURE}).
   *
   * @param javaFeature {@code Runtime.version().feature()}
   * @param modulePresent whether {@code jdk.incubator.vector} is in the boot layer
   * @param forcedScalar whether {@code -Dbatchnorm4j.simd} forces the scalar kernels
   * @param interpretedOnly whether the JVM runs without a JIT ({@code -Xint})
   * @return the message, or empty
   */
  public static Optional<String> missingModuleWarning(int javaFeature, boolean modulePresent,
      boolean forcedScalar, boolean interpretedOnly) {
    if (!flagWouldHelp(modulePresent, forcedScalar, interpretedOnly)
        || javaFeature >= QUIET_FROM_FEATURE) {
      return Optional.empty();
    }
    return Optional.of("batchnorm4j: the Java vector incubator module is not readable, so its "
        + "scalar kernels run; their training passes took 1.5 to 2 times as long as its SIMD "
        + "kernels' on Java 17 (this JVM: Java " + javaFeature + "). For SIMD, start the JVM with '"
        + VECTOR_FLAG + "'; -D" + SIMD_PROPERTY
        + "=false chooses the scalar kernels without this warning.");
  }

  /** The choice of this JVM; the warm-up's outcome arrives later, on its thread. */
  private static final class Selection {
    final KernelOps chosen;
    final String reason;
    /** The warm-up, or null when the chosen kernels run from the start. */
    final VectorWarmUp warmUp;
    /** What {@link #forSize} hands out for large tensors: scalar until the warm-up is done. */
    volatile KernelOps active;
    volatile VectorWarmUp.Result warmUpResult;

    Selection(KernelOps chosen, String reason, boolean warm) {
      this.chosen = chosen;
      this.reason = reason;
      this.warmUp = warm ? new VectorWarmUp(chosen, this::warmedUp) : null;
      this.active = warm ? warmUp.recorder() : chosen;
    }

    private void warmedUp(VectorWarmUp.Result result) {
      warmUpResult = result;
      if (result.vectorTakesOver()) {
        active = warmUp.vector();
        LOG.log(System.Logger.Level.DEBUG, "batchnorm4j kernels: " + chosen.name()
            + " in use, warm-up " + result);
      } else {
        // The flag was given, yet the vector kernels did not come near compiled speed: a JVM
        // without C2 (-XX:TieredStopAtLevel=1) or one starved of CPU. Scalar is the safe choice.
        LOG.log(System.Logger.Level.WARNING, "batchnorm4j kernels: staying on the scalar kernels: "
            + "the Vector API kernels did not reach compiled speed (warm-up " + result + "); -D"
            + WARM_UP_PROPERTY + "=false uses them without this check");
      }
    }
  }

  private static final System.Logger LOG = System.getLogger("io.github.batchnorm4j");

  private static final class Holder {
    static final Selection SELECTION;

    static {
      String[] reason = new String[1];
      KernelOps chosen = select(reason);
      boolean warm = chosen != ScalarKernels.INSTANCE
          && !disablesWarmUp(System.getProperty(WARM_UP_PROPERTY));
      SELECTION = new Selection(chosen, reason[0], warm);
      Optional<String> warning = missingModuleWarning(Runtime.version().feature(),
          ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent(),
          forcesScalar(System.getProperty(SIMD_PROPERTY)), interpretedOnly());
      if (warning.isPresent()) {
        LOG.log(System.Logger.Level.WARNING, warning.get());
      } else {
        LOG.log(System.Logger.Level.INFO, "batchnorm4j kernels: " + reason[0] + (warm
            ? "; the scalar kernels run until the thread " + VectorWarmUp.THREAD_NAME
                + " has had these compiled (-D" + WARM_UP_PROPERTY + "=false: from the start)"
            : ""));
      }
      if (warm) {
        SELECTION.warmUp.start();
      }
    }
  }

  private static final class VectorHolder {
    static final String[] WHY_NOT = new String[1];
    static final KernelOps INSTANCE = loadVector(WHY_NOT);
    static final int BITS = INSTANCE == null ? 0 : preferredDoubleBits();
  }

  private static boolean interpretedOnly() {
    return System.getProperty("java.vm.info", "").contains("interpreted mode");
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

  /** The preferred double species' width, through the public Vector API (read only when loaded). */
  private static int preferredDoubleBits() {
    try {
      Object species = Class.forName("jdk.incubator.vector.DoubleVector")
          .getField("SPECIES_PREFERRED").get(null);
      return (Integer) Class.forName("jdk.incubator.vector.VectorSpecies")
          .getMethod("vectorBitSize").invoke(species);
    } catch (ReflectiveOperationException | RuntimeException e) {
      return 0;
    }
  }

  private static KernelOps loadVector(String[] reason) {
    Optional<Module> module = ModuleLayer.boot().findModule("jdk.incubator.vector");
    if (module.isEmpty()) {
      reason[0] = "scalar (jdk.incubator.vector is not present; start the JVM with "
          + VECTOR_FLAG + " to use SIMD)";
      return null;
    }
    if (interpretedOnly()) {
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
        return null;
      }
      return callsOutOfLine(Runtime.version().feature()) ? new OutOfLineKernels(ops) : ops;
    } catch (ReflectiveOperationException | LinkageError | RuntimeException e) {
      reason[0] = "scalar (the Vector API kernels failed to load: " + e + ")";
      return null;
    }
  }
}
