package io.github.batchnorm4j.internal;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.reflect.Method;

/**
 * Calls the Vector API kernels out of line: through method handles that C2 cannot inline, so that
 * each kernel method is compiled on its own and never inside a caller's compilation. Used before
 * JDK 25 ({@link KernelOps#callsOutOfLine}).
 *
 * <p>Why. A Vector API operation is fast only where C2 replaces it by its intrinsic, and the
 * intrinsic needs the vector species as a compile-time constant, which C2 sees only when the whole
 * chain of small Vector API methods under the call is inlined. Compiled on their own, the kernel
 * methods always got there. C2 inlines a kernel into the planner's large methods ({@link
 * BatchNormKernels}, which also inline the thread hand-off) when the kernel has no C2 code at that
 * moment, around a recompilation; that compilation can reach C2's node-count limit for inlining,
 * and some conversions ({@code convertShape}) are then left as calls into the Vector API's Java
 * fallback, which allocates per vector. Nothing recompiles that code afterwards. Measured on JDK
 * 17 (JMH, the eval forward of (8, 512, 7, 7), 100 forks each, with {@code -XX:+LogCompilation},
 * which makes it likelier): 8 of 230 forks ran 35 to 170 times slower, allocating about 9 bytes
 * per value; in the two slow forks whose logs were read, the planner's compilation had inlined
 * the kernel and 2 and 4 of its 8 conversions had lost their intrinsic. With the kernels out of
 * line: 0 of 100. Without the logging it hit about 1 fork in 100. JDK 25: 0 of 100 logged forks
 * with the kernels inlined.
 *
 * <p>How. C2 inlines through a method handle only when it can see the handle as a constant. These
 * handles live in fields that are deliberately not final (C2 folds no non-final field), so every
 * call goes through the handle's own compiled code, a separate compilation that inlines the kernel
 * method. A call allocates nothing. Its price is in docs/performance.md: the kernels compiled on
 * their own are slower on some training passes than inlined into the planner, for reasons not
 * yet found (the handle itself costs a few nanoseconds per call, far less).
 */
final class OutOfLineKernels extends KernelOps {

  private final KernelOps target;

  // Not final, on purpose (see the class comment). Written once in the constructor; the instance
  // is published through the static final selection holder, which makes them visible.
  private MethodHandle shiftedSums;
  private MethodHandle normalize;
  private MethodHandle normalizeRows;
  private MethodHandle shiftedSumsAcross;
  private MethodHandle backwardSumsAcross;
  private MethodHandle scaleGradAcross;
  private MethodHandle backwardSums;
  private MethodHandle backwardDx;
  private MethodHandle backwardDxRows;
  private MethodHandle scaleGradRows;
  private MethodHandle scaleGrad;

  OutOfLineKernels(KernelOps target) {
    super(target.minAutomaticElements());
    this.target = target;
    shiftedSums = handle("shiftedSums");
    normalize = handle("normalize");
    normalizeRows = handle("normalizeRows");
    shiftedSumsAcross = handle("shiftedSumsAcross");
    backwardSumsAcross = handle("backwardSumsAcross");
    scaleGradAcross = handle("scaleGradAcross");
    backwardSums = handle("backwardSums");
    backwardDx = handle("backwardDx");
    backwardDxRows = handle("backwardDxRows");
    scaleGradRows = handle("scaleGradRows");
    scaleGrad = handle("scaleGrad");
  }

  /** {@return the kernels this calls} */
  KernelOps target() {
    return target;
  }

  /** {@return KernelOps's kernel method of that name (declared once), bound to the target} */
  private MethodHandle handle(String method) {
    Method found = null;
    for (Method m : KernelOps.class.getDeclaredMethods()) {
      if (m.getName().equals(method)) {
        if (found != null) {
          throw new IllegalStateException("KernelOps." + method + " is overloaded");
        }
        found = m;
      }
    }
    if (found == null) {
      throw new IllegalStateException("KernelOps." + method + " not found");
    }
    try {
      return MethodHandles.lookup().unreflect(found).bindTo(target);
    } catch (IllegalAccessException e) {
      throw new IllegalStateException("KernelOps." + method + " not accessible", e);
    }
  }

  /**
   * The kernels throw nothing checked; anything else escaping invokeExact is a bug here. Also
   * used by {@link ScalarKernels#normalize}'s handle call.
   */
  static RuntimeException rethrow(Throwable t) {
    if (t instanceof RuntimeException) {
      throw (RuntimeException) t;
    }
    if (t instanceof Error) {
      throw (Error) t;
    }
    throw new IllegalStateException(t);
  }

  @Override
  public String name() {
    return target.name();
  }

  @Override
  void shiftedSums(float[] x, int base, int stride, int planes, int len, double shift,
      double[] out, int o) {
    try {
      shiftedSums.invokeExact(x, base, stride, planes, len, shift, out, o);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  @Override
  void normalize(float[] x, float[] y, int base, int stride, int planes, int len, double mean,
      double alpha, double beta, boolean relu) {
    try {
      normalize.invokeExact(x, y, base, stride, planes, len, mean, alpha, beta, relu);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  @Override
  void normalizeRows(float[] x, float[] y, int base, int rows, int channels, int len,
      double[] mean, double[] alpha, double[] beta, boolean relu) {
    try {
      normalizeRows.invokeExact(x, y, base, rows, channels, len, mean, alpha, beta, relu);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  @Override
  void shiftedSumsAcross(float[] x, int r0, int r1, int channels, int len, int c0, int c1,
      double[] shift, double[] out, int o, int outStride) {
    try {
      shiftedSumsAcross.invokeExact(x, r0, r1, channels, len, c0, c1, shift, out, o, outStride);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  @Override
  void backwardSumsAcross(float[] x, float[] dy, float[] reluOutput, int r0, int r1,
      int channels, int len, int c0, int c1, double[] pivot, double[] out, int o, int outStride) {
    try {
      backwardSumsAcross.invokeExact(x, dy, reluOutput, r0, r1, channels, len, c0, c1, pivot, out,
          o, outStride);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  @Override
  void scaleGradAcross(float[] x, float[] dy, float[] reluOutput, float[] dx, int r0, int r1,
      int channels, int len, int c0, int c1, double[] center, double[] scale, double[] out, int o,
      int outStride) {
    try {
      scaleGradAcross.invokeExact(x, dy, reluOutput, dx, r0, r1, channels, len, c0, c1, center,
          scale, out, o, outStride);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  @Override
  void backwardSums(float[] x, float[] dy, float[] reluOutput, int base, int stride, int planes,
      int len, double pivot, double[] out, int o) {
    try {
      backwardSums.invokeExact(x, dy, reluOutput, base, stride, planes, len, pivot, out, o);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  @Override
  void backwardDx(float[] x, float[] dy, float[] reluOutput, float[] dx, int base, int stride,
      int planes, int len, double mean, double meanDy, double k, double scale) {
    try {
      backwardDx.invokeExact(x, dy, reluOutput, dx, base, stride, planes, len, mean, meanDy, k,
          scale);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  @Override
  void backwardDxRows(float[] x, float[] dy, float[] reluOutput, float[] dx, int base, int rows,
      int channels, int len, double[] mean, double[] meanDy, double[] k, double[] scale) {
    try {
      backwardDxRows.invokeExact(x, dy, reluOutput, dx, base, rows, channels, len, mean, meanDy, k,
          scale);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  @Override
  void scaleGradRows(float[] dy, float[] reluOutput, float[] dx, int base, int rows, int channels,
      int len, double[] scale) {
    try {
      scaleGradRows.invokeExact(dy, reluOutput, dx, base, rows, channels, len, scale);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  @Override
  void scaleGrad(float[] x, float[] dy, float[] reluOutput, float[] dx, int base, int stride,
      int planes, int len, double center, double scale, boolean sums, double[] out, int o) {
    try {
      scaleGrad.invokeExact(x, dy, reluOutput, dx, base, stride, planes, len, center, scale, sums,
          out, o);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }
}
