package io.github.batchnorm4j.torch;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.util.Arrays;

/**
 * Runs PyTorch's own batch normalization ({@code torch::nn::functional::batch_norm} of libtorch
 * 2.7.1, CPU, float32) through DJL's PyTorch engine, offline, for differential tests and for writing
 * golden fixtures. Test code only.
 *
 * <h2>How the call reaches libtorch</h2>
 *
 * <p>DJL 0.36 offers two routes. {@code NDArrayEx.batchNorm} takes the momentum as a {@code float} in
 * the Keras/MXNet convention and hands {@code (double) (1f - momentum)} to torch, so it rounds the
 * factor twice. This harness uses the lower route instead: the package-private native method
 * {@code PyTorchLibrary.torchNNBatchNorm(input, runningMean, runningVar, weight, bias, training,
 * double momentum, double eps)} (the same one {@link JniUtils#batchNorm} calls), which passes the
 * factor and eps as {@code double}, unchanged, in PyTorch's convention (new = (1 - f) * old + f *
 * batch). Reaching it by reflection lets weight and bias be passed as the null handle, which libtorch
 * receives as undefined tensors: exactly what {@code F.batch_norm(x, ..., weight=None, bias=None)}
 * does for {@code affine=False}. If reflection is refused, the harness falls back to the public
 * {@link JniUtils#batchNorm} with weight = ones and bias = zeros (no gradient), which PyTorch's CPU
 * kernel treats identically (it substitutes 1 and 0 for undefined weight and bias); {@link
 * #passesUndefinedAffine()} tells which route is in use.
 *
 * <p>The native code dereferences the running-statistics handles unconditionally, so "no running
 * statistics" cannot be passed as null. When {@code runningMean == null} the harness passes throwaway
 * buffers (zeros and ones) and discards them. That is only allowed with {@code training = true}, where
 * the output and the gradients use the batch statistics alone and the buffers are merely written:
 * the result is the same as {@code F.batch_norm(x, None, None, ..., training=True)}.
 *
 * <h2>Gradients</h2>
 *
 * <p>When {@code dy != null}, x (and weight and bias when given) are marked as requiring gradients,
 * the forward runs inside a DJL {@link GradientCollector}, and {@code sum(y * dy)} is
 * back-propagated. The gradients are therefore fresh for each call ({@code .grad} starts at None):
 * the PyTorch equivalent of zeroing the gradients before every step. d(sum(y*dy))/dy is exactly dy,
 * so the result equals {@code y.backward(dy)}.
 *
 * <p>Not thread-safe; DJL allows one gradient collector at a time per JVM.
 */
public final class TorchBatchNorm implements AutoCloseable {

  /** The results of one call; arrays are fresh copies, null where the quantity does not exist. */
  public record Result(
      float[] y,
      float[] dx,
      float[] weightGrad,
      float[] biasGrad,
      float[] runningMean,
      float[] runningVar) {}

  private final Engine engine;
  private final NDManager manager;
  private final Method nativeBatchNorm; // null when reflection is unavailable
  private final Object library;

  private TorchBatchNorm(Engine engine, NDManager manager, Method nativeBatchNorm, Object library) {
    this.engine = engine;
    this.manager = manager;
    this.nativeBatchNorm = nativeBatchNorm;
    this.library = library;
  }

  /**
   * Loads the PyTorch engine offline on the CPU. The native libraries come from the
   * pytorch-native-cpu jar on the class path (DJL extracts them to ~/.djl.ai once).
   */
  public static TorchBatchNorm open() {
    return open(true);
  }

  /**
   * Opens the engine; with {@code nativeRoute = false} every call goes through the public {@link
   * JniUtils#batchNorm} (affine=false as ones and zeros), to check that both routes agree.
   */
  static TorchBatchNorm open(boolean nativeRoute) {
    if (System.getProperty("ai.djl.offline") == null) {
      System.setProperty("ai.djl.offline", "true");
    }
    Engine engine = Engine.getEngine("PyTorch");
    NDManager manager = engine.newBaseManager(Device.cpu());
    Method m = null;
    Object lib = null;
    try {
      if (!nativeRoute) {
        throw new IllegalStateException("public route requested");
      }
      Class<?> c = Class.forName("ai.djl.pytorch.jni.PyTorchLibrary");
      Field f = c.getDeclaredField("LIB");
      f.setAccessible(true);
      lib = f.get(null);
      m = c.getDeclaredMethod(
          "torchNNBatchNorm",
          long.class, long.class, long.class, long.class, long.class,
          boolean.class, double.class, double.class);
      m.setAccessible(true);
    } catch (ReflectiveOperationException | RuntimeException e) {
      m = null;
      lib = null;
    }
    return new TorchBatchNorm(engine, manager, m, lib);
  }

  /** The libtorch version DJL loaded, e.g. "2.7.1". */
  public String torchVersion() {
    return engine.getVersion();
  }

  /**
   * Whether affine=false is passed to libtorch as undefined weight and bias (true) or as ones and
   * zeros through the public DJL route (false; numerically identical on the CPU kernel).
   */
  public boolean passesUndefinedAffine() {
    return nativeBatchNorm != null;
  }

  /**
   * One call of {@code torch.nn.functional.batch_norm(x, runningMean, runningVar, weight, bias,
   * training, momentumFactor, eps)} and, if {@code dy != null}, its backward.
   *
   * @param shape input shape (N, C, *spatial) with 0 to 3 spatial dimensions
   * @param x input, row-major; not modified
   * @param dy upstream gradient of the same shape, or null for forward only; not modified
   * @param weight gamma (length C), or null for affine=false (then bias must be null too)
   * @param bias beta (length C), or null
   * @param runningMean running mean (length C) or null for no running statistics; not modified (the
   *     updated copy is returned)
   * @param runningVar running variance, null exactly when runningMean is
   * @param training batch statistics (true) or running statistics (false)
   * @param momentumFactor the exponential-average factor f actually applied: new = (1 - f) * old + f
   *     * batch; for the cumulative average pass 1 / numBatchesTracked (after incrementing)
   * @param eps added to the variance
   */
  public Result run(
      int[] shape,
      float[] x,
      float[] dy,
      float[] weight,
      float[] bias,
      float[] runningMean,
      float[] runningVar,
      boolean training,
      double momentumFactor,
      double eps) {
    if (shape.length < 2 || shape.length > 5) {
      throw new IllegalArgumentException("shape must be (N, C, *spatial) of rank 2..5: " + Arrays.toString(shape));
    }
    int c = shape[1];
    long numel = 1;
    for (int d : shape) {
      numel *= d;
    }
    check(x.length == numel, "x has length " + x.length + " but shape " + Arrays.toString(shape) + " needs " + numel);
    check(dy == null || dy.length == numel, "dy has the wrong length " + (dy == null ? 0 : dy.length));
    check((weight == null) == (bias == null), "weight and bias must both be given or both be null");
    check(weight == null || (weight.length == c && bias.length == c), "weight/bias must have length C = " + c);
    check((runningMean == null) == (runningVar == null), "runningMean and runningVar must both be given or both be null");
    check(runningMean == null || (runningMean.length == c && runningVar.length == c), "running stats must have length C = " + c);
    check(runningMean != null || training,
        "without running statistics only training=true (batch statistics) is defined");

    try (NDManager m = manager.newSubManager()) {
      Shape s = new Shape(Arrays.stream(shape).asLongStream().toArray());
      Shape cs = new Shape(c);
      PtNDArray xa = (PtNDArray) m.create(x.clone(), s);
      PtNDArray wa = weight == null ? null : (PtNDArray) m.create(weight.clone(), cs);
      PtNDArray ba = bias == null ? null : (PtNDArray) m.create(bias.clone(), cs);
      float[] rmInit = runningMean != null ? runningMean.clone() : new float[c];
      float[] rvInit = runningVar != null ? runningVar.clone() : filled(c, 1f);
      PtNDArray rm = (PtNDArray) m.create(rmInit, cs);
      PtNDArray rv = (PtNDArray) m.create(rvInit, cs);

      float[] y;
      float[] dx = null;
      float[] dw = null;
      float[] db = null;
      if (dy == null) {
        PtNDArray out = batchNorm(m, xa, rm, rv, wa, ba, training, momentumFactor, eps, c);
        y = out.toFloatArray();
      } else {
        PtNDArray dya = (PtNDArray) m.create(dy.clone(), s);
        xa.setRequiresGradient(true);
        if (wa != null) {
          wa.setRequiresGradient(true);
          ba.setRequiresGradient(true);
        }
        try (GradientCollector gc = engine.newGradientCollector()) {
          PtNDArray out = batchNorm(m, xa, rm, rv, wa, ba, training, momentumFactor, eps, c);
          NDArray loss = out.mul(dya).sum();
          gc.backward(loss);
          y = out.stopGradient().toFloatArray();
        }
        dx = xa.getGradient().toFloatArray();
        if (wa != null) {
          dw = wa.getGradient().toFloatArray();
          db = ba.getGradient().toFloatArray();
        }
      }
      float[] rmOut = runningMean == null ? null : rm.toFloatArray();
      float[] rvOut = runningVar == null ? null : rv.toFloatArray();
      return new Result(y, dx, dw, db, rmOut, rvOut);
    }
  }

  private PtNDArray batchNorm(
      NDManager m, PtNDArray x, PtNDArray rm, PtNDArray rv, PtNDArray w, PtNDArray b,
      boolean training, double f, double eps, int c) {
    if (nativeBatchNorm != null) {
      try {
        long handle = (Long) nativeBatchNorm.invoke(
            library,
            x.getHandle(), rm.getHandle(), rv.getHandle(),
            w == null ? 0L : w.getHandle(), b == null ? 0L : b.getHandle(),
            training, f, eps);
        return new PtNDArray(x.getManager(), handle);
      } catch (ReflectiveOperationException e) {
        Throwable cause = e.getCause() != null ? e.getCause() : e;
        if (cause instanceof RuntimeException) {
          throw (RuntimeException) cause;
        }
        throw new IllegalStateException("torchNNBatchNorm failed: " + cause, cause);
      }
    }
    PtNDArray ww = w != null ? w : (PtNDArray) m.ones(new Shape(c), DataType.FLOAT32);
    PtNDArray bb = b != null ? b : (PtNDArray) m.zeros(new Shape(c), DataType.FLOAT32);
    return JniUtils.batchNorm(x, rm, rv, ww, bb, training, f, eps);
  }

  private static float[] filled(int n, float v) {
    float[] a = new float[n];
    Arrays.fill(a, v);
    return a;
  }

  private static void check(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException(message);
    }
  }

  @Override
  public void close() {
    manager.close();
  }
}
