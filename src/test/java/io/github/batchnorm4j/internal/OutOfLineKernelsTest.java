package io.github.batchnorm4j.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * {@link OutOfLineKernels} forwards every kernel method, each with its arguments in their places,
 * and the Vector API kernels are handed out behind it before JDK 25.
 */
class OutOfLineKernelsTest {

  @Test
  void everyKernelMethodIsForwarded() {
    assertThat(VectorWarmUpTest.notOverridden(OutOfLineKernels.class)).isEmpty();
  }

  @Test
  void theVectorKernelsAreCalledOutOfLineBeforeJdk25() {
    assertThat(KernelOps.callsOutOfLine(17)).isTrue();
    assertThat(KernelOps.callsOutOfLine(21)).isTrue();
    assertThat(KernelOps.callsOutOfLine(25)).isFalse();
    assumeTrue(KernelOps.vector().isPresent(), "no Vector API kernels in this JVM");
    KernelOps vector = KernelOps.vector().orElseThrow();
    if (KernelOps.callsOutOfLine(Runtime.version().feature())) {
      assertThat(vector).isInstanceOf(OutOfLineKernels.class);
      assertThat(((OutOfLineKernels) vector).target().getClass().getSimpleName())
          .isEqualTo("VectorKernels");
    } else {
      // Named, not linked: the test compilation has no jdk.incubator.vector (ScalarKernels).
      assertThat(vector.getClass().getSimpleName()).isEqualTo("VectorKernels");
    }
  }

  /**
   * The scalar kernels' normalize goes through its handle before JDK 25 (ScalarKernels' comment
   * on NORMALIZE_OUT_OF_LINE), and writes what its loops write when called directly: here with
   * every argument distinct, and ReLU on and off, so that a swapped argument changes the bits.
   */
  @Test
  void theScalarNormalizeIsCalledOutOfLineBeforeJdk25WithItsArguments() {
    boolean beforeJdk25 = Runtime.version().feature() < 25;
    assertThat(ScalarKernels.NORMALIZE_OUT_OF_LINE).isEqualTo(beforeJdk25);
    assertThat(ScalarKernels.normalizesOutOfLine(64)).isEqualTo(beforeJdk25);
    assertThat(ScalarKernels.normalizesOutOfLine(1023)).isEqualTo(beforeJdk25);
    assertThat(ScalarKernels.normalizesOutOfLine(1024)).isFalse();
    SplittableRandom rnd = new SplittableRandom(5);
    float[] x = new float[400];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) (3 + 2 * rnd.nextGaussian());
    }
    for (boolean relu : new boolean[] {false, true}) {
      float[] viaKernels = new float[x.length];
      float[] direct = new float[x.length];
      ScalarKernels.INSTANCE.normalize(x, viaKernels, 7, 61, 5, 19, 2.75, 0.625, -0.375, relu);
      ScalarKernels.normalizeLoops(x, direct, 7, 61, 5, 19, 2.75, 0.625, -0.375, relu);
      assertThat(viaKernels).as("relu " + relu).containsExactly(direct);
      assertThat(direct[6]).isZero(); // outside the planes: untouched
    }
  }

  /**
   * Each method through the wrapper writes the bits of the same call made directly, on data
   * where swapping any two arguments of the same type would change them.
   */
  @Test
  void forwardsEachCallWithItsArguments() {
    KernelOps direct = ScalarKernels.INSTANCE;
    KernelOps wrapped = new OutOfLineKernels(ScalarKernels.INSTANCE);
    assertThat(wrapped.name()).isEqualTo(direct.name());
    assertThat(wrapped.minAutomaticElements()).isEqualTo(direct.minAutomaticElements());
    int rows = 3;
    int channels = 5;
    int len = 7;
    assertSame(direct, wrapped, (k, io) -> k.shiftedSums(io.x, 4, 11, 3, 6, 0.25, io.out, 1));
    assertSame(direct, wrapped,
        (k, io) -> k.normalize(io.x, io.y, 4, 11, 3, 6, 0.5, 1.25, -0.125, true));
    assertSame(direct, wrapped, (k, io) -> k.normalizeRows(io.x, io.y, 3, rows, channels, len,
        io.c1, io.c2, io.c3, false));
    assertSame(direct, wrapped, (k, io) -> k.shiftedSumsAcross(io.x, 1, 3, channels, len, 1, 4,
        io.c1, io.out, 2, 3));
    assertSame(direct, wrapped, (k, io) -> k.backwardSumsAcross(io.x, io.dy, io.mask, 1, 3,
        channels, len, 1, 4, io.c1, io.out, 2, 3));
    assertSame(direct, wrapped, (k, io) -> k.scaleGradAcross(io.x, io.dy, io.mask, io.y, 1, 3,
        channels, len, 1, 4, io.c1, io.c2, io.out, 2, 3));
    assertSame(direct, wrapped,
        (k, io) -> k.backwardSums(io.x, io.dy, io.mask, 4, 11, 3, 6, 0.75, io.out, 1));
    assertSame(direct, wrapped, (k, io) -> k.backwardDx(io.x, io.dy, io.mask, io.y, 4, 11, 3, 6,
        0.5, 0.01, 0.3, 1.25));
    assertSame(direct, wrapped, (k, io) -> k.backwardDxRows(io.x, io.dy, null, io.y, 3, rows,
        channels, len, io.c1, io.c2, io.c3, io.c4));
    assertSame(direct, wrapped,
        (k, io) -> k.scaleGradRows(io.dy, io.mask, io.y, 3, rows, channels, len, io.c1));
    assertSame(direct, wrapped, (k, io) -> k.scaleGrad(io.x, io.dy, io.mask, io.y, 4, 11, 3, 6,
        0.5, 1.25, true, io.out, 1));
  }

  private interface Call {
    void run(KernelOps kernels, Buffers io);
  }

  private static void assertSame(KernelOps direct, KernelOps wrapped, Call call) {
    Buffers expected = new Buffers();
    Buffers actual = new Buffers();
    call.run(direct, expected);
    call.run(wrapped, actual);
    assertThat(actual.y).isEqualTo(expected.y);
    assertThat(actual.out).isEqualTo(expected.out);
    assertThat(Arrays.equals(expected.y, new Buffers().y)
        && Arrays.equals(expected.out, new Buffers().out)).as("the call wrote something").isFalse();
  }

  /** Inputs from a fixed seed, so that two instances hold the same values. */
  private static final class Buffers {
    final float[] x = new float[200];
    final float[] dy = new float[200];
    final float[] mask = new float[200];
    final float[] y = new float[200];
    final double[] out = new double[40];
    final double[] c1 = new double[5];
    final double[] c2 = new double[5];
    final double[] c3 = new double[5];
    final double[] c4 = new double[5];

    Buffers() {
      SplittableRandom rnd = new SplittableRandom(17);
      fill(x, rnd);
      fill(dy, rnd);
      fill(mask, rnd);
      for (double[] c : new double[][] {c1, c2, c3, c4}) {
        for (int i = 0; i < c.length; i++) {
          c[i] = rnd.nextGaussian();
        }
      }
    }

    private static void fill(float[] a, SplittableRandom rnd) {
      for (int i = 0; i < a.length; i++) {
        a[i] = (float) rnd.nextGaussian();
      }
    }
  }
}
