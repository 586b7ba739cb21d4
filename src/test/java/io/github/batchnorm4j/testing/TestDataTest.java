package io.github.batchnorm4j.testing;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link TestData#assertClose}, the comparison most float64-reference tests rest on, fails where it
 * must: a NaN anywhere (it once let a NaN through unless it was the last element), an error just
 * over the tolerance, a wrong length.
 */
class TestDataTest {

  private static final double[] EXPECTED = {1, -2, 3, 4};

  @ParameterizedTest(name = "NaN at index {0}")
  @ValueSource(ints = {0, 1, 2, 3})
  void aNaNAnywhereFails(int at) {
    float[] actual = {1, -2, 3, 4};
    actual[at] = Float.NaN;
    assertThatThrownBy(() -> TestData.assertClose("y", actual, EXPECTED, 1e-3))
        .isInstanceOf(AssertionError.class)
        .hasMessageContaining("at index " + at);
  }

  @Test
  void anErrorJustOverTheToleranceFailsAndOneWithinItPasses() {
    assertThatThrownBy(() -> TestData.assertClose("y", new float[] {1, -2, 3.00125f, 4}, EXPECTED,
        1e-3)).isInstanceOf(AssertionError.class).hasMessageContaining("at index 2");
    assertThatCode(() -> TestData.assertClose("y", new float[] {1, -2, 3.00075f, 4}, EXPECTED,
        1e-3)).doesNotThrowAnyException();
  }

  @Test
  void equalSpecialValuesAgreeAndDifferentOnesDoNot() {
    double inf = Double.POSITIVE_INFINITY;
    assertThatCode(() -> TestData.assertClose("y", new float[] {Float.NaN, Float.POSITIVE_INFINITY},
        new double[] {Double.NaN, inf}, 0)).doesNotThrowAnyException();
    assertThatThrownBy(() -> TestData.assertClose("y", new float[] {1, Float.NEGATIVE_INFINITY},
        new double[] {1, inf}, 1e30)).isInstanceOf(AssertionError.class);
    assertThatThrownBy(() -> TestData.assertClose("y", new float[] {0, 1},
        new double[] {Double.NaN, 1}, 1e30)).isInstanceOf(AssertionError.class);
  }

  @Test
  void aWrongLengthFails() {
    assertThatThrownBy(() -> TestData.assertClose("y", new float[] {1, -2, 3}, EXPECTED, 1))
        .isInstanceOf(AssertionError.class);
  }
}
