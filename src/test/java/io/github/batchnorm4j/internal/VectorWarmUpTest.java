package io.github.batchnorm4j.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.batchnorm4j.internal.BatchNormKernels.PassOrder;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The warm-up's parts, in this JVM: the reduced signatures, the recording kernels (every kernel
 * method delegated, the scalar kernels' bits), and one warm-up of the vector kernels driven by
 * recorded calls, on a private instance (the JVM-wide selection is not touched). The warm-up as
 * the library runs it, in fresh JVMs, is in {@code KernelWarmUpTest}.
 */
class VectorWarmUpTest {

  @Test
  void reducedNumbersKeepTheirResiduesAndShortNumbers() {
    List<Integer> wrong = new ArrayList<>();
    for (int n = 0; n < 10_000; n++) {
      int r = VectorWarmUp.reduced(n);
      boolean ok = n < 192 ? r == n : r >= 128 && r <= 191 && r % 64 == n % 64;
      if (!ok) {
        wrong.add(n);
      }
    }
    assertThat(wrong).isEmpty();
    assertThat(VectorWarmUp.reduced(Integer.MAX_VALUE)).isBetween(128, 191);
  }

  @Test
  void signaturesRoundTrip() {
    for (int method = 0; method <= VectorWarmUp.SCALE_GRAD_ACROSS; method++) {
      for (boolean masked : new boolean[] {false, true}) {
        for (int len : new int[] {1, 3, 7, 8, 49, 3136, 1 << 20}) {
          for (int channels : new int[] {1, 3, 40, 64, 1024}) {
            long s = VectorWarmUp.signature(method, masked, len, channels);
            assertThat(s).isNotZero();
            assertThat(VectorWarmUp.method(s)).isEqualTo(method);
            assertThat(VectorWarmUp.masked(s)).isEqualTo(masked);
            assertThat(VectorWarmUp.length(s)).isEqualTo(VectorWarmUp.reduced(len));
            // The channel count selects paths only for short runs.
            assertThat(VectorWarmUp.channels(s))
                .isEqualTo(len < BatchNormKernels.SHORT_PLANE ? VectorWarmUp.reduced(channels) : 2);
          }
        }
      }
    }
  }

  /** A method of KernelOps that Delegating did not override would skip the recording. */
  @Test
  void delegatingOverridesEveryKernelMethod() {
    assertThat(notOverridden(VectorWarmUp.Delegating.class)).isEmpty();
  }

  /**
   * {@return the overridable methods of KernelOps that {@code type} does not declare} (at least
   * ten are checked, so that an empty result means something)
   */
  static List<String> notOverridden(Class<?> type) {
    List<String> missing = new ArrayList<>();
    int checked = 0;
    for (Method m : KernelOps.class.getDeclaredMethods()) {
      int mod = m.getModifiers();
      if (Modifier.isStatic(mod) || Modifier.isPrivate(mod) || Modifier.isFinal(mod)
          || m.isSynthetic()) {
        continue;
      }
      checked++;
      try {
        type.getDeclaredMethod(m.getName(), m.getParameterTypes());
      } catch (NoSuchMethodException e) {
        missing.add(m.getName());
      }
    }
    assertThat(checked).as("overridable KernelOps methods").isGreaterThanOrEqualTo(10);
    return missing;
  }

  /** The check above finds a class that overrides nothing. */
  @Test
  void theOverrideCheckFindsMissingMethods() {
    assertThat(notOverridden(Object.class)).hasSizeGreaterThanOrEqualTo(10);
  }

  @Test
  void theRecordingKernelsGiveTheScalarBitsAndNoteWhatRuns() {
    VectorWarmUp warmUp = new VectorWarmUp(KernelOps.scalar(), r -> { });
    VectorWarmUp.Delegating recorder = (VectorWarmUp.Delegating) warmUp.recorder();
    assertThat(recorder.target()).isSameAs(KernelOps.scalar());
    assertThat(recorder.name()).isEqualTo(KernelOps.scalar().name());
    for (int[] shape : new int[][] {{4, 8, 56 * 56}, {32, 16, 3}, {256, 40, 1}}) {
      for (boolean last : new boolean[] {false, true}) {
        for (boolean relu : new boolean[] {false, true}) {
          float[][] viaRecorder = passes(recorder, shape, last, relu);
          float[][] direct = passes(KernelOps.scalar(), shape, last, relu);
          for (int i = 0; i < direct.length; i++) {
            assertThat(java.util.Arrays.mismatch(viaRecorder[i], direct[i]))
                .as("first differing value of output %d of %s", i,
                    java.util.Arrays.toString(shape)).isEqualTo(-1);
          }
        }
      }
    }
    List<Long> seen = new ArrayList<>();
    for (int i = 0; i < VectorWarmUp.MAX_SIGNATURES && recorder.slot(i) != 0; i++) {
      seen.add(recorder.slot(i));
    }
    assertThat(seen).doesNotHaveDuplicates();
    assertThat(seen).contains(VectorWarmUp.signature(VectorWarmUp.SHIFTED_SUMS, false, 3136, 2));
    assertThat(seen.stream().map(VectorWarmUp::method))
        .contains(VectorWarmUp.BACKWARD_SUMS_ACROSS, VectorWarmUp.NORMALIZE_ROWS);
  }

  /** Forward training, backward training, eval forward and backward; every output, in order. */
  private static float[][] passes(KernelOps ops, int[] shape, boolean last, boolean relu) {
    int n = shape[0];
    int c = shape[1];
    int s = shape[2];
    SplittableRandom rnd = new SplittableRandom(7);
    float[] x = new float[n * c * s];
    float[] dy = new float[x.length];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) (rnd.nextGaussian() + 3);
      dy[i] = (float) rnd.nextGaussian();
    }
    float[] y = new float[x.length];
    float[] dx = new float[x.length];
    float[] y2 = new float[x.length];
    float[] dx2 = new float[x.length];
    float[] weight = new float[c];
    float[] bias = new float[c];
    java.util.Arrays.fill(weight, 1.5f);
    java.util.Arrays.fill(bias, -0.25f);
    float[] runningMean = new float[c];
    float[] runningVar = new float[c];
    java.util.Arrays.fill(runningVar, 1f);
    float[] saveMean = new float[c];
    float[] saveInvStd = new float[c];
    float[] weightGrad = new float[c];
    float[] biasGrad = new float[c];
    BatchNormKernels.forwardTraining(ops, n, c, s, last, x, y, weight, bias, runningMean,
        runningVar, 0.1, true, 1e-5, relu, saveMean, saveInvStd, 1, PassOrder.AUTO);
    BatchNormKernels.backwardTraining(ops, n, c, s, last, x, relu ? y : null, dy, dx, weight,
        saveMean, saveInvStd, weightGrad, biasGrad, 1, PassOrder.AUTO);
    BatchNormKernels.forwardInference(ops, n, c, s, last, x, y2, weight, bias, runningMean,
        runningVar, 1e-5, relu, 1);
    BatchNormKernels.backwardInference(ops, n, c, s, last, x, relu ? y2 : null, dy, dx2, weight,
        runningMean, runningVar, 1e-5, weightGrad, biasGrad, 1);
    return new float[][] {y, dx, y2, dx2, runningMean, runningVar, saveMean, saveInvStd,
        weightGrad, biasGrad};
  }

  /** The recording and the delegation allocate nothing per call, either way of the hand-over. */
  @Test
  void callsThroughEitherDelegatingAllocateNothing() {
    com.sun.management.ThreadMXBean threads = io.github.batchnorm4j.testing.Allocations.counters();
    VectorWarmUp warmUp = new VectorWarmUp(KernelOps.vector().orElse(KernelOps.scalar()), r -> { });
    for (KernelOps ops : new KernelOps[] {warmUp.recorder(), warmUp.vector()}) {
      int n = 16;
      int c = 8;
      int s = 7 * 7;
      float[] x = new float[n * c * s];
      SplittableRandom rnd = new SplittableRandom(5);
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) rnd.nextGaussian();
      }
      float[] y = new float[x.length];
      float[] dx = new float[x.length];
      float[] weight = new float[c];
      java.util.Arrays.fill(weight, 1f);
      float[] bias = new float[c];
      float[] runningMean = new float[c];
      float[] runningVar = new float[c];
      float[] saveMean = new float[c];
      float[] saveInvStd = new float[c];
      float[] weightGrad = new float[c];
      float[] biasGrad = new float[c];
      Runnable step = () -> {
        BatchNormKernels.forwardTraining(ops, n, c, s, false, x, y, weight, bias, runningMean,
            runningVar, 0.1, true, 1e-5, false, saveMean, saveInvStd, 1, PassOrder.AUTO);
        BatchNormKernels.backwardTraining(ops, n, c, s, false, x, null, y, dx, weight, saveMean,
            saveInvStd, weightGrad, biasGrad, 1, PassOrder.AUTO);
      };
      for (int i = 0; i < 5_000; i++) { // let the JIT compile everything first
        step.run();
      }
      long allocated = io.github.batchnorm4j.testing.Allocations
          .leastAllocatedInThreeWindows(threads, step, 500);
      // 1,000 calls: anything per call would show as at least 16 bytes per call.
      assertThat(allocated).as("bytes allocated by 500 steps through %s", ops.name())
          .isLessThan(1_000);
    }
  }

  /**
   * A private warm-up of the vector kernels, fed by calls through its recorder, ends with the
   * vector kernels taking over, on a daemon thread of the documented name, within its budget; the
   * kernels it hands out then give the vector kernels' bits.
   */
  @Test
  void aWarmUpCompilesTheRecordedPathsAndHandsOver() throws Exception {
    assumeTrue(KernelOps.vector().isPresent(), "no Vector API kernels in this JVM");
    KernelOps vector = KernelOps.vector().orElseThrow();
    AtomicReference<VectorWarmUp.Result> result = new AtomicReference<>();
    AtomicReference<Thread> thread = new AtomicReference<>();
    VectorWarmUp warmUp = new VectorWarmUp(vector, r -> {
      thread.set(Thread.currentThread());
      result.set(r);
    });
    int[] shape = {8, 16, 28 * 28};
    passes(warmUp.recorder(), shape, false, false);
    warmUp.start();
    assertThat(warmUp.await(TimeUnit.SECONDS.toNanos(60))).isTrue();
    assertThat(thread.get().getName()).isEqualTo(VectorWarmUp.THREAD_NAME);
    assertThat(thread.get().isDaemon()).isTrue();
    VectorWarmUp.Result r = result.get();
    assertThat(r.vectorTakesOver()).as("%s", r).isTrue();
    assertThat(r.signatures).as("%s", r).isPositive();
    assertThat(r.toString()).contains("kernel signatures compiled");
    thread.get().join(TimeUnit.SECONDS.toMillis(10));
    assertThat(thread.get().isAlive()).isFalse();

    float[][] handedOver = passes(warmUp.vector(), shape, false, false);
    float[][] direct = passes(vector, shape, false, false);
    for (int i = 0; i < direct.length; i++) {
      assertThat(java.util.Arrays.mismatch(handedOver[i], direct[i]))
          .as("first differing value of output %d", i).isEqualTo(-1);
    }
  }
}
