package io.github.batchnorm4j;

import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Times the three passes of {@code BatchNorm2d} through the public API, in one JVM, with
 * System.nanoTime: a quick check of a kernel change between full JMH runs (benchmarks/), not a
 * replacement for them. Not a test (surefire does not pick it up). With the Vector API module it
 * first waits until the vector kernels have taken over from the scalar ones (KernelInfo's
 * warm-up). Each pass is called for about 0.7 s first, then timed in 15 rounds; the median
 * round's time per call is printed. The shapes
 * run one after the other in the same JVM, so the later ones meet code that the JIT compiled for
 * the earlier ones, as in a network with several layer sizes.
 *
 * <pre>
 * ./mvnw -o -q test-compile
 * java [--add-modules jdk.incubator.vector] -cp target/classes:target/test-classes \
 *     io.github.batchnorm4j.PassTimesHarness 1 8x512x7x7 64x16x28x28
 * </pre>
 *
 * The first argument is the thread count (0: the defaults, {@code builder(C).build()}); the
 * others are N x C x H x W shapes. {@code -Drelu=true} times the modules with the fused ReLU
 * ({@code activation(Activation.RELU)}) instead. Data as in the JMH benchmarks: x from N(0.5, 1), gamma
 * 1.5 + 0.01 c, beta -0.25.
 */
public final class PassTimesHarness {

  private PassTimesHarness() {}

  /**
   * Times every shape, see the class comment.
   *
   * @param args the thread count, then shapes such as {@code 32x64x56x56}
   */
  public static void main(String[] args) {
    int threads = Integer.parseInt(args[0]);
    for (String s : Arrays.copyOfRange(args, 1, args.length)) {
      String[] p = s.split("x");
      int c = Integer.parseInt(p[1]);
      Shape shape = Shape.of(Integer.parseInt(p[0]), c, Integer.parseInt(p[2]),
          Integer.parseInt(p[3]));
      SplittableRandom random = new SplittableRandom(1);
      float[] xd = new float[shape.numel()];
      float[] dyd = new float[shape.numel()];
      for (int i = 0; i < xd.length; i++) {
        xd[i] = (float) (random.nextGaussian() + 0.5);
        dyd[i] = (float) random.nextGaussian();
      }
      Tensor x = Tensor.of(shape, xd);
      Tensor dy = Tensor.of(shape, dyd);
      Tensor y = Tensor.zeros(shape);
      Tensor dx = Tensor.zeros(shape);
      BatchNorm2d train = module(c, threads);
      BatchNorm2d eval = module(c, threads);
      for (int k = 0; k < c; k++) {
        train.weight()[k] = eval.weight()[k] = 1.5f + 0.01f * k;
        train.bias()[k] = eval.bias()[k] = -0.25f;
      }
      eval.forward(x, y);
      eval.eval();
      train.forward(x, y);
      train.backward(dy, dx);
      // With the Vector API module the scalar kernels run until the vector ones are compiled in
      // the background: wait for that, as the JMH benchmarks do, or the first shape's times mix
      // the two.
      awaitWarmUp();
      double forward = time(() -> train.forward(x, y));
      double evalForward = time(() -> eval.forward(x, y));
      // eval.forward wrote y, which the training backward reads as its ReLU mask: refresh it
      train.forward(x, y);
      double backward = time(() -> train.backward(dy, dx));
      System.out.printf(Locale.ROOT,
          "%-14s threads=%d%s  training forward %8.1f  eval forward %8.1f  training backward %8.1f"
              + " us  (%s)%n", s, threads, RELU ? " relu" : "", forward, evalForward, backward,
          KernelInfo.current().implementation());
    }
  }

  private static void awaitWarmUp() {
    try {
      KernelInfo.awaitWarmUp(java.time.Duration.ofSeconds(60));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static final boolean RELU = Boolean.getBoolean("relu");

  /** {@return a module with no builder setting but the fused ReLU ({@link #RELU}) and threads} */
  private static BatchNorm2d module(int channels, int threads) {
    BatchNorm.Builder<BatchNorm2d> builder = BatchNorm2d.builder(channels);
    if (RELU) {
      builder = builder.activation(Activation.RELU);
    }
    return (threads == 0 ? builder : builder.threads(threads)).build();
  }

  /** {@return the median over 15 rounds of the time per call, in µs} */
  private static double time(Runnable call) {
    long start = System.nanoTime();
    int calls = 0;
    while (System.nanoTime() - start < 700_000_000L) {
      call.run();
      calls++;
    }
    int perRound = Math.max(5, calls / 20);
    double[] rounds = new double[15];
    for (int r = 0; r < rounds.length; r++) {
      long t = System.nanoTime();
      for (int i = 0; i < perRound; i++) {
        call.run();
      }
      rounds[r] = (System.nanoTime() - t) / 1e3 / perRound;
    }
    Arrays.sort(rounds);
    return rounds[rounds.length / 2];
  }
}
