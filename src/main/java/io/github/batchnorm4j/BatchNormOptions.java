package io.github.batchnorm4j;

import io.github.batchnorm4j.internal.ChannelParallel;

/**
 * The hyperparameters of a batch-norm computation, validated once: shared by {@link BatchNorm}'s
 * builder, {@link FrozenBatchNorm2d} and {@link BatchNormFunctional}.
 *
 * <pre>{@code
 * BatchNormOptions options = BatchNormOptions.defaults()          // eps 1e-5, NCHW, no activation
 *     .withLayout(Layout.CHANNELS_LAST).withActivation(Activation.RELU).withThreads(2);
 * }</pre>
 *
 * @param eps added to the variance before the square root: {@code 1 / sqrt(var + eps)}; finite
 *     and &gt; 0 (PyTorch's default 1e-5)
 * @param layout where the channel dimension is
 * @param activation the activation fused after the normalization
 * @param unbiasedRunningVar true (PyTorch) to update the running variance with the unbiased batch
 *     variance {@code var * m / (m - 1)}, false (Keras, DL4J) with the biased {@code var}
 * @param threads the most threads one call may use, &gt;= 1 (1 = the caller's thread only), or
 *     {@link #AUTO_THREADS} (0, the default) for up to {@link #automaticThreads()} threads
 */
public record BatchNormOptions(
    double eps, Layout layout, Activation activation, boolean unbiasedRunningVar, int threads) {

  /**
   * The default thread count, 0: "automatic". A call of at least 262,144 values (N * C *
   * spatial; 131,072 for a call with sums, such as a training call, on the scalar kernels, whose
   * sums cost more per value)
   * uses up to {@link #automaticThreads()} threads, the caller's included: the number of
   * processors ({@code Runtime.availableProcessors()}), capped by the system property {@code
   * batchnorm4j.threads} when it is set. A smaller call runs on the caller's thread alone: below
   * that size, waking a worker that had parked since the last call cost more than it saved on the
   * measured 2-core machine (docs/kernels.md; around it, about as much). The exception is a call
   * of at least 131,072 values that comes <em>back to back</em>, less than 20 µs (the workers'
   * spin) after the end of the same thread's previous call (of at least 32,768 values), as in a
   * loop of calls or one layer right after another: it is shared too, since the worker it needs
   * is still awake (or is woken once for the whole run of such calls), and two threads then won
   * up to 2 times from 131,072 values. An explicit count ({@link #withThreads(int)}, {@code builder(...).threads(n)}) is not
   * capped by the property, and shares calls from 32,768 values whenever they come.
   *
   * <p>{@code -Dbatchnorm4j.threads=n} (an integer &gt;= 1) is for a JVM that is already parallel
   * by itself, say a Spark executor running one task per core: {@code -Dbatchnorm4j.threads=1}
   * keeps every call with the default threads on its caller's thread. It is read once, when the
   * first call runs (or {@link #automaticThreads()} is asked); an invalid value (not an integer, or
   * &lt; 1) is ignored with one {@code WARNING} through {@link System.Logger} (logger {@code
   * io.github.batchnorm4j}) naming the property, the value and the expected form, rather than
   * failing: results never depend on the thread count, so a mistyped setting can cost speed only.
   *
   * <p>Several threads come from one shared set of daemon worker threads ({@code
   * batchnorm4j-worker-1}, ...; at most processors - 1, started by the first call that needs
   * them), which serves one call at a time: a call that finds it busy runs on its own thread, so
   * modules called from many threads at once do not oversubscribe the machine. After its part of
   * a call a worker yields its processor once, spins for 20 µs (so that the call's next pass, or
   * a call made right after, finds it awake), then parks until a call wakes it: between calls
   * further apart than that, the workers use no CPU. Nothing is allocated per call. Results are
   * bitwise identical for every thread count, automatic or explicit.
   */
  public static final int AUTO_THREADS = ChannelParallel.AUTOMATIC;

  private static final BatchNormOptions DEFAULTS =
      new BatchNormOptions(1e-5, Layout.CHANNELS_FIRST, Activation.NONE, true, AUTO_THREADS);

  /**
   * Validates the options.
   *
   * @param eps finite and &gt; 0
   * @param layout not null
   * @param activation not null
   * @param unbiasedRunningVar the running-variance convention
   * @param threads &gt;= 1, or {@link #AUTO_THREADS}
   * @throws IllegalArgumentException if eps is not finite and &gt; 0, layout or activation is
   *     null, or threads &lt; 0
   */
  public BatchNormOptions {
    Checks.eps(eps);
    Checks.notNull("layout", layout);
    Checks.notNull("activation", activation);
    Checks.threads(threads);
  }

  /**
   * Returns PyTorch's defaults: eps 1e-5, channels-first, no activation, unbiased running
   * variance, and {@link #AUTO_THREADS} (the caller's thread for small calls, up to {@link
   * #automaticThreads()} threads for large ones).
   *
   * @return the default options
   */
  public static BatchNormOptions defaults() {
    return DEFAULTS;
  }

  /**
   * Returns the most threads a call with {@link #AUTO_THREADS} uses in this JVM: {@code
   * Runtime.availableProcessors()}, or fewer if the system property {@code batchnorm4j.threads}
   * caps it (read once; see {@link #AUTO_THREADS}).
   *
   * @return the automatic thread limit, &gt;= 1
   */
  public static int automaticThreads() {
    return ChannelParallel.automaticThreads();
  }

  /**
   * Returns these options with another eps.
   *
   * @param eps finite and &gt; 0
   * @return new options
   */
  public BatchNormOptions withEps(double eps) {
    return new BatchNormOptions(eps, layout, activation, unbiasedRunningVar, threads);
  }

  /**
   * Returns these options with another layout.
   *
   * @param layout not null
   * @return new options
   */
  public BatchNormOptions withLayout(Layout layout) {
    return new BatchNormOptions(eps, layout, activation, unbiasedRunningVar, threads);
  }

  /**
   * Returns these options with another fused activation.
   *
   * @param activation not null
   * @return new options
   */
  public BatchNormOptions withActivation(Activation activation) {
    return new BatchNormOptions(eps, layout, activation, unbiasedRunningVar, threads);
  }

  /**
   * Returns these options with the other running-variance convention.
   *
   * @param unbiased true for PyTorch's unbiased running variance, false for the biased one
   * @return new options
   */
  public BatchNormOptions withUnbiasedRunningVar(boolean unbiased) {
    return new BatchNormOptions(eps, layout, activation, unbiased, threads);
  }

  /**
   * Returns these options with another thread count: the most threads one call may use, the
   * caller's included (never more than the processors), exactly, whatever {@code
   * batchnorm4j.threads} says; or {@link #AUTO_THREADS} for the default. Calls of fewer than
   * 32,768 elements run on the caller's thread whatever the count.
   *
   * @param threads &gt;= 1, or {@link #AUTO_THREADS}
   * @return new options
   */
  public BatchNormOptions withThreads(int threads) {
    return new BatchNormOptions(eps, layout, activation, unbiasedRunningVar, threads);
  }
}
