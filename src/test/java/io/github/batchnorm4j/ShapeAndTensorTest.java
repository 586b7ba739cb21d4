package io.github.batchnorm4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class ShapeAndTensorTest {

  @Test
  void shapeReportsItsDimensions() {
    Shape s = Shape.of(2, 3, 8, 8);
    assertThat(s.rank()).isEqualTo(4);
    assertThat(s.dim(0)).isEqualTo(2);
    assertThat(s.dim(3)).isEqualTo(8);
    assertThat(s.numel()).isEqualTo(2 * 3 * 8 * 8);
    assertThat(s).hasToString("(2, 3, 8, 8)");
    assertThat(Shape.of()).hasToString("()");
    assertThat(Shape.of().numel()).isEqualTo(1);
    assertThat(Shape.of(4, 0, 3).numel()).isZero();
  }

  @Test
  void shapeIsAValue() {
    assertThat(Shape.of(2, 3)).isEqualTo(Shape.of(2, 3)).hasSameHashCodeAs(Shape.of(2, 3));
    assertThat(Shape.of(2, 3)).isNotEqualTo(Shape.of(3, 2)).isNotEqualTo(Shape.of(2, 3, 1));
  }

  @Test
  void shapeDoesNotShareItsArray() {
    int[] dims = {2, 3};
    Shape s = Shape.of(dims);
    dims[0] = 99;
    assertThat(s.dim(0)).isEqualTo(2);
    s.toArray()[1] = 99;
    assertThat(s.dim(1)).isEqualTo(3);
  }

  @Test
  void shapeRejectsBadDimensions() {
    assertThatThrownBy(() -> Shape.of(2, -1, 3))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("dimension 1 must be >= 0 but is -1");
    assertThatThrownBy(() -> Shape.of((int[]) null)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("dims");
    assertThatThrownBy(() -> Shape.of(2, 3).dim(2))
        .isInstanceOf(IndexOutOfBoundsException.class)
        .hasMessageContaining("(2, 3)");
  }

  @Test
  void shapeRejectsMoreThanIntMaxElementsWithoutOverflowing() {
    assertThat(Shape.of(Integer.MAX_VALUE).numel()).isEqualTo(Integer.MAX_VALUE);
    assertThatThrownBy(() -> Shape.of(65536, 32768))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("(65536, 32768)").hasMessageContaining("Integer.MAX_VALUE");
    // Each partial product would overflow a long if it were not checked at every step.
    assertThatThrownBy(() -> Shape.of(Integer.MAX_VALUE, Integer.MAX_VALUE, Integer.MAX_VALUE, 2))
        .isInstanceOf(IllegalArgumentException.class);
    // A zero size empties the shape whatever the others are (issue 15: this was rejected).
    assertThat(Shape.of(Integer.MAX_VALUE, Integer.MAX_VALUE, Integer.MAX_VALUE, 0).numel()).isZero();
  }

  @Test
  void tensorWrapsWithoutCopying() {
    float[] data = {1, 2, 3, 4, 5, 6};
    Tensor t = Tensor.of(Shape.of(2, 3), data);
    assertThat(t.data()).isSameAs(data);
    assertThat(t.shape()).isEqualTo(Shape.of(2, 3));
    data[0] = 42;
    assertThat(t.data()[0]).isEqualTo(42f);
  }

  @Test
  void zerosAllocatesZeros() {
    Tensor t = Tensor.zeros(Shape.of(2, 2, 3));
    assertThat(t.data()).hasSize(12).containsOnly(0f);
  }

  @Test
  void tensorChecksItsLength() {
    assertThatThrownBy(() -> Tensor.of(Shape.of(2, 3, 8, 8), new float[383]))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("data has length 383 but shape (2, 3, 8, 8) needs 384 elements");
    assertThatThrownBy(() -> Tensor.of(null, new float[1]))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("shape");
    assertThatThrownBy(() -> Tensor.of(Shape.of(1), null))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("data")
        .hasMessageContaining("(1)");
    assertThatThrownBy(() -> Tensor.zeros(null)).isInstanceOf(IllegalArgumentException.class);
  }
}
