package io.github.batchnorm4j;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * The two-mode eval forward of (128, 32, 8, 8) (docs/performance.md, *What the harness cannot
 * tell*): one module at {@code threads(1)}, set up as the JMH state sets it up, timed on the same
 * x and y, then on fresh copies of them, four sets in all, each followed by {@code
 * System.arraycopy} of x into y; µs per call, the median of the last 2000 calls. Not a test (surefire
 * does not pick it up). Run it in several fresh JVMs:
 *
 * <pre>
 * ./mvnw -o -q test-compile
 * for i in 1 2 3 4 5 6 7 8; do java -Xms2g -Xmx2g -cp target/classes:target/test-classes \
 *     io.github.batchnorm4j.EvalModeHarness; done
 * </pre>
 *
 * A JVM flag (such as {@code -XX:+UseParallelGC} or {@code -XX:-UseSuperWord}) goes before
 * {@code -cp}.
 */
public final class EvalModeHarness {

  private EvalModeHarness() {}

  /**
   * Prints one line: the eval forward's and the copy's median per set.
   *
   * @param args not used
   */
  public static void main(String[] args) {
    Shape shape = Shape.of(128, 32, 8, 8);
    float[] values = new float[shape.numel()];
    float[] gradient = new float[values.length];
    SplittableRandom random = new SplittableRandom(1);
    for (int i = 0; i < values.length; i++) {
      values[i] = (float) (0.5 + random.nextGaussian());
      gradient[i] = (float) random.nextGaussian();
    }
    Tensor x = Tensor.of(shape, values.clone());
    Tensor y = Tensor.zeros(shape);
    Tensor dy = Tensor.of(shape, gradient);
    Tensor dx = Tensor.zeros(shape);
    BatchNorm2d train = BatchNorm2d.builder(32).threads(1).build();
    BatchNorm2d eval = BatchNorm2d.builder(32).threads(1).build();
    eval.forward(x, y);
    eval.eval();
    train.forward(x, y);
    for (int i = 0; i < 20; i++) { // the passes the JMH state calls before it measures
      train.forward(x, y);
      train.backward(dy, dx);
      eval.forward(x, y);
    }
    List<float[]> spacers = new ArrayList<>();
    StringBuilder line = new StringBuilder("eval forward µs (copy µs) per set:");
    for (int set = 0; set < 4; set++) {
      float[] from = x.data();
      float[] to = y.data();
      long[] evalTimes = new long[2000];
      long[] copyTimes = new long[evalTimes.length];
      for (int round = 0; round < 20; round++) {
        for (int i = 0; i < evalTimes.length; i++) {
          long t0 = System.nanoTime();
          eval.forward(x, y);
          evalTimes[i] = System.nanoTime() - t0;
        }
      }
      // Apart, after the eval calls: a copy between two eval calls leaves x and y in L2 for the
      // second, and every set then ran fast.
      for (int round = 0; round < 5; round++) {
        for (int i = 0; i < copyTimes.length; i++) {
          long t0 = System.nanoTime();
          System.arraycopy(from, 0, to, 0, from.length);
          copyTimes[i] = System.nanoTime() - t0;
        }
      }
      line.append(String.format(Locale.ROOT, " %.1f (%.1f)", median(evalTimes) / 1e3,
          median(copyTimes) / 1e3));
      spacers.add(new float[1000 + 4000 * set]); // so that the next arrays land elsewhere
      x = Tensor.of(shape, values.clone());
      y = Tensor.zeros(shape);
    }
    System.out.println(line + " (" + spacers.size() + " spacers)");
  }

  /** {@return the median of the times, which it sorts} */
  private static double median(long[] times) {
    Arrays.sort(times);
    return times[times.length / 2];
  }
}
