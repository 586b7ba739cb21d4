package io.github.batchnorm4j.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small, dependency-free reader and writer for the <a
 * href="https://github.com/huggingface/safetensors">safetensors</a> format, for tests only.
 *
 * <p>Layout: an 8-byte little-endian unsigned header length {@code N}; {@code N} bytes of UTF-8 JSON
 * mapping each tensor name to {@code {"dtype", "shape", "data_offsets": [begin, end]}} plus an optional
 * {@code "__metadata__"} object of string values; then the little-endian data area, to which the
 * offsets are relative.
 *
 * <p>Reading supports F32, F64, F16, BF16 (all exposed as {@code float[]}, F64 also exactly as
 * {@code double[]}) and I64 ({@code long[]}); other dtypes are kept as raw bytes and rejected only
 * when their values are asked for. Writing supports F32, I64 and string metadata. The reader checks
 * what a corrupt or truncated file would get wrong (header length, offsets inside the data area and
 * matching dtype and shape) and says which tensor is at fault.
 */
public final class SafeTensors {

  /** Largest header accepted, as in the reference implementation (100 MB). */
  private static final long MAX_HEADER_BYTES = 100_000_000L;

  private final Map<String, Entry> entries;
  private final Map<String, String> metadata;

  private SafeTensors(Map<String, Entry> entries, Map<String, String> metadata) {
    this.entries = Collections.unmodifiableMap(entries);
    this.metadata = Collections.unmodifiableMap(metadata);
  }

  /** One stored tensor: its dtype name (as in the file), its shape and its raw little-endian bytes. */
  public static final class Entry {
    private final String name;
    private final String dtype;
    private final int[] shape;
    private final byte[] raw;

    Entry(String name, String dtype, int[] shape, byte[] raw) {
      this.name = name;
      this.dtype = dtype;
      this.shape = shape;
      this.raw = raw;
    }

    public String name() {
      return name;
    }

    /** The dtype as written in the header, e.g. {@code "F32"}, {@code "BF16"}, {@code "I64"}. */
    public String dtype() {
      return dtype;
    }

    /** A copy of the shape; empty for a 0-dim (scalar) tensor. */
    public int[] shape() {
      return shape.clone();
    }

    /** Number of elements (1 for a 0-dim tensor). */
    public int numel() {
      return SafeTensors.numel(shape);
    }

    /** A copy of the raw little-endian bytes. */
    public byte[] raw() {
      return raw.clone();
    }

    /**
     * The values as float32. F32 is exact; F16 and BF16 widen exactly; F64 is rounded to nearest.
     *
     * @throws IllegalStateException for a non-floating dtype
     */
    public float[] floats() {
      int n = numel();
      float[] out = new float[n];
      ByteBuffer b = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
      switch (dtype) {
        case "F32":
          for (int i = 0; i < n; i++) {
            out[i] = b.getFloat(4 * i);
          }
          break;
        case "F64":
          for (int i = 0; i < n; i++) {
            out[i] = (float) b.getDouble(8 * i);
          }
          break;
        case "F16":
          for (int i = 0; i < n; i++) {
            out[i] = halfToFloat(b.getShort(2 * i));
          }
          break;
        case "BF16":
          for (int i = 0; i < n; i++) {
            out[i] = Float.intBitsToFloat((b.getShort(2 * i) & 0xffff) << 16);
          }
          break;
        default:
          throw new IllegalStateException(
              "tensor '" + name + "' has dtype " + dtype + ", not a floating type (F32, F64, F16, BF16)");
      }
      return out;
    }

    /**
     * The values as float64; exact for every floating dtype.
     *
     * @throws IllegalStateException for a non-floating dtype
     */
    public double[] doubles() {
      if (dtype.equals("F64")) {
        int n = numel();
        double[] out = new double[n];
        ByteBuffer b = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
          out[i] = b.getDouble(8 * i);
        }
        return out;
      }
      float[] f = floats();
      double[] out = new double[f.length];
      for (int i = 0; i < f.length; i++) {
        out[i] = f[i];
      }
      return out;
    }

    /**
     * The values as int64.
     *
     * @throws IllegalStateException unless the dtype is I64
     */
    public long[] longs() {
      if (!dtype.equals("I64")) {
        throw new IllegalStateException("tensor '" + name + "' has dtype " + dtype + ", not I64");
      }
      int n = numel();
      long[] out = new long[n];
      ByteBuffer b = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
      for (int i = 0; i < n; i++) {
        out[i] = b.getLong(8 * i);
      }
      return out;
    }

    /** The single value of a one-element I64 tensor (such as a 0-dim {@code num_batches_tracked}). */
    public long scalarLong() {
      long[] v = longs();
      if (v.length != 1) {
        throw new IllegalStateException(
            "tensor '" + name + "' has " + v.length + " elements, shape " + Arrays.toString(shape));
      }
      return v[0];
    }

    @Override
    public String toString() {
      return name + ": " + dtype + Arrays.toString(shape);
    }
  }

  /** The tensors by name, in the order of their data offsets. */
  public Map<String, Entry> entries() {
    return entries;
  }

  /** The {@code __metadata__} strings (empty when absent). */
  public Map<String, String> metadata() {
    return metadata;
  }

  /**
   * Returns the named tensor.
   *
   * @throws IllegalArgumentException if there is none (the message lists what there is)
   */
  public Entry get(String name) {
    Entry e = entries.get(name);
    if (e == null) {
      throw new IllegalArgumentException("no tensor '" + name + "'; have " + entries.keySet());
    }
    return e;
  }

  /** Whether a tensor of this name is stored. */
  public boolean contains(String name) {
    return entries.containsKey(name);
  }

  /** Reads a file. */
  public static SafeTensors read(Path path) throws IOException {
    try {
      return read(Files.readAllBytes(path));
    } catch (IllegalArgumentException e) {
      throw new IOException(path + ": " + e.getMessage(), e);
    }
  }

  /** Reads a whole stream (not closed). */
  public static SafeTensors read(InputStream in) throws IOException {
    try {
      return read(in.readAllBytes());
    } catch (IllegalArgumentException e) {
      throw new IOException(e.getMessage(), e);
    }
  }

  /** Reads a class-path resource, e.g. {@code "/pytorch-bn-fixtures/bn_io.safetensors"}. */
  public static SafeTensors readResource(String resource) {
    try (InputStream in = SafeTensors.class.getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalArgumentException("class-path resource not found: " + resource);
      }
      return read(in);
    } catch (IOException e) {
      throw new UncheckedIOException(resource + ": " + e.getMessage(), e);
    }
  }

  /**
   * Parses the bytes of a whole file.
   *
   * @throws IllegalArgumentException if the bytes are not a valid safetensors file
   */
  public static SafeTensors read(byte[] file) {
    if (file.length < 8) {
      throw new IllegalArgumentException("file has " + file.length + " bytes, fewer than the 8-byte header length");
    }
    long headerLen = ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    if (headerLen < 2 || headerLen > MAX_HEADER_BYTES || headerLen > file.length - 8L) {
      throw new IllegalArgumentException(
          "header length " + Long.toUnsignedString(headerLen) + " is invalid for a file of " + file.length + " bytes");
    }
    String json = new String(file, 8, (int) headerLen, StandardCharsets.UTF_8);
    Object parsed = MiniJson.parse(json);
    if (!(parsed instanceof Map)) {
      throw new IllegalArgumentException("header is not a JSON object");
    }
    int dataStart = 8 + (int) headerLen;
    long dataLen = file.length - (long) dataStart;
    Map<String, String> metadata = new LinkedHashMap<>();
    List<Entry> list = new ArrayList<>();
    List<long[]> ranges = new ArrayList<>();
    for (Map.Entry<?, ?> kv : ((Map<?, ?>) parsed).entrySet()) {
      String name = (String) kv.getKey();
      if (name.equals("__metadata__")) {
        if (!(kv.getValue() instanceof Map)) {
          throw new IllegalArgumentException("__metadata__ is not an object");
        }
        for (Map.Entry<?, ?> m : ((Map<?, ?>) kv.getValue()).entrySet()) {
          if (!(m.getValue() instanceof String)) {
            throw new IllegalArgumentException("__metadata__ value of '" + m.getKey() + "' is not a string");
          }
          metadata.put((String) m.getKey(), (String) m.getValue());
        }
        continue;
      }
      if (!(kv.getValue() instanceof Map)) {
        throw new IllegalArgumentException("tensor '" + name + "': header entry is not an object");
      }
      Map<?, ?> info = (Map<?, ?>) kv.getValue();
      Object dtypeObj = info.get("dtype");
      Object shapeObj = info.get("shape");
      Object offsetsObj = info.get("data_offsets");
      if (!(dtypeObj instanceof String) || !(shapeObj instanceof List) || !(offsetsObj instanceof List)) {
        throw new IllegalArgumentException("tensor '" + name + "': needs dtype (string), shape and data_offsets (arrays)");
      }
      String dtype = (String) dtypeObj;
      List<?> shapeList = (List<?>) shapeObj;
      int[] shape = new int[shapeList.size()];
      for (int i = 0; i < shape.length; i++) {
        long d = asLong(shapeList.get(i), name, "shape");
        if (d < 0 || d > Integer.MAX_VALUE) {
          throw new IllegalArgumentException("tensor '" + name + "': shape " + shapeList + " has an invalid size");
        }
        shape[i] = (int) d;
      }
      List<?> offs = (List<?>) offsetsObj;
      if (offs.size() != 2) {
        throw new IllegalArgumentException("tensor '" + name + "': data_offsets must have 2 values, has " + offs);
      }
      long begin = asLong(offs.get(0), name, "data_offsets");
      long end = asLong(offs.get(1), name, "data_offsets");
      if (begin < 0 || end < begin || end > dataLen) {
        throw new IllegalArgumentException(
            "tensor '" + name + "': data_offsets [" + begin + ", " + end + "] outside the data area of " + dataLen + " bytes");
      }
      int size = dtypeSize(dtype);
      long expected = (long) numel(shape) * size;
      if (size > 0 && end - begin != expected) {
        throw new IllegalArgumentException(
            "tensor '" + name + "': " + dtype + Arrays.toString(shape) + " needs " + expected
                + " bytes but data_offsets [" + begin + ", " + end + "] hold " + (end - begin));
      }
      byte[] raw = Arrays.copyOfRange(file, dataStart + (int) begin, dataStart + (int) end);
      list.add(new Entry(name, dtype, shape, raw));
      ranges.add(new long[] {begin, end, list.size() - 1});
    }
    // Order by offset (the JSON object order is not meaningful) and reject overlaps.
    ranges.sort((a, b) -> a[0] != b[0] ? Long.compare(a[0], b[0]) : Long.compare(a[1], b[1]));
    Map<String, Entry> entries = new LinkedHashMap<>();
    long prevEnd = 0;
    String prevName = null;
    for (long[] r : ranges) {
      Entry e = list.get((int) r[2]);
      if (r[0] < prevEnd) {
        throw new IllegalArgumentException("tensors '" + prevName + "' and '" + e.name + "' overlap in the data area");
      }
      prevEnd = r[1];
      prevName = e.name;
      entries.put(e.name, e);
    }
    return new SafeTensors(entries, metadata);
  }

  private static long asLong(Object o, String name, String field) {
    if (o instanceof Long) {
      return (Long) o;
    }
    throw new IllegalArgumentException("tensor '" + name + "': " + field + " holds a non-integer " + o);
  }

  /** Bytes per element of a dtype, or 0 when unknown (then the size is not checked). */
  static int dtypeSize(String dtype) {
    switch (dtype) {
      case "F64":
      case "I64":
      case "U64":
        return 8;
      case "F32":
      case "I32":
      case "U32":
        return 4;
      case "F16":
      case "BF16":
      case "I16":
      case "U16":
        return 2;
      case "I8":
      case "U8":
      case "BOOL":
      case "F8_E4M3":
      case "F8_E5M2":
        return 1;
      default:
        return 0;
    }
  }

  static int numel(int[] shape) {
    long n = 1;
    for (int d : shape) {
      n *= d;
      if (n > Integer.MAX_VALUE) {
        throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " is too large");
      }
    }
    return (int) n;
  }

  /** IEEE 754 binary16 to float32, exact (Java 17 has no Float.float16ToFloat). */
  static float halfToFloat(short h) {
    int bits = h & 0xffff;
    int sign = (bits & 0x8000) << 16;
    int exp = (bits >>> 10) & 0x1f;
    int mant = bits & 0x3ff;
    if (exp == 0x1f) {
      return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13)); // inf or NaN
    }
    if (exp == 0) {
      // zero or subnormal: mant * 2^-24
      float v = mant * 0x1p-24f;
      return sign != 0 ? -v : v;
    }
    return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
  }

  /** A new writer. */
  public static Writer writer() {
    return new Writer();
  }

  /** Collects F32 and I64 tensors and string metadata, then writes them in insertion order. */
  public static final class Writer {
    private final Map<String, Object[]> tensors = new LinkedHashMap<>(); // name -> {dtype, shape, bytes}
    private final Map<String, String> metadata = new LinkedHashMap<>();

    /** Adds a float32 tensor (the array is copied now). */
    public Writer put(String name, int[] shape, float[] data) {
      check(name, shape, data.length);
      ByteBuffer b = ByteBuffer.allocate(4 * data.length).order(ByteOrder.LITTLE_ENDIAN);
      for (float v : data) {
        b.putFloat(v);
      }
      tensors.put(name, new Object[] {"F32", shape.clone(), b.array()});
      return this;
    }

    /** Adds an int64 tensor (the array is copied now); shape {@code new int[0]} is a 0-dim scalar. */
    public Writer putLong(String name, int[] shape, long[] data) {
      check(name, shape, data.length);
      ByteBuffer b = ByteBuffer.allocate(8 * data.length).order(ByteOrder.LITTLE_ENDIAN);
      for (long v : data) {
        b.putLong(v);
      }
      tensors.put(name, new Object[] {"I64", shape.clone(), b.array()});
      return this;
    }

    /** Adds a string to {@code __metadata__}. */
    public Writer metadata(String key, String value) {
      if (key == null || value == null) {
        throw new IllegalArgumentException("metadata key and value must not be null");
      }
      metadata.put(key, value);
      return this;
    }

    private void check(String name, int[] shape, int length) {
      if (name == null || name.equals("__metadata__")) {
        throw new IllegalArgumentException("invalid tensor name " + name);
      }
      if (tensors.containsKey(name)) {
        throw new IllegalArgumentException("tensor '" + name + "' was already put");
      }
      if (numel(shape) != length) {
        throw new IllegalArgumentException(
            "tensor '" + name + "': shape " + Arrays.toString(shape) + " needs " + numel(shape)
                + " values but the array has " + length);
      }
    }

    /** The whole file as bytes. */
    public byte[] toBytes() {
      StringBuilder h = new StringBuilder("{");
      boolean first = true;
      if (!metadata.isEmpty()) {
        h.append("\"__metadata__\":{");
        boolean f2 = true;
        for (Map.Entry<String, String> m : metadata.entrySet()) {
          if (!f2) {
            h.append(',');
          }
          f2 = false;
          MiniJson.quote(h, m.getKey());
          h.append(':');
          MiniJson.quote(h, m.getValue());
        }
        h.append('}');
        first = false;
      }
      long offset = 0;
      for (Map.Entry<String, Object[]> t : tensors.entrySet()) {
        if (!first) {
          h.append(',');
        }
        first = false;
        Object[] v = t.getValue();
        int[] shape = (int[]) v[1];
        byte[] bytes = (byte[]) v[2];
        MiniJson.quote(h, t.getKey());
        h.append(":{\"dtype\":\"").append(v[0]).append("\",\"shape\":[");
        for (int i = 0; i < shape.length; i++) {
          if (i > 0) {
            h.append(',');
          }
          h.append(shape[i]);
        }
        h.append("],\"data_offsets\":[").append(offset).append(',').append(offset + bytes.length).append("]}");
        offset += bytes.length;
      }
      h.append('}');
      byte[] header = h.toString().getBytes(StandardCharsets.UTF_8);
      // Pad the header with spaces to a multiple of 8 bytes, as the reference writer does.
      int padded = (header.length + 7) / 8 * 8;
      ByteArrayOutputStream out = new ByteArrayOutputStream(8 + padded + (int) offset);
      out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded).array());
      out.writeBytes(header);
      for (int i = header.length; i < padded; i++) {
        out.write(' ');
      }
      for (Object[] v : tensors.values()) {
        out.writeBytes((byte[]) v[2]);
      }
      return out.toByteArray();
    }

    /** Writes the file, creating parent directories. */
    public void write(Path path) throws IOException {
      Path parent = path.toAbsolutePath().getParent();
      if (parent != null) {
        Files.createDirectories(parent);
      }
      Files.write(path, toBytes());
    }
  }
}
