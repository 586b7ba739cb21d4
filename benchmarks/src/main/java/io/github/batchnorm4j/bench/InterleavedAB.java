package io.github.batchnorm4j.bench;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * An A/B comparison of two library jars in one JVM, for a change too small to show through the
 * spread between JMH forks on this shared machine (10 to 30% on the large shapes). Each jar gets
 * a class loader of its own, so its classes are compiled and profiled apart from the other's; one
 * module per jar, built as {@code new BatchNorm2d(C)} (threads 0) or with {@code threads(n)}, on
 * data with the same values. After 3 s of alternating warm-up, the two take turns in batches of
 * about 25 ms (which one goes first alternating too), so that whatever the machine's neighbours do
 * reaches both alike; the result is the median time per call of each and the median and quartiles
 * of the per-round ratio B / A.
 *
 * <pre>
 * java -Xms2g -Xmx2g -cp benchmarks/target/benchmarks.jar io.github.batchnorm4j.bench.InterleavedAB \
 *     old.jar new.jar bwd 0 32x64x56x56 40
 * </pre>
 *
 * Arguments: jar A, jar B, the pass ({@code fwd} training forward, {@code eval} eval forward,
 * {@code bwd} training backward), the thread count (0: the defaults), the shape N x C x H x W and
 * the number of rounds. Add {@code --add-modules jdk.incubator.vector} before {@code -cp} for the
 * Vector API kernels. Not JMH: no forks, one JVM's compilation of each jar, so run it a few times
 * and in both orders (A and B swapped), with the same jar on both sides as the control, before
 * believing a few percent: on (32, 64, 56, 56) (77 MB of data a side) the jar loaded second ran up
 * to 20% faster in some JVMs, whichever it was, while the same jar twice gave 0.97 and 1.02. Each
 * module's worker threads stay alive during the other's turns (they spin 20 µs, then park).
 */
public final class InterleavedAB {

  private InterleavedAB() {}

  /**
   * Runs one comparison, see the class comment.
   *
   * @param args jar A, jar B, pass, threads, shape, rounds
   * @throws Throwable what the set-up throws (the library's exceptions wrapped in an {@code
   *     InvocationTargetException}) or a timed call throws
   */
  public static void main(String[] args) throws Throwable {
    if (args.length != 6) {
      throw new IllegalArgumentException(
          "expected: jarA jarB fwd|eval|bwd threads NxCxHxW rounds, got " + Arrays.toString(args));
    }
    String pass = args[2];
    int threads = Integer.parseInt(args[3]);
    int[] dims = Arrays.stream(args[4].split("x")).mapToInt(Integer::parseInt).toArray();
    int rounds = Integer.parseInt(args[5]);
    MethodHandle a = call(Path.of(args[0]), pass, dims, threads);
    MethodHandle b = call(Path.of(args[1]), pass, dims, threads);

    long start = System.nanoTime();
    int pairs = 0;
    while (System.nanoTime() - start < 3_000_000_000L) {
      a.invokeExact();
      b.invokeExact();
      pairs++;
    }
    // A pair of calls took 3 s / pairs, so a batch of one side takes about 25 ms.
    int batch = Math.max(3, (int) (pairs * 0.05 / 3.0 + 0.5));
    double[] timesA = new double[rounds];
    double[] timesB = new double[rounds];
    double[] ratios = new double[rounds];
    for (int r = 0; r < rounds; r++) {
      boolean aFirst = r % 2 == 0;
      double first = perCall(aFirst ? a : b, batch);
      double second = perCall(aFirst ? b : a, batch);
      timesA[r] = aFirst ? first : second;
      timesB[r] = aFirst ? second : first;
      ratios[r] = timesB[r] / timesA[r];
    }
    Arrays.sort(timesA);
    Arrays.sort(timesB);
    Arrays.sort(ratios);
    System.out.printf(Locale.ROOT,
        "%s %s threads=%d  A %.1f us  B %.1f us  B/A median %.3f [quartiles %.3f %.3f]"
            + " (%d rounds of %d calls)%n", args[4], pass, threads, timesA[rounds / 2],
        timesB[rounds / 2], ratios[rounds / 2], ratios[rounds / 4], ratios[3 * rounds / 4],
        rounds, batch);
  }

  /** {@return µs per call over {@code calls} calls} */
  private static double perCall(MethodHandle call, int calls) throws Throwable {
    long t = System.nanoTime();
    for (int i = 0; i < calls; i++) {
      call.invokeExact();
    }
    return (System.nanoTime() - t) / 1e3 / calls;
  }

  /**
   * {@return a handle of type {@code ()void} that runs one pass of a module loaded from {@code
   * jar}; the training forward and backward have run once, the eval module is in eval mode}
   */
  private static MethodHandle call(Path jar, String pass, int[] dims, int threads)
      throws Throwable {
    ClassLoader loader = new URLClassLoader(new URL[] {jar.toUri().toURL()},
        ClassLoader.getPlatformClassLoader());
    Class<?> shapeClass = loader.loadClass("io.github.batchnorm4j.Shape");
    Class<?> tensorClass = loader.loadClass("io.github.batchnorm4j.Tensor");
    Class<?> moduleClass = loader.loadClass("io.github.batchnorm4j.BatchNorm2d");
    Object shape = shapeClass.getMethod("of", int[].class).invoke(null, (Object) dims);
    int size = Arrays.stream(dims).reduce(1, (p, q) -> p * q);
    SplittableRandom random = new SplittableRandom(1);
    float[] x = new float[size];
    float[] dy = new float[size];
    for (int i = 0; i < size; i++) {
      x[i] = (float) (random.nextGaussian() + 0.5);
      dy[i] = (float) random.nextGaussian();
    }
    Method of = tensorClass.getMethod("of", shapeClass, float[].class);
    Method zeros = tensorClass.getMethod("zeros", shapeClass);
    Object input = of.invoke(null, shape, x);
    Object gradOutput = of.invoke(null, shape, dy);
    Object output = zeros.invoke(null, shape);
    Object gradInput = zeros.invoke(null, shape);
    Object module;
    if (threads == 0) {
      module = moduleClass.getConstructor(int.class).newInstance(dims[1]);
    } else {
      Object builder = moduleClass.getMethod("builder", int.class).invoke(null, dims[1]);
      builder = builder.getClass().getMethod("threads", int.class).invoke(builder, threads);
      module = builder.getClass().getMethod("build").invoke(builder);
    }
    MethodHandles.Lookup lookup = MethodHandles.lookup();
    MethodHandle forward = lookup.unreflect(moduleClass.getMethod("forward", tensorClass,
        tensorClass)).bindTo(module);
    MethodHandle backward = lookup.unreflect(moduleClass.getMethod("backward", tensorClass,
        tensorClass)).bindTo(module);
    forward.invoke(input, output);
    backward.invoke(gradOutput, gradInput);
    MethodHandle run;
    switch (pass) {
      case "fwd":
        run = MethodHandles.insertArguments(forward, 0, input, output);
        break;
      case "eval":
        moduleClass.getMethod("eval").invoke(module);
        run = MethodHandles.insertArguments(forward, 0, input, output);
        break;
      case "bwd":
        run = MethodHandles.insertArguments(backward, 0, gradOutput, gradInput);
        break;
      default:
        throw new IllegalArgumentException("pass must be fwd, eval or bwd, got " + pass);
    }
    return run.asType(MethodType.methodType(void.class));
  }
}
