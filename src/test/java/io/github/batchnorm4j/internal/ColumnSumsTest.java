package io.github.batchnorm4j.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.batchnorm4j.testing.TestData;
import java.math.BigDecimal;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The scalar kernels' training-backward sums on the column path (JDK 25 and later, or {@code
 * -Dbatchnorm4j.scalarElementwise=double}, which the JDK 17 test run sets in an execution of its
 * own): the runs of two planes per column update, block by block, and two blocks per update for
 * the last plane of an odd count, must give the bits of the order the method's comment documents,
 * and the sums must stay within double rounding of the exact ones. The run lengths cover runs
 * shorter than a block (from 8 values; shorter runs take four accumulators instead), one block, a
 * pair, a pair and an odd block, and each with a tail shorter than a block; the planes sit apart,
 * as channels of NCHW data do.
 */
class ColumnSumsTest {

  private static final int COLUMNS = ScalarKernels.COLUMNS;

  @ParameterizedTest(name = "planes of {0} values")
  @ValueSource(ints = {8, 9, 16, 25, 36, 49, 63, 64, 65, 128, 130, 192, 196, 200, 256, 784, 3136})
  void columnSumsFollowTheDocumentedOrder(int len) {
    assumeTrue(ScalarKernels.WIDE, "the column path runs on JDK 25 or with the double path forced");
    int planes = 9; // four pairs of planes, then one on its own
    int gap = 5;
    SplittableRandom rnd = TestData.rng(31L * len);
    float[] x = new float[gap + planes * (len + gap)]; // the first plane starts at gap
    float[] dy = new float[x.length];
    for (int i = 0; i < x.length; i++) {
      // A mean of 10 and the pivot below it: x - pivot then needs more bits than a float has, so
      // that a product g (x - pivot) rounded on its own would differ from the fma's.
      x[i] = (float) (10 + 3 * rnd.nextGaussian());
      // Gradients over 80 binades, so that their sums in double round: an order of adds other
      // than the documented one then shows in the bits.
      dy[i] = (float) Math.scalb(rnd.nextGaussian(), rnd.nextInt(-40, 40));
    }
    double pivot = 9.123456789;
    double[] out = new double[3];
    ScalarKernels.INSTANCE.backwardSums(x, dy, null, gap, len + gap, planes, len, pivot, out, 0);

    double[] documented = documentedOrder(x, dy, gap, len + gap, planes, len, pivot);
    assertThat(out).as("len " + len).containsExactly(documented);

    // The exact sums, in BigDecimal (x - pivot is not exact in double: the pivot is no float).
    BigDecimal[] exactSums = {BigDecimal.ZERO, BigDecimal.ZERO, BigDecimal.ZERO};
    double[] magnitude = new double[3];
    BigDecimal exactPivot = new BigDecimal(pivot);
    for (int p = 0; p < planes; p++) {
      for (int i = gap + p * (len + gap), end = i + len; i < end; i++) {
        BigDecimal g = new BigDecimal(dy[i]);
        BigDecimal c = new BigDecimal(x[i]).subtract(exactPivot);
        exactSums[0] = exactSums[0].add(g);
        exactSums[1] = exactSums[1].add(g.multiply(c));
        exactSums[2] = exactSums[2].add(c);
        magnitude[0] += Math.abs(dy[i]);
        magnitude[1] += Math.abs(dy[i] * (x[i] - pivot));
        magnitude[2] += Math.abs(x[i] - pivot);
      }
    }
    double[] exact = new double[3];
    for (int k = 0; k < 3; k++) {
      exact[k] = exactSums[k].doubleValue();
    }
    for (int k = 0; k < 3; k++) {
      assertThat(Math.abs(out[k] - exact[k])).as("sum %d, len %d", k, len)
          .isLessThanOrEqualTo(1e-13 * magnitude[k]);
    }
  }

  /**
   * The documented order: the planes in pairs, and for each pair, block by block (the tail last),
   * value j of the block of the first plane and then of the second into column j by fma; the last
   * plane of an odd count block by block; the columns then added into eight sums, column j into
   * sum j % 8 in column order, and those pairwise.
   */
  private static double[] documentedOrder(float[] x, float[] dy, int base, int stride,
      int planes, int len, double pivot) {
    double[][] columns = new double[3][COLUMNS];
    for (int p = 0; p < planes; p += 2) {
      int pairEnd = Math.min(planes, p + 2);
      for (int block = 0; block < len; block += COLUMNS) {
        for (int q = p; q < pairEnd; q++) {
          for (int i = block; i < Math.min(len, block + COLUMNS); i++) {
            int at = base + q * stride + i;
            int j = i - block;
            double c = x[at] - pivot;
            columns[0][j] += dy[at];
            columns[1][j] = Math.fma(dy[at], c, columns[1][j]);
            columns[2][j] += c;
          }
        }
      }
    }
    double[] sums = new double[3];
    for (int k = 0; k < 3; k++) {
      double[] eight = new double[8];
      for (int j = 0; j < COLUMNS; j++) {
        eight[j % 8] += columns[k][j];
      }
      sums[k] = ((eight[0] + eight[1]) + (eight[2] + eight[3]))
          + ((eight[4] + eight[5]) + (eight[6] + eight[7]));
    }
    return sums;
  }
}
