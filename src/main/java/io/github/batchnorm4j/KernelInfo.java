package io.github.batchnorm4j;

import io.github.batchnorm4j.internal.KernelOps;
import java.time.Duration;
import java.util.Optional;

/**
 * Which kernels this JVM runs, and why: a snapshot taken by {@link #current()}.
 *
 * <p>batchnorm4j has two sets of kernels and chooses one per JVM, at the first call that needs
 * them (or at the first {@code current()}):
 * <ul>
 *   <li><b>vector</b>: SIMD loops written with the incubating Vector API. They need the module
 *       {@code jdk.incubator.vector} in the JVM ({@value #VECTOR_FLAG} on the {@code java} command
 *       line, JDK 17 or newer), a JIT, and 256- or 512-bit double vectors (x86 with AVX2 or
 *       AVX-512, most ARM servers).
 *   <li><b>scalar</b>: plain Java loops, always available. Their training passes took about 1.5
 *       to 2 times the vector kernels' time on JDK 17 and 25, the eval forward 1.0 to 1.2 times
 *       (geometric means over the benchmark shapes at the defaults, in the runs final8 and final9;
 *       the latter in docs/generated); {@code
 *       -Dbatchnorm4j.simd=false} ({@link #FORCE_SCALAR_OPTION}) chooses them even where the
 *       vector kernels could run.
 * </ul>
 * Tensors of fewer than {@link #minVectorElements()} values always run on the scalar kernels.
 * Both sets keep the same accuracy contract (see {@link BatchNorm}); they may differ in the last
 * bits of a result.
 *
 * <p><b>The warm-up.</b> Until the JIT has compiled them, the vector kernels run many times slower
 * than the scalar ones (a first training step on (32, 64, 56, 56) took 0.7 s instead of 0.2 s). So
 * when they are chosen, calls run on the scalar kernels at first, while a daemon thread named
 * {@code batchnorm4j-warmup} runs the vector kernels on small blocks with the paths the program
 * uses until they are compiled (1 to 2 s on a busy 2-core machine; it takes at most half a core
 * and at most 2 s of CPU), then hands over to them ({@link #warmingUp()} turns false). Results computed during the warm-up
 * may therefore differ in the last bits from the same calls made later. {@link
 * #awaitWarmUp(Duration)} waits for the hand-over; {@code -Dbatchnorm4j.warmup=false} ({@link
 * #WARM_UP_PROPERTY}) runs the vector kernels from the first call instead.
 *
 * <p>The choice is also logged once through {@link System.Logger} (logger {@code
 * io.github.batchnorm4j}): at INFO, or at WARNING when the module is missing on a JDK where the
 * scalar kernels are markedly slower (JDK 17 to 24).
 *
 * <p>Examples:
 * <pre>{@code
 * KernelInfo k = KernelInfo.current();
 * System.out.println(k);
 * // kernels: vector, 512-bit (SIMD active), Java 17 ...
 * // or: kernels: scalar, Java 17; start the JVM with --add-modules jdk.incubator.vector for SIMD
 *
 * if (k.flagWouldHelp()) {
 *   System.err.println("add " + KernelInfo.VECTOR_FLAG + " to the java command line");
 * }
 *
 * // A benchmark or a test that wants the vector kernels from its first measured call:
 * KernelInfo.awaitWarmUp(Duration.ofSeconds(10));
 * }</pre>
 */
public final class KernelInfo {

  /** The {@code java} option that adds the Vector API module: {@value}. */
  public static final String VECTOR_FLAG = KernelOps.VECTOR_FLAG;

  /**
   * The system property that chooses the kernels: {@value}; {@code false} (or {@code scalar},
   * {@code off}, {@code no}) forces the scalar kernels.
   */
  public static final String SIMD_PROPERTY = KernelOps.SIMD_PROPERTY;

  /** The {@code java} option that forces the scalar kernels: {@value}. */
  public static final String FORCE_SCALAR_OPTION = "-D" + KernelOps.SIMD_PROPERTY + "=false";

  /**
   * The system property that controls the warm-up: {@value}; {@code false} runs the vector kernels
   * from the first call (slowly until the JIT has compiled them) and gives the same bits from the
   * start.
   */
  public static final String WARM_UP_PROPERTY = KernelOps.WARM_UP_PROPERTY;

  private final String implementation;
  private final boolean simdActive;
  private final boolean warmingUp;
  private final int vectorBits;
  private final String reason;
  private final String warmUp;
  private final int javaFeatureVersion;
  private final boolean vectorModulePresent;
  private final boolean flagWouldHelp;

  private KernelInfo() {
    KernelOps.State state = KernelOps.state();
    this.implementation = state == KernelOps.State.SCALAR ? "scalar" : "vector";
    this.warmingUp = state == KernelOps.State.WARMING_UP;
    this.simdActive = state == KernelOps.State.VECTOR;
    this.vectorBits = state == KernelOps.State.SCALAR ? 0 : KernelOps.vectorBits();
    this.reason = KernelOps.selectionReason();
    this.warmUp = KernelOps.warmUpOutcome().orElse(null);
    this.javaFeatureVersion = Runtime.version().feature();
    this.vectorModulePresent = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
    this.flagWouldHelp = KernelOps.flagWouldHelp(vectorModulePresent,
        KernelOps.forcesScalar(System.getProperty(SIMD_PROPERTY)),
        System.getProperty("java.vm.info", "").contains("interpreted mode"));
  }

  /**
   * Returns the kernels of this JVM, choosing them if no call has yet (which also starts the
   * warm-up, when there is one, and logs the choice).
   *
   * @return a snapshot; call again to see the warm-up's progress
   */
  public static KernelInfo current() {
    return new KernelInfo();
  }

  /**
   * Waits until the vector kernels have taken over from the scalar ones, or the warm-up has ended
   * otherwise; returns at once when there is no warm-up (scalar kernels, or {@code
   * -Dbatchnorm4j.warmup=false}). Chooses the kernels if no call has yet.
   *
   * @param timeout the longest to wait (a negative one as zero; one beyond about 292 years as
   *     that)
   * @return true if no warm-up is running any more, false if the time ran out
   * @throws IllegalArgumentException if timeout is null
   * @throws InterruptedException if the waiting thread is interrupted
   */
  public static boolean awaitWarmUp(Duration timeout) throws InterruptedException {
    if (timeout == null) {
      throw new IllegalArgumentException("timeout must not be null");
    }
    return KernelOps.awaitWarmUp(Math.max(0, saturatedNanos(timeout)));
  }

  /** {@return the duration in nanoseconds, Long.MIN_VALUE or MAX_VALUE where it does not fit} */
  static long saturatedNanos(Duration d) {
    try {
      return d.toNanos();
    } catch (ArithmeticException tooLong) {
      return d.isNegative() ? Long.MIN_VALUE : Long.MAX_VALUE;
    }
  }

  /**
   * {@return the smallest tensor, in values, that runs on the vector kernels when they are
   * chosen (smaller ones always run on the scalar kernels): 4,096}
   */
  public static int minVectorElements() {
    return KernelOps.MIN_VECTOR_ELEMENTS;
  }

  /**
   * {@return "vector" if this JVM runs the Vector API kernels on large tensors (now, or once the
   * warm-up is done), else "scalar"}
   */
  public String implementation() {
    return implementation;
  }

  /**
   * {@return true if large tensors run on the vector kernels now: they were chosen and the
   * warm-up, if any, has handed over to them}
   */
  public boolean simdActive() {
    return simdActive;
  }

  /**
   * {@return true while the vector kernels are chosen but still being compiled, so that calls run
   * on the scalar kernels}
   */
  public boolean warmingUp() {
    return warmingUp;
  }

  /** {@return the width of the vector kernels' double vectors, 256 or 512; 0 for scalar} */
  public int vectorBits() {
    return vectorBits;
  }

  /**
   * {@return why these kernels were chosen, as logged once, for example "vector 512-bit (8 double
   * lanes) (jdk.incubator.vector; -Dbatchnorm4j.simd=false forces scalar)" or "scalar
   * (jdk.incubator.vector is not present; start the JVM with --add-modules jdk.incubator.vector
   * to use SIMD)"}
   */
  public String reason() {
    return reason;
  }

  /**
   * {@return how the warm-up went: "running", or how it ended, for example "compiled after 640
   * ms (212 rounds, 4 of 4 kernel signatures compiled)"; empty when there is none}
   */
  public Optional<String> warmUp() {
    return Optional.ofNullable(warmUp);
  }

  /** {@return the feature version of the running JDK, such as 17 or 25} */
  public int javaFeatureVersion() {
    return javaFeatureVersion;
  }

  /** {@return whether the module {@code jdk.incubator.vector} is in this JVM} */
  public boolean vectorModulePresent() {
    return vectorModulePresent;
  }

  /**
   * {@return whether starting the JVM with {@link #VECTOR_FLAG} would choose the vector kernels:
   * the module is missing, {@link #FORCE_SCALAR_OPTION} is not set and the JVM has a JIT (the
   * vector width can only be checked once the module is there)}
   */
  public boolean flagWouldHelp() {
    return flagWouldHelp;
  }

  /** {@return one line: the kernels, the vector width, the state, the Java version, the advice} */
  @Override
  public String toString() {
    StringBuilder b = new StringBuilder("kernels: ").append(implementation);
    if (vectorBits > 0) {
      b.append(", ").append(vectorBits).append("-bit");
    }
    if (warmingUp) {
      b.append(" (warming up: scalar until compiled)");
    } else if (simdActive) {
      b.append(" (SIMD active)");
    }
    b.append(", Java ").append(javaFeatureVersion);
    if (flagWouldHelp) {
      b.append("; start the JVM with ").append(VECTOR_FLAG).append(" for SIMD");
    }
    b.append("; ").append(reason);
    return b.toString();
  }
}
