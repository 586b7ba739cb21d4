package io.github.batchnorm4j.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.batchnorm4j.testing.TestData;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * On the scalar kernels' double elementwise path ({@link ScalarKernels#WIDE}, JDK 25 and later)
 * every elementwise pass writes the Vector API kernels' bits for the same per-channel constants,
 * with and without the fused ReLU's mask, plane by plane and over whole rows. Skipped where the
 * path is off (JDK 17) or the Vector API module is absent.
 */
class WideElementwiseParityTest {

  @Test
  void wideOnJdk25AndLaterUnlessTheProperty() {
    assertThat(ScalarKernels.wide(null, 17)).isFalse();
    assertThat(ScalarKernels.wide(null, 21)).isFalse();
    assertThat(ScalarKernels.wide(null, 25)).isTrue();
    assertThat(ScalarKernels.wide(null, 26)).isTrue();
    assertThat(ScalarKernels.wide("float", 25)).isFalse();
    assertThat(ScalarKernels.wide("double", 17)).isTrue();
    assertThat(ScalarKernels.wide("something", 17)).isFalse();
    assertThat(ScalarKernels.wide(" Double ", 17)).isTrue();
    assertThat(ScalarKernels.wide("FLOAT", 25)).isFalse();
  }

  @ParameterizedTest(name = "rows {0}, channels {1}, plane {2}")
  @CsvSource({"5, 3, 1", "7, 20, 1", "3, 4, 7", "2, 9, 13", "4, 6, 49", "2, 3, 64", "2, 2, 207",
      "1, 2, 4099"})
  void everyElementwisePassGivesTheVectorKernelsBits(int rows, int channels, int len) {
    assumeTrue(ScalarKernels.WIDE, "the scalar kernels compute elementwise in float here");
    KernelOps vector = TestData.kernels("vector");
    KernelOps scalar = TestData.kernels("scalar");
    SplittableRandom rnd = new SplittableRandom(31L * rows + 7L * channels + len);
    int size = rows * channels * len;
    float[] x = new float[size];
    float[] dy = new float[size];
    float[] relu = new float[size];
    for (int i = 0; i < size; i++) {
      x[i] = (float) (1e3 + rnd.nextGaussian() * (1 + rnd.nextInt(100)));
      dy[i] = (float) rnd.nextGaussian();
      relu[i] = rnd.nextInt(3) == 0 ? 0f : (float) rnd.nextDouble();
    }
    double[] mean = new double[channels];
    double[] alpha = new double[channels];
    double[] beta = new double[channels];
    double[] meanDy = new double[channels];
    double[] k = new double[channels];
    for (int c = 0; c < channels; c++) {
      mean[c] = 1e3 + rnd.nextGaussian();
      alpha[c] = 0.01 + rnd.nextDouble();
      beta[c] = rnd.nextGaussian();
      meanDy[c] = rnd.nextGaussian() * 1e-2;
      k[c] = rnd.nextDouble() * 1e-3;
    }
    for (boolean masked : new boolean[] {false, true}) {
      float[] mask = masked ? relu : null;
      float[][] out = new float[2][size];
      KernelOps[] both = {scalar, vector};
      for (int which = 0; which < 2; which++) {
        both[which].normalizeRows(x, out[which], 0, rows, channels, len, mean, alpha, beta, masked);
      }
      assertBits("normalizeRows", out);
      for (int which = 0; which < 2; which++) {
        for (int c = 0; c < channels; c++) {
          both[which].normalize(x, out[which], c * len, channels * len, rows, len, mean[c],
              alpha[c], beta[c], masked);
        }
      }
      assertBits("normalize", out);
      for (int which = 0; which < 2; which++) {
        both[which].backwardDxRows(x, dy, mask, out[which], 0, rows, channels, len, mean, meanDy,
            k, alpha);
      }
      assertBits("backwardDxRows", out);
      for (int which = 0; which < 2; which++) {
        for (int c = 0; c < channels; c++) {
          both[which].backwardDx(x, dy, mask, out[which], c * len, channels * len, rows, len,
              mean[c], meanDy[c], k[c], alpha[c]);
        }
      }
      assertBits("backwardDx", out);
      for (int which = 0; which < 2; which++) {
        both[which].scaleGradRows(dy, mask, out[which], 0, rows, channels, len, alpha);
      }
      assertBits("scaleGradRows", out);
      for (int which = 0; which < 2; which++) {
        double[] sums = new double[2 * channels];
        for (int c = 0; c < channels; c++) {
          both[which].scaleGrad(x, dy, mask, out[which], c * len, channels * len, rows, len,
              mean[c], alpha[c], which == 0 && c % 2 == 0, sums, 2 * c);
        }
      }
      assertBits("scaleGrad (with and without its sums)", out);
    }
  }

  private static void assertBits(String pass, float[][] out) {
    for (int i = 0; i < out[0].length; i++) {
      assertThat(Float.floatToRawIntBits(out[0][i]))
          .as("%s at %d: scalar %s, vector %s", pass, i, out[0][i], out[1][i])
          .isEqualTo(Float.floatToRawIntBits(out[1][i]));
    }
  }
}
