package io.github.batchnorm4j;

/**
 * The element types of a {@link TypedTensor}, named as in the safetensors format (and mapping one to
 * one onto PyTorch's dtypes: {@code F32} is {@code torch.float32}, {@code I64} is
 * {@code torch.int64}, and so on).
 *
 * <p>batchnorm4j computes in float32; {@link TypedTensor} converts the floating types
 * ({@link #F64}, {@link #F32}, {@link #F16}, {@link #BF16}) to and from it, and reads the integer
 * types as {@code long}. The 8-bit float types can be stored and copied but not converted.
 */
public enum DType {
  /** IEEE 754 binary64, {@code torch.float64}. */
  F64(8, Kind.FLOAT),
  /** IEEE 754 binary32, {@code torch.float32}. */
  F32(4, Kind.FLOAT),
  /** IEEE 754 binary16, {@code torch.float16}. */
  F16(2, Kind.FLOAT),
  /** bfloat16 (the upper half of a binary32), {@code torch.bfloat16}. */
  BF16(2, Kind.FLOAT),
  /** 8-bit float with 4 exponent bits, {@code torch.float8_e4m3fn}; stored only. */
  F8_E4M3(1, Kind.OTHER),
  /** 8-bit float with 5 exponent bits, {@code torch.float8_e5m2}; stored only. */
  F8_E5M2(1, Kind.OTHER),
  /** Signed 64-bit integer, {@code torch.int64}. */
  I64(8, Kind.INTEGER),
  /** Signed 32-bit integer, {@code torch.int32}. */
  I32(4, Kind.INTEGER),
  /** Signed 16-bit integer, {@code torch.int16}. */
  I16(2, Kind.INTEGER),
  /** Signed 8-bit integer, {@code torch.int8}. */
  I8(1, Kind.INTEGER),
  /** Unsigned 64-bit integer, {@code torch.uint64}. */
  U64(8, Kind.INTEGER),
  /** Unsigned 32-bit integer, {@code torch.uint32}. */
  U32(4, Kind.INTEGER),
  /** Unsigned 16-bit integer, {@code torch.uint16}. */
  U16(2, Kind.INTEGER),
  /** Unsigned 8-bit integer, {@code torch.uint8}. */
  U8(1, Kind.INTEGER),
  /** Boolean, one byte (0 or 1), {@code torch.bool}. */
  BOOL(1, Kind.INTEGER);

  private enum Kind {
    FLOAT,
    INTEGER,
    OTHER
  }

  private final int byteSize;
  private final Kind kind;

  DType(int byteSize, Kind kind) {
    this.byteSize = byteSize;
    this.kind = kind;
  }

  /** {@return the size of one element in bytes} */
  public int byteSize() {
    return byteSize;
  }

  /** {@return true for F64, F32, F16 and BF16, the types that convert to and from float32} */
  public boolean isFloatingPoint() {
    return kind == Kind.FLOAT;
  }

  /** {@return true for the integer types and BOOL, which read as {@code long}} */
  public boolean isInteger() {
    return kind == Kind.INTEGER;
  }

  /**
   * {@return the dtype with this safetensors name, or null if there is none (the names are
   * case-sensitive, as in the format: {@code "F32"}, {@code "BF16"}, {@code "I64"}, ...)}
   *
   * @param name the name, may be null
   */
  public static DType fromName(String name) {
    if (name == null) {
      return null;
    }
    for (DType d : values()) {
      if (d.name().equals(name)) {
        return d;
      }
    }
    return null;
  }
}
