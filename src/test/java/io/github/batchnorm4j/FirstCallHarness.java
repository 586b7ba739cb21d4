package io.github.batchnorm4j;

import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Measures what a short job meets in a fresh JVM (issue 13, item 4): the wall time of the first
 * training forward + backward of a {@code BatchNorm2d} on (32, 64, 56, 56), selection of the
 * kernels included, then of the following steps. Not a test (surefire does not pick it up); each
 * run must be a fresh JVM, which is what {@code benchmarks/first-call.sh} does, five times without
 * and five times with {@code --add-modules jdk.incubator.vector}:
 *
 * <pre>
 * ./mvnw -o -q test-compile
 * java -cp target/classes:target/test-classes io.github.batchnorm4j.FirstCallHarness [steps]
 * java --add-modules jdk.incubator.vector -cp target/classes:target/test-classes \
 *     io.github.batchnorm4j.FirstCallHarness [steps]
 * </pre>
 *
 * <p>Prints one line: {@code first=<ms> steps=<ms,ms,...> total=<ms> kernels=<...>
 * warm-up=<...>}: the first step, every step, their sum, which kernels ran at the end and how the
 * warm-up went ({@link KernelInfo}). The data is made before the clock starts; nothing of the
 * library has run before the first step.
 */
public final class FirstCallHarness {

  private FirstCallHarness() {}

  /**
   * Runs the steps and prints the line.
   *
   * @param args optionally the number of steps (default 10)
   */
  public static void main(String[] args) {
    int steps = args.length > 0 ? Integer.parseInt(args[0]) : 10;
    int n = 32;
    int c = 64;
    int h = 56;
    int w = 56;
    int size = n * c * h * w;
    SplittableRandom random = new SplittableRandom(42);
    float[] xData = new float[size];
    float[] dyData = new float[size];
    for (int i = 0; i < size; i++) {
      xData[i] = (float) (random.nextDouble() * 2 - 1 + (i / (h * w)) % c * 0.01);
      dyData[i] = (float) (random.nextDouble() * 2 - 1);
    }
    // Tensor and Shape are plain classes: building them does not start the kernels.
    Shape shape = Shape.of(n, c, h, w);
    Tensor x = Tensor.of(shape, xData);
    Tensor dy = Tensor.of(shape, dyData);
    Tensor y = Tensor.of(shape, new float[size]);
    Tensor dx = Tensor.of(shape, new float[size]);

    long[] nanos = new long[steps];
    BatchNorm2d bn = null;
    for (int s = 0; s < steps; s++) {
      long t0 = System.nanoTime();
      if (bn == null) {
        bn = new BatchNorm2d(c);
      }
      bn.forward(x, y);
      bn.backward(dy, dx);
      nanos[s] = System.nanoTime() - t0;
    }
    StringBuilder line = new StringBuilder();
    long total = 0;
    line.append(String.format(Locale.ROOT, "first=%.1f steps=", nanos[0] / 1e6));
    for (int s = 0; s < steps; s++) {
      total += nanos[s];
      line.append(String.format(Locale.ROOT, s == 0 ? "%.1f" : ",%.1f", nanos[s] / 1e6));
    }
    line.append(String.format(Locale.ROOT, " total=%.1f", total / 1e6));
    KernelInfo k = KernelInfo.current();
    line.append(" kernels=").append(k.implementation())
        .append(k.warmingUp() ? "(warming-up)" : k.simdActive() ? "(simd-active)" : "")
        .append(" warm-up=").append(k.warmUp().orElse("none").replace(' ', '_'));
    System.out.println(line);
  }
}
