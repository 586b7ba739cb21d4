package io.github.batchnorm4j;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Locale;

/**
 * Measures the busy guard of {@link BatchNorm}'s forward and backward (issue 15) with
 * System.nanoTime: the guard alone (a compare-and-set and a release store on a VarHandle, as in
 * BatchNorm), and the smallest module call next to the same kernel called through
 * {@link BatchNormFunctional} (no guard, no module checks). Not a test (surefire does not pick it
 * up); run it after {@code ./mvnw test-compile}:
 *
 * <pre>
 * java -cp target/classes:target/test-classes io.github.batchnorm4j.GuardCostHarness
 * </pre>
 */
public final class GuardCostHarness {

  private volatile int busy;
  private static final VarHandle BUSY;

  static {
    try {
      BUSY = MethodHandles.lookup().findVarHandle(GuardCostHarness.class, "busy", int.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private GuardCostHarness() {}

  /**
   * Runs the measurements and prints ns per call, five rounds each.
   *
   * @param args ignored
   */
  public static void main(String[] args) {
    GuardCostHarness g = new GuardCostHarness();
    long sink = 0;
    int n = 50_000_000;
    for (int round = 0; round < 5; round++) {
      long t0 = System.nanoTime();
      for (int i = 0; i < n; i++) {
        if (!BUSY.compareAndSet(g, 0, 1)) {
          throw new IllegalStateException();
        }
        sink += i;
        BUSY.setRelease(g, 0);
      }
      long t1 = System.nanoTime();
      for (int i = 0; i < n; i++) {
        sink += i;
      }
      long t2 = System.nanoTime();
      System.out.printf(Locale.ROOT, "guard alone: %.2f ns/call (the same loop without it: %.2f)%n",
          (t1 - t0) / (double) n, (t2 - t1) / (double) n);
    }
    BatchNorm2d bn = new BatchNorm2d(4);
    bn.eval();
    Tensor x = Tensor.of(Shape.of(1, 4, 2, 2), new float[16]);
    Tensor y = Tensor.zeros(x.shape());
    int m = 5_000_000;
    BatchNormOptions options = bn.options();
    AffineParameters affine = new AffineParameters(bn.weight(), bn.bias());
    ChannelStatistics running = new ChannelStatistics(bn.runningMean(), bn.runningVar());
    for (int round = 0; round < 5; round++) {
      long t0 = System.nanoTime();
      for (int i = 0; i < m; i++) {
        bn.forward(x, y);
      }
      long t1 = System.nanoTime();
      for (int i = 0; i < m; i++) {
        BatchNormFunctional.forwardInference(options, x.shape(), x.data(), y.data(), affine,
            running);
      }
      long t2 = System.nanoTime();
      System.out.printf(Locale.ROOT, "eval forward (1, 4, 2, 2): module %.1f ns/call, functional"
          + " %.1f ns/call%n", (t1 - t0) / (double) m, (t2 - t1) / (double) m);
    }
    System.out.println(sink == 42 ? "" : "done");
  }
}
