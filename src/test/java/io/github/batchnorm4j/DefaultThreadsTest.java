package io.github.batchnorm4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assumptions.assumeThat;

import io.github.batchnorm4j.internal.ChannelParallel;
import io.github.batchnorm4j.internal.KernelOps;
import io.github.batchnorm4j.testing.TestData;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The default threads (issue 13): a module or options built without {@code threads(...)} share
 * large calls with the worker threads, and calls from 131,072 values that come back to back; they
 * keep other small calls on the caller's thread; {@code
 * -Dbatchnorm4j.threads} caps the default but not an explicit count, and an invalid value is
 * ignored with one warning; the results are those of one thread, bit for bit. What ran where is
 * observed, not assumed: {@link ChannelParallel#itemsRunByWorkers()} counts the work items the
 * worker threads actually ran.
 */
class DefaultThreadsTest {

  /** 4 x 64 x 32 x 32 = 262,144 values: shared by default. */
  private static final Shape LARGE = Shape.of(4, 64, 32, 32);

  /**
   * Just under the default threshold of the kernels this JVM runs, 4 x 64 x 1023 = 261,888 values
   * (vector) or 2 x 64 x 1023 = 130,944 (scalar): not shared by default, shared by an explicit
   * threads(2).
   */
  private static final Shape MEDIUM =
      Shape.of(KernelOps.get().minAutomaticElements() / (64 * 1023), 64, 1023);

  /** 3 x 64 x 1024 = 196,608 values: between the scalar and the vector kernels' thresholds. */
  private static final Shape BETWEEN = Shape.of(3, 64, 1024);

  @Test
  void theShapesAreOnEitherSideOfTheThresholds() {
    assertThat(LARGE.numel()).isGreaterThanOrEqualTo(ChannelParallel.MIN_AUTOMATIC_ELEMENTS);
    assertThat(MEDIUM.numel()).isLessThan(KernelOps.get().minAutomaticElements())
        .isGreaterThanOrEqualTo(ChannelParallel.MIN_PARALLEL_ELEMENTS);
    assertThat(BETWEEN.numel())
        .isGreaterThanOrEqualTo(ChannelParallel.MIN_AUTOMATIC_SCALAR_ELEMENTS)
        .isLessThan(ChannelParallel.MIN_AUTOMATIC_ELEMENTS);
    assertThat(KernelOps.scalar().minAutomaticElements())
        .isEqualTo(ChannelParallel.MIN_AUTOMATIC_SCALAR_ELEMENTS);
    KernelOps.vector().ifPresent(vector -> assertThat(vector.minAutomaticElements())
        .isEqualTo(ChannelParallel.MIN_AUTOMATIC_ELEMENTS));
  }

  /**
   * The scalar kernels' sums are not vectorized, so they share smaller training calls by default;
   * a lone elementwise pass does not (the calls here come after a pause, not back to back).
   */
  @Test
  void callsBetweenTheThresholdsAreSharedOnlyByTheScalarKernels() {
    assumeThat(Runtime.getRuntime().availableProcessors()).isGreaterThan(1);
    assumeThat(System.getProperty(ChannelParallel.THREADS_PROPERTY)).isNull();
    Tensor x = gaussian(BETWEEN, 6);
    Tensor y = Tensor.zeros(BETWEEN);
    BatchNorm1d train = new BatchNorm1d(64);
    Runnable call = () -> train.forward(x, y);
    if (KernelOps.get() == KernelOps.scalar()) {
      assertShared("a 196,608-value training call on the scalar kernels", call);
    } else {
      assertNotShared("a 196,608-value training call on the vector kernels", call);
    }
    // A lone elementwise pass shares from the vector kernels' threshold on either.
    BatchNorm1d eval = new BatchNorm1d(64).eval();
    assertNotShared("a 196,608-value eval call", () -> eval.forward(x, y));
  }

  @Test
  void theDefaultIsAutomaticEverywhere() {
    assertThat(BatchNormOptions.AUTO_THREADS).isZero();
    assertThat(BatchNormOptions.defaults().threads()).isEqualTo(BatchNormOptions.AUTO_THREADS);
    assertThat(new BatchNorm2d(4).threads()).isEqualTo(BatchNormOptions.AUTO_THREADS);
    assertThat(BatchNorm1d.builder(4).build().options().threads()).isZero();
    assertThat(FrozenBatchNorm2d.builder(4).build().options().threads()).isZero();
    assertThat(FrozenBatchNorm2d.freeze(new BatchNorm2d(4)).options().threads()).isZero();
    assertThat(FrozenBatchNorm2d.freeze(BatchNorm2d.builder(4).threads(3).build()).options()
        .threads()).isEqualTo(3);
    // An explicit count is kept as given, and AUTO_THREADS restores the default.
    assertThat(BatchNorm2d.builder(4).threads(1).build().threads()).isEqualTo(1);
    assertThat(BatchNorm2d.builder(4).threads(2).threads(BatchNormOptions.AUTO_THREADS).build()
        .threads()).isZero();
    assertThat(BatchNormOptions.defaults().withThreads(5).withThreads(0).threads()).isZero();
    // This JVM has no -Dbatchnorm4j.threads: the automatic limit is the processors.
    assumeThat(System.getProperty(ChannelParallel.THREADS_PROPERTY)).isNull();
    assertThat(BatchNormOptions.automaticThreads())
        .isEqualTo(Runtime.getRuntime().availableProcessors());
  }

  @Test
  void negativeThreadsAreRejectedNamingTheDefault() {
    String message = "threads must be >= 1, or 0 (AUTO_THREADS) for the automatic default, but"
        + " is -1";
    assertThatThrownBy(() -> BatchNormOptions.defaults().withThreads(-1)).hasMessage(message);
    assertThatThrownBy(() -> BatchNorm2d.builder(4).threads(-1).build())
        .hasMessage(message + " (BatchNorm2d)");
    assertThatThrownBy(() -> FrozenBatchNorm2d.builder(4).threads(-1).build())
        .hasMessage(message + " (FrozenBatchNorm2d)");
  }

  @Test
  void largeCallsWithTheDefaultThreadsAreSharedWithTheWorkers() {
    assumeThat(Runtime.getRuntime().availableProcessors()).isGreaterThan(1);
    assumeThat(System.getProperty(ChannelParallel.THREADS_PROPERTY)).isNull();
    Tensor x = gaussian(LARGE, 1);
    Tensor dy = gaussian(LARGE, 2);
    Tensor y = Tensor.zeros(LARGE);
    Tensor dx = Tensor.zeros(LARGE);

    BatchNorm2d train = new BatchNorm2d(64);
    assertShared("training forward and backward", () -> {
      train.forward(x, y);
      train.backward(dy, dx);
    });
    BatchNorm2d eval = new BatchNorm2d(64).eval();
    assertShared("eval forward", () -> eval.forward(x, y));
    FrozenBatchNorm2d frozen = FrozenBatchNorm2d.builder(64).build();
    assertShared("FrozenBatchNorm2d forward", () -> frozen.forward(x, y));
    float[] mean = new float[64];
    float[] invStd = new float[64];
    BatchStatistics saved = new BatchStatistics(mean, invStd);
    assertShared("BatchNormFunctional with default options",
        () -> BatchNormFunctional.forwardTraining(BatchNormOptions.defaults(), LARGE, x.data(),
            y.data(), null, null, 0.1, saved));

    // The worker threads: daemon threads named batchnorm4j-worker-k, fewer than the processors.
    List<Thread> workers = new ArrayList<>();
    for (Thread t : Thread.getAllStackTraces().keySet()) {
      if (t.getName().startsWith("batchnorm4j-worker-")) {
        workers.add(t);
      }
    }
    assertThat(workers).isNotEmpty()
        .hasSizeLessThan(Runtime.getRuntime().availableProcessors())
        .allSatisfy(t -> {
          assertThat(t.isDaemon()).as(t.getName() + " is a daemon").isTrue();
          assertThat(t.getName()).matches("batchnorm4j-worker-[1-9][0-9]*");
        });
  }

  @Test
  void smallerCallsAndThreadsOneStayOnTheCallersThread() {
    Tensor x = gaussian(MEDIUM, 3);
    Tensor dy = gaussian(MEDIUM, 4);
    Tensor y = Tensor.zeros(MEDIUM);
    Tensor dx = Tensor.zeros(MEDIUM);
    BatchNorm1d train = new BatchNorm1d(64);
    BatchNorm1d eval = new BatchNorm1d(64).eval();
    assertNotShared("a training forward under the threshold, after a pause",
        () -> train.forward(x, y));
    assertNotShared("a training forward and backward under the threshold, after a pause", () -> {
      train.forward(x, y);
      pause();
      train.backward(dy, dx);
    });
    assertNotShared("an eval forward under the threshold, after a pause",
        () -> eval.forward(x, y));
    assertNotShared("an eval backward under the threshold, after a pause",
        () -> eval.backward(dy, dx));
    if (Runtime.getRuntime().availableProcessors() > 1) {
      BatchNorm1d two = BatchNorm1d.builder(64).threads(2).build();
      assertShared("the same calls with an explicit threads(2)", () -> {
        two.forward(x, y);
        two.backward(dy, dx);
      });
    }

    Tensor big = gaussian(LARGE, 5);
    Tensor out = Tensor.zeros(LARGE);
    Tensor grad = Tensor.zeros(LARGE);
    BatchNorm2d one = BatchNorm2d.builder(64).threads(1).build();
    assertNotShared("large calls with threads(1)", () -> {
      one.forward(big, out);
      one.backward(big, grad);
    });
  }

  /**
   * Calls under the threshold that come back to back (less than the workers' spin after the
   * previous call) are shared from 131,072 values: a worker that is still awake costs nothing to
   * use. Smaller calls are not.
   */
  @Test
  void callsUnderTheThresholdAreSharedWhenTheyComeBackToBack() {
    assumeThat(Runtime.getRuntime().availableProcessors()).isGreaterThan(1);
    assumeThat(System.getProperty(ChannelParallel.THREADS_PROPERTY)).isNull();
    assertThat(BETWEEN.numel()).isGreaterThanOrEqualTo(ChannelParallel.MIN_BACK_TO_BACK_ELEMENTS);
    Tensor x = gaussian(BETWEEN, 8);
    Tensor dy = gaussian(BETWEEN, 9);
    Tensor y = Tensor.zeros(BETWEEN);
    Tensor dx = Tensor.zeros(BETWEEN);
    BatchNorm1d train = new BatchNorm1d(64);
    assertShared("196,608-value training calls, back to back", () -> {
      train.forward(x, y);
      train.backward(dy, dx);
    });
    BatchNorm1d eval = new BatchNorm1d(64).eval();
    assertShared("196,608-value eval calls, back to back", () -> eval.forward(x, y));

    // 2 x 64 x 1023 = 130,944 values: under the back-to-back size (and under every kernels'
    // threshold).
    Shape small = Shape.of(2, 64, 1023);
    assertThat(small.numel()).isLessThan(ChannelParallel.MIN_BACK_TO_BACK_ELEMENTS)
        .isLessThan(ChannelParallel.MIN_AUTOMATIC_SCALAR_ELEMENTS);
    Tensor xs = gaussian(small, 10);
    Tensor ys = Tensor.zeros(small);
    BatchNorm1d smallTrain = new BatchNorm1d(64);
    BatchNorm1d smallEval = new BatchNorm1d(64).eval();
    long before = ChannelParallel.itemsRunByWorkers();
    for (int i = 0; i < 200; i++) {
      smallTrain.forward(xs, ys);
      smallEval.forward(xs, ys);
    }
    assertThat(ChannelParallel.itemsRunByWorkers()).as("items of 130,944-value calls, back to"
        + " back, run by the workers").isEqualTo(before);
  }

  /** The rule itself, with the previous call's end put far in the past or in the future. */
  @Test
  void theAutomaticCountDependsOnSizeAndOnTheGapSinceThePreviousCall() {
    int auto = ChannelParallel.AUTOMATIC;
    int min = ChannelParallel.MIN_AUTOMATIC_ELEMENTS;
    int processors = Math.min(ChannelParallel.automaticThreads(),
        Runtime.getRuntime().availableProcessors());
    long longAgo = System.nanoTime() - TimeUnit.SECONDS.toNanos(1);
    long justNow = System.nanoTime() + TimeUnit.SECONDS.toNanos(1); // "now" for the whole test
    int items = Integer.MAX_VALUE;
    // At or above the threshold: shared, whenever the previous call ended.
    assertThat(ChannelParallel.effectiveThreads(auto, min, items, min, longAgo))
        .isEqualTo(processors);
    assertThat(ChannelParallel.effectiveThreads(auto, min, items, min, justNow))
        .isEqualTo(processors);
    // Under it: shared only back to back, and only from MIN_BACK_TO_BACK_ELEMENTS.
    assertThat(ChannelParallel.effectiveThreads(auto, min - 1, items, min, longAgo)).isOne();
    assertThat(ChannelParallel.effectiveThreads(auto, min - 1, items, min, justNow))
        .isEqualTo(processors);
    int backToBack = ChannelParallel.MIN_BACK_TO_BACK_ELEMENTS;
    assertThat(ChannelParallel.effectiveThreads(auto, backToBack, items, min, justNow))
        .isEqualTo(processors);
    assertThat(ChannelParallel.effectiveThreads(auto, backToBack, items, min, longAgo)).isOne();
    assertThat(ChannelParallel.effectiveThreads(auto, backToBack - 1, items, min, justNow))
        .isOne();
    // The scalar kernels' sums share from their own threshold, which is the same size.
    int scalarMin = ChannelParallel.MIN_AUTOMATIC_SCALAR_ELEMENTS;
    assertThat(ChannelParallel.effectiveThreads(auto, scalarMin, items, scalarMin, longAgo))
        .isEqualTo(processors);
    int least = ChannelParallel.MIN_PARALLEL_ELEMENTS;
    // An explicit count ignores the gap; the items and the processors cap every count.
    assertThat(ChannelParallel.effectiveThreads(2, least, items, min, longAgo))
        .isEqualTo(Math.min(2, Runtime.getRuntime().availableProcessors()));
    assertThat(ChannelParallel.effectiveThreads(1, min, items, min, justNow)).isOne();
    assertThat(ChannelParallel.effectiveThreads(8, min, 1, min, justNow)).isOne();
  }

  @Test
  void theDefaultGivesTheBitsOfOneThread() {
    assumeThat(Runtime.getRuntime().availableProcessors()).isGreaterThan(1);
    assumeThat(System.getProperty(ChannelParallel.THREADS_PROPERTY)).isNull();
    for (Layout layout : Layout.values()) {
      for (Activation activation : Activation.values()) {
        // 266,104 values, 37 channels (does not divide the work evenly).
        Shape shape = layout == Layout.CHANNELS_FIRST ? Shape.of(8, 37, 31, 29)
            : Shape.of(8, 31, 29, 37);
        float[] x = TestData.gaussian(TestData.rng(6), shape.numel(), 2, 1e3);
        float[] dy = TestData.gaussian(TestData.rng(7), shape.numel(), 1, 0);
        // Fresh modules until the workers took part in one's calls (on a busy machine a worker
        // may not get a processor in time for a call).
        long before = ChannelParallel.itemsRunByWorkers();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        List<float[]> auto;
        do {
          before = ChannelParallel.itemsRunByWorkers();
          auto = runAll(BatchNorm2d.builder(37).layout(layout).activation(activation).build(),
              shape, x, dy);
        } while (ChannelParallel.itemsRunByWorkers() == before && System.nanoTime() < deadline);
        assertThat(ChannelParallel.itemsRunByWorkers()).as("the workers took part").isGreaterThan(
            before);
        List<float[]> one = runAll(BatchNorm2d.builder(37).layout(layout).activation(activation)
            .threads(1).build(), shape, x, dy);
        for (int k = 0; k < one.size(); k++) {
          TestData.assertBitwiseEqual(layout + ", " + activation + ", result " + k,
              auto.get(k), one.get(k));
        }
      }
    }
  }

  /** The automatic limit from the property's value; the warning for an invalid one. */
  @Test
  void thePropertyCapsTheDefaultAndInvalidValuesAreIgnoredWithOneWarning() {
    List<String> warnings = new ArrayList<>();
    assertThat(ChannelParallel.automaticLimit(null, 8, warnings::add)).isEqualTo(8);
    assertThat(ChannelParallel.automaticLimit("1", 8, warnings::add)).isEqualTo(1);
    assertThat(ChannelParallel.automaticLimit(" 3 ", 8, warnings::add)).isEqualTo(3);
    assertThat(ChannelParallel.automaticLimit("64", 8, warnings::add)).isEqualTo(8);
    assertThat(warnings).isEmpty();
    for (String invalid : new String[] {"0", "-2", "two", "", "1.5", "99999999999"}) {
      warnings.clear();
      assertThat(ChannelParallel.automaticLimit(invalid, 8, warnings::add)).as(invalid)
          .isEqualTo(8);
      assertThat(warnings).as(invalid).containsExactly("ignoring -Dbatchnorm4j.threads="
          + invalid + ": expected an integer >= 1 (the most threads one call of a module with the"
          + " default threads may use); using 8 (the number of processors)");
    }
  }

  /**
   * The property end to end, in fresh JVMs ({@link ThreadsProbe}): {@code
   * -Dbatchnorm4j.threads=1} keeps default calls on the caller's thread but not an explicit
   * threads(2); a value that is not a number is ignored with one WARNING on the console.
   */
  @Test
  void thePropertyInAFreshJvm() throws IOException, InterruptedException {
    assumeThat(Runtime.getRuntime().availableProcessors()).isGreaterThan(1);
    Probe capped = probe("-Dbatchnorm4j.threads=1");
    assertThat(capped.out).contains("automatic 1", "default worker items 0")
        .containsPattern("explicit worker items [1-9]");
    // (Below JDK 25, a JVM without the Vector API module logs a WARNING about that.)
    assertThat(capped.err).doesNotContain("ignoring -Dbatchnorm4j.threads");

    Probe invalid = probe("-Dbatchnorm4j.threads=lots");
    int processors = Runtime.getRuntime().availableProcessors();
    assertThat(invalid.out).contains("automatic " + processors)
        .containsPattern("default worker items [1-9]");
    assertThat(invalid.err.split("ignoring -Dbatchnorm4j.threads=lots", -1)).as(invalid.err)
        .hasSize(2);
    assertThat(invalid.err).contains("WARNING: ignoring -Dbatchnorm4j.threads=lots: expected an"
        + " integer >= 1 (the most threads one call of a module with the default threads may"
        + " use); using " + processors + " (the number of processors)");
  }

  private record Probe(String out, String err) {}

  private static Probe probe(String property) throws IOException, InterruptedException {
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    Process process = new ProcessBuilder(java.toString(), property, "-cp",
        System.getProperty("java.class.path"), ThreadsProbe.class.getName()).start();
    process.getOutputStream().close();
    // Small outputs: read them after the exit.
    assertThat(process.waitFor(60, TimeUnit.SECONDS)).as("the probe finished").isTrue();
    String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    String err = new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(process.exitValue()).as(out + err).isZero();
    return new Probe(out, err);
  }

  private static List<float[]> runAll(BatchNorm2d bn, Shape shape, float[] x, float[] dy) {
    for (int c = 0; c < bn.numFeatures(); c++) {
      bn.weight()[c] = 1 + 0.1f * c;
      bn.bias()[c] = 0.01f * c;
    }
    List<float[]> out = new ArrayList<>();
    out.add(bn.forward(Tensor.of(shape, x)).data());
    out.add(bn.backward(Tensor.of(shape, dy)).data());
    bn.eval();
    out.add(bn.forward(Tensor.of(shape, x)).data());
    out.add(bn.backward(Tensor.of(shape, dy)).data());
    out.add(bn.runningMean());
    out.add(bn.runningVar());
    out.add(bn.weightGrad());
    out.add(bn.biasGrad());
    return out;
  }

  /**
   * Repeats the step until the workers have run an item of it (a worker that is slow to wake on a
   * busy machine leaves a call's items to its caller, so one call alone proves nothing).
   */
  private static void assertShared(String what, Runnable step) {
    long before = ChannelParallel.itemsRunByWorkers();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    int calls = 0;
    while (ChannelParallel.itemsRunByWorkers() == before && System.nanoTime() < deadline) {
      step.run();
      calls++;
    }
    assertThat(ChannelParallel.itemsRunByWorkers()).as(what + ": items run by the workers in "
        + calls + " calls").isGreaterThan(before);
  }

  /**
   * Runs the step 100 times, each after a pause longer than the workers' spin, so that no call
   * comes back to back, and checks that the workers ran no item.
   */
  private static void assertNotShared(String what, Runnable step) {
    long before = ChannelParallel.itemsRunByWorkers();
    for (int i = 0; i < 100; i++) {
      pause();
      step.run();
    }
    assertThat(ChannelParallel.itemsRunByWorkers()).as(what + ": items run by the workers")
        .isEqualTo(before);
  }

  /** Sleeps 1 ms, far longer than the workers' 20 µs spin: the next call is not back to back. */
  private static void pause() {
    try {
      Thread.sleep(1);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }

  /** A tensor of {@code shape} with N(0, 1) values from {@code TestData.rng(seed)}. */
  private static Tensor gaussian(Shape shape, int seed) {
    return Tensor.of(shape, TestData.gaussian(TestData.rng(seed), shape.numel(), 1, 0));
  }
}
