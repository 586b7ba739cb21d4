package io.github.batchnorm4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.batchnorm4j.testing.TestData;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class TypedTensorTest {

  @Test
  void factoriesCopyAndAccessorsConvert() {
    float[] f = {1f, -2.5f, Float.NaN, -0f};
    TypedTensor t = TypedTensor.ofFloats(Shape.of(2, 2), f);
    f[0] = 99f;
    assertThat(t.toFloatArray()[0]).isEqualTo(1f);
    assertThat(t.dtype()).isEqualTo(DType.F32);
    assertThat(t.byteSize()).isEqualTo(16);
    assertThat(t.toDoubleArray()[1]).isEqualTo(-2.5);
    assertThat(TypedTensor.scalarLong(7).shape().rank()).isZero();
    assertThat(TypedTensor.scalarLong(7).longValue()).isEqualTo(7);
    assertThat(TypedTensor.ofDoubles(Shape.of(1), new double[] {0.1}).toFloatArray()).containsExactly(0.1f);
    assertThat(TypedTensor.ofBytes(DType.U8, Shape.of(2), new byte[] {(byte) 200, 3}).toLongArray())
        .containsExactly(200, 3);
    assertThat(TypedTensor.ofBytes(DType.I16, Shape.of(1), new byte[] {(byte) 0xfe, (byte) 0xff}).toLongArray())
        .containsExactly(-2);
    assertThatThrownBy(() -> t.toLongArray()).isInstanceOf(IllegalStateException.class).hasMessageContaining("F32");
    assertThatThrownBy(() -> TypedTensor.scalarLong(1).toFloatArray()).hasMessageContaining("I64");
    assertThatThrownBy(() -> TypedTensor.ofFloats(Shape.of(3), new float[2]))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("(3)");
    assertThatThrownBy(() -> TypedTensor.ofBytes(DType.F64, Shape.of(1), new byte[4]))
        .hasMessageContaining("needs 8");
    assertThat(TypedTensor.ofFloats(Shape.of(1), new float[] {1}))
        .isEqualTo(TypedTensor.ofFloats(Shape.of(1), new float[] {1}))
        .isNotEqualTo(TypedTensor.ofFloats(Shape.of(1, 1), new float[] {1}))
        .hasToString("F32(1)");
  }

  @Test
  void everyHalfDecodesExactlyAndEncodesBack() {
    for (int bits = 0; bits < 0x10000; bits++) {
      int e = (bits >>> 10) & 0x1f;
      int m = bits & 0x3ff;
      float got = TypedTensor.halfToFloat((short) bits);
      if (e == 0x1f) {
        assertThat(m == 0 ? Float.isInfinite(got) : Float.isNaN(got)).as("bits %04x", bits).isTrue();
        continue;
      }
      double v = e == 0 ? Math.scalb((double) m, -24) : Math.scalb(1.0 + m / 1024.0, e - 15);
      assertThat((double) got).as("bits %04x", bits).isEqualTo((bits & 0x8000) != 0 ? -v : v);
      assertThat(TypedTensor.floatToHalf(got) & 0xffff).as("round trip %04x", bits).isEqualTo(bits);
    }
  }

  /** float -> half and float -> bfloat16 round to nearest, ties to even, for random floats. */
  @Test
  void sixteenBitEncodingsRoundToNearestEven() {
    SplittableRandom rnd = TestData.rng(3);
    for (int i = 0; i < 200_000; i++) {
      float f = Float.intBitsToFloat(rnd.nextInt());
      if (Float.isNaN(f)) {
        assertThat(Float.isNaN(TypedTensor.halfToFloat(TypedTensor.floatToHalf(f)))).isTrue();
        continue;
      }
      checkNearest(f, TypedTensor.halfToFloat(TypedTensor.floatToHalf(f)), 65504.0, true);
      float b = Float.intBitsToFloat((TypedTensor.floatToBfloat16(f) & 0xffff) << 16);
      checkNearest(f, b, Float.intBitsToFloat(0x7f7f0000), false); // the largest bfloat16
    }
    // ties: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10 and goes to the even 1
    assertThat(TypedTensor.halfToFloat(TypedTensor.floatToHalf(1f + 0x1p-11f))).isEqualTo(1f);
    assertThat(TypedTensor.halfToFloat(TypedTensor.floatToHalf(1f + 3 * 0x1p-11f))).isEqualTo(1f + 0x1p-9f);
    assertThat(TypedTensor.halfToFloat(TypedTensor.floatToHalf(65520f))).isInfinite();
    assertThat(TypedTensor.halfToFloat(TypedTensor.floatToHalf(65519.99f))).isEqualTo(65504f);
  }

  private static void checkNearest(float f, float r, double max, boolean half) {
    if (Math.abs((double) f) >= max * (1 + (half ? 0x1p-11 : 0x1p-8)) || Float.isInfinite(f)) {
      assertThat(Float.isInfinite(r) || Math.abs(r) == max).as("%s -> %s", f, r).isTrue();
      return;
    }
    if (Float.isInfinite(r)) {
      assertThat(Math.abs((double) f)).as("%s overflowed", f).isGreaterThanOrEqualTo(max);
      return;
    }
    // r is representable; its neighbours in the 16-bit format are at most one spacing away.
    double spacing = half
        ? Math.max(Math.ulp(r) * 0x1p13, 0x1p-24)
        : Math.max(Math.ulp(r) * 0x1p16, Math.ulp(0f) * 0x1p16);
    double err = Math.abs((double) f - r);
    assertThat(err).as("%s -> %s", f, r).isLessThanOrEqualTo(spacing / 2 * 1.0000001 + 1e-300);
  }

  @Test
  void convertToRoundsLikePyTorch() {
    TypedTensor f = TypedTensor.ofFloats(Shape.of(3), new float[] {1f / 3, 65504f, -1e-8f});
    assertThat(f.convertTo(DType.F32)).isSameAs(f);
    assertThat(f.convertTo(DType.F64).toFloatArray()).containsExactly(f.toFloatArray());
    assertThat(f.convertTo(DType.F16).toFloatArray()).containsExactly(0.33325195f, 65504f, -0f);
    assertThat(f.convertTo(DType.BF16).toFloatArray()).containsExactly(0.33398438f, 65536f, -1.0011718e-8f);
    assertThatThrownBy(() -> f.convertTo(DType.I64)).isInstanceOf(IllegalArgumentException.class);
  }
}
