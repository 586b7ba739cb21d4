package io.github.batchnorm4j;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * An immutable tensor of any {@link DType}: a dtype, a {@link Shape} and the elements as
 * little-endian bytes in row-major order, exactly as a safetensors file stores them. It is the value
 * type of a state dict ({@link BatchNorm#stateDict()}) and of a safetensors file
 * ({@link io.github.batchnorm4j.safetensors.SafeTensors}).
 *
 * <p>Unlike {@link Tensor}, which is a float32 view over a live array, a typed tensor owns a private
 * copy of its bytes: the factories copy what they are given, and the accessors return fresh arrays.
 *
 * <h2>Conversions</h2>
 * <ul>
 *   <li>{@link #toFloatArray()}: F32 exactly; F16 and BF16 widen exactly; F64 rounds to nearest
 *       (as PyTorch's {@code .float()} does).
 *   <li>{@link #toDoubleArray()}: every floating type, exactly.
 *   <li>{@link #toLongArray()}: every integer type and BOOL, exactly (U64 above
 *       {@link Long#MAX_VALUE} is an error).
 *   <li>{@link #convertTo(DType)}: between floating types; to F16 and BF16 by rounding to nearest
 *       even from float32, as PyTorch's {@code .half()} and {@code .bfloat16()} do (F64 goes through
 *       float32 first, like PyTorch).
 * </ul>
 */
public final class TypedTensor {

  private final DType dtype;
  private final Shape shape;
  private final byte[] bytes;

  private TypedTensor(DType dtype, Shape shape, byte[] bytes) {
    this.dtype = dtype;
    this.shape = shape;
    this.bytes = bytes;
  }

  /**
   * Creates a tensor from raw little-endian bytes.
   *
   * @param dtype the element type; not null
   * @param shape the shape; not null
   * @param littleEndianBytes numel * dtype.byteSize() bytes; copied, not modified
   * @return the new tensor
   * @throws IllegalArgumentException if an argument is null or the byte count does not match
   */
  public static TypedTensor ofBytes(DType dtype, Shape shape, byte[] littleEndianBytes) {
    if (dtype == null) {
      throw new IllegalArgumentException("dtype must not be null");
    }
    if (shape == null) {
      throw new IllegalArgumentException("shape must not be null");
    }
    if (littleEndianBytes == null) {
      throw new IllegalArgumentException("littleEndianBytes must not be null; shape " + shape);
    }
    long expected = (long) shape.numel() * dtype.byteSize();
    if (littleEndianBytes.length != expected) {
      throw new IllegalArgumentException(
          "littleEndianBytes has " + littleEndianBytes.length + " bytes but " + dtype + " of shape "
              + shape + " needs " + expected);
    }
    return new TypedTensor(dtype, shape, littleEndianBytes.clone());
  }

  /**
   * Creates an F32 tensor.
   *
   * @param shape the shape; not null
   * @param values shape.numel() values in row-major order; copied, not modified
   * @return the new tensor
   * @throws IllegalArgumentException if an argument is null or the length does not match
   */
  public static TypedTensor ofFloats(Shape shape, float[] values) {
    checkLength(shape, values == null ? -1 : values.length, "values");
    ByteBuffer b = allocate(shape, DType.F32);
    for (float v : values) {
      b.putFloat(v);
    }
    return new TypedTensor(DType.F32, shape, b.array());
  }

  /**
   * Creates an F64 tensor.
   *
   * @param shape the shape; not null
   * @param values shape.numel() values; copied, not modified
   * @return the new tensor
   * @throws IllegalArgumentException if an argument is null or the length does not match
   */
  public static TypedTensor ofDoubles(Shape shape, double[] values) {
    checkLength(shape, values == null ? -1 : values.length, "values");
    ByteBuffer b = allocate(shape, DType.F64);
    for (double v : values) {
      b.putDouble(v);
    }
    return new TypedTensor(DType.F64, shape, b.array());
  }

  /**
   * Creates an I64 tensor.
   *
   * @param shape the shape; not null ({@code Shape.of()} for a 0-dim scalar)
   * @param values shape.numel() values; copied, not modified
   * @return the new tensor
   * @throws IllegalArgumentException if an argument is null or the length does not match
   */
  public static TypedTensor ofLongs(Shape shape, long[] values) {
    checkLength(shape, values == null ? -1 : values.length, "values");
    ByteBuffer b = allocate(shape, DType.I64);
    for (long v : values) {
      b.putLong(v);
    }
    return new TypedTensor(DType.I64, shape, b.array());
  }

  /**
   * Creates a 0-dim I64 tensor, such as PyTorch's {@code num_batches_tracked}.
   *
   * @param value the value
   * @return the new 0-dim I64 tensor
   */
  public static TypedTensor scalarLong(long value) {
    return ofLongs(Shape.of(), new long[] {value});
  }

  private static void checkLength(Shape shape, int length, String name) {
    if (shape == null) {
      throw new IllegalArgumentException("shape must not be null");
    }
    if (length < 0) {
      throw new IllegalArgumentException(name + " must not be null; shape " + shape);
    }
    if (length != shape.numel()) {
      throw new IllegalArgumentException(
          name + " has length " + length + " but shape " + shape + " needs " + shape.numel());
    }
  }

  private static ByteBuffer allocate(Shape shape, DType dtype) {
    long size = (long) shape.numel() * dtype.byteSize();
    if (size > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException(
          dtype + " tensor of shape " + shape + " needs " + size + " bytes, more than a Java array holds");
    }
    return ByteBuffer.allocate((int) size).order(ByteOrder.LITTLE_ENDIAN);
  }

  /** {@return the element type} */
  public DType dtype() {
    return dtype;
  }

  /** {@return the shape ({@code ()} for a 0-dim scalar)} */
  public Shape shape() {
    return shape;
  }

  /** {@return the number of elements (1 for a 0-dim scalar)} */
  public int numel() {
    return shape.numel();
  }

  /** {@return the number of bytes, numel * dtype.byteSize()} */
  public int byteSize() {
    return bytes.length;
  }

  /** {@return a copy of the little-endian bytes} */
  public byte[] toByteArray() {
    return bytes.clone();
  }

  private ByteBuffer view() {
    return ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
  }

  /**
   * {@return the values as float32 (see the class comment for the rounding)}
   *
   * @throws IllegalStateException if the dtype is not F64, F32, F16 or BF16
   */
  public float[] toFloatArray() {
    int n = numel();
    float[] out = new float[n];
    ByteBuffer b = view();
    switch (dtype) {
      case F32:
        for (int i = 0; i < n; i++) {
          out[i] = b.getFloat(4 * i);
        }
        break;
      case F64:
        for (int i = 0; i < n; i++) {
          out[i] = (float) b.getDouble(8 * i);
        }
        break;
      case F16:
        for (int i = 0; i < n; i++) {
          out[i] = halfToFloat(b.getShort(2 * i));
        }
        break;
      case BF16:
        for (int i = 0; i < n; i++) {
          out[i] = Float.intBitsToFloat((b.getShort(2 * i) & 0xffff) << 16);
        }
        break;
      default:
        throw new IllegalStateException(
            "a " + dtype + " tensor of shape " + shape + " has no float values; floating dtypes are F64, F32, F16, BF16");
    }
    return out;
  }

  /**
   * {@return the values as float64, exactly}
   *
   * @throws IllegalStateException if the dtype is not F64, F32, F16 or BF16
   */
  public double[] toDoubleArray() {
    if (dtype == DType.F64) {
      int n = numel();
      double[] out = new double[n];
      ByteBuffer b = view();
      for (int i = 0; i < n; i++) {
        out[i] = b.getDouble(8 * i);
      }
      return out;
    }
    float[] f = toFloatArray();
    double[] out = new double[f.length];
    for (int i = 0; i < f.length; i++) {
      out[i] = f[i];
    }
    return out;
  }

  /**
   * {@return the values of an integer (or BOOL) tensor as {@code long}, exactly}
   *
   * @throws IllegalStateException if the dtype is not an integer type, or a U64 value exceeds
   *     {@link Long#MAX_VALUE}
   */
  public long[] toLongArray() {
    if (!dtype.isInteger()) {
      throw new IllegalStateException(
          "a " + dtype + " tensor of shape " + shape + " has no integer values");
    }
    int n = numel();
    long[] out = new long[n];
    ByteBuffer b = view();
    for (int i = 0; i < n; i++) {
      switch (dtype) {
        case I64:
          out[i] = b.getLong(8 * i);
          break;
        case U64:
          out[i] = b.getLong(8 * i);
          if (out[i] < 0) {
            throw new IllegalStateException("U64 value " + Long.toUnsignedString(out[i])
                + " at index " + i + " exceeds Long.MAX_VALUE; shape " + shape);
          }
          break;
        case I32:
          out[i] = b.getInt(4 * i);
          break;
        case U32:
          out[i] = b.getInt(4 * i) & 0xffffffffL;
          break;
        case I16:
          out[i] = b.getShort(2 * i);
          break;
        case U16:
          out[i] = b.getShort(2 * i) & 0xffff;
          break;
        case I8:
          out[i] = b.get(i);
          break;
        default: // U8, BOOL
          out[i] = b.get(i) & 0xff;
          break;
      }
    }
    return out;
  }

  /**
   * {@return the single value of a one-element integer tensor, such as a 0-dim
   * {@code num_batches_tracked}}
   *
   * @throws IllegalStateException if the tensor does not have exactly one element or is not an
   *     integer tensor
   */
  public long longValue() {
    if (numel() != 1) {
      throw new IllegalStateException(
          "longValue needs exactly one element but the tensor has shape " + shape);
    }
    return toLongArray()[0];
  }

  /**
   * {@return this tensor converted to another floating dtype (itself if the dtype is the same)}
   *
   * @param target F64, F32, F16 or BF16
   * @throws IllegalArgumentException if target is null or not a floating dtype
   * @throws IllegalStateException if this tensor is not a floating tensor
   */
  public TypedTensor convertTo(DType target) {
    if (target == null || !target.isFloatingPoint()) {
      throw new IllegalArgumentException(
          "target must be F64, F32, F16 or BF16 but is " + target + "; shape " + shape);
    }
    if (target == dtype) {
      return this;
    }
    if (target == DType.F64) {
      return ofDoubles(shape, toDoubleArray());
    }
    float[] f = toFloatArray();
    if (target == DType.F32) {
      return ofFloats(shape, f);
    }
    ByteBuffer b = allocate(shape, target);
    for (float v : f) {
      b.putShort(target == DType.F16 ? floatToHalf(v) : floatToBfloat16(v));
    }
    return new TypedTensor(target, shape, b.array());
  }

  /** Two typed tensors are equal when dtype, shape and every byte are equal (NaN payloads included). */
  @Override
  public boolean equals(Object o) {
    if (!(o instanceof TypedTensor)) {
      return false;
    }
    TypedTensor t = (TypedTensor) o;
    return dtype == t.dtype && shape.equals(t.shape) && Arrays.equals(bytes, t.bytes);
  }

  @Override
  public int hashCode() {
    return (dtype.hashCode() * 31 + shape.hashCode()) * 31 + Arrays.hashCode(bytes);
  }

  /** Returns the dtype and shape, for example {@code F32(8)} or {@code I64()}. */
  @Override
  public String toString() {
    return dtype.name() + shape;
  }

  // ---------------------------------------------------------------------------------------------
  // 16-bit float conversions (Java 17 has no Float.float16ToFloat).

  /** IEEE 754 binary16 to float32, exactly. */
  static float halfToFloat(short h) {
    int bits = h & 0xffff;
    int sign = (bits & 0x8000) << 16;
    int exp = (bits >>> 10) & 0x1f;
    int mant = bits & 0x3ff;
    if (exp == 0x1f) {
      return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13)); // infinity or NaN
    }
    if (exp == 0) {
      float v = mant * 0x1p-24f; // zero or subnormal, exact
      return sign != 0 ? -v : v;
    }
    return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
  }

  /** float32 to IEEE 754 binary16, rounding to nearest even; overflow gives infinity. */
  static short floatToHalf(float f) {
    int bits = Float.floatToRawIntBits(f);
    int sign = (bits >>> 16) & 0x8000;
    int abs = bits & 0x7fffffff;
    if (abs >= 0x7f800000) { // infinity or NaN (kept quiet)
      return (short) (sign | 0x7c00 | (abs > 0x7f800000 ? 0x200 | ((abs >>> 13) & 0x3ff) : 0));
    }
    if (abs >= 0x477ff000) { // >= 65520, which rounds past the largest half (65504)
      return (short) (sign | 0x7c00);
    }
    if (abs < 0x38800000) { // below 2^-14: a half subnormal (or zero); scaling by 2^24 is exact
      int m = (int) Math.rint(Float.intBitsToFloat(abs) * 0x1p24f);
      return (short) (sign | m); // m == 0x400 encodes the smallest normal, correctly
    }
    int half = ((((abs >>> 23) - 127 + 15)) << 10) | ((abs & 0x7fffff) >>> 13);
    int rest = abs & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1) == 1)) {
      half++; // a carry into the exponent is the correct rounding
    }
    return (short) (sign | half);
  }

  /** float32 to bfloat16, rounding to nearest even; NaN becomes the quiet NaN 0x7fc0, as in PyTorch. */
  static short floatToBfloat16(float f) {
    if (Float.isNaN(f)) {
      return (short) 0x7fc0;
    }
    int bits = Float.floatToRawIntBits(f);
    int rounded = bits + 0x7fff + ((bits >>> 16) & 1);
    return (short) (rounded >>> 16);
  }
}
