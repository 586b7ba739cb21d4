package io.github.batchnorm4j.safetensors;

import io.github.batchnorm4j.DType;
import io.github.batchnorm4j.Shape;
import io.github.batchnorm4j.TypedTensor;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Reads and writes the <a href="https://github.com/huggingface/safetensors">safetensors</a> format,
 * in which PyTorch checkpoints are commonly shared ({@code safetensors.torch.save_file}), and holds
 * the tensors of one file.
 *
 * <h2>The format</h2>
 * An 8-byte little-endian unsigned header length N; N bytes of UTF-8 JSON, an object mapping each
 * tensor name to {@code {"dtype": "F32", "shape": [8], "data_offsets": [begin, end]}} plus an
 * optional {@code "__metadata__"} object of string values; then the data area, to which the offsets
 * are relative, holding each tensor's elements in row-major little-endian order.
 *
 * <h2>The reader is strict</h2>
 * A file is untrusted input. Reading one never reads outside it and allocates no more than the file
 * holds (plus the parsed header), whatever the header claims. The rules are those of the reference
 * implementation, and each violation is a {@link SafeTensorsException} naming the problem and the
 * key:
 * <ul>
 *   <li>the header length is at most {@link #MAX_HEADER_BYTES} and fits in the file;
 *   <li>the header is valid UTF-8 and strict JSON starting with '{' (trailing spaces, the padding
 *       writers add, are allowed), nested no deeper than the format needs;
 *   <li>every entry has exactly the fields dtype (a known {@link DType} name), shape (non-negative
 *       integers) and data_offsets (two non-negative integers); names and metadata keys are unique;
 *       metadata values are strings;
 *   <li>each tensor's byte range lies in the data area and is exactly as long as its shape and
 *       dtype say, and the ranges, sorted, tile the data area without gap or overlap to its end.
 * </ul>
 * Tensors that are loaded must also fit in Java arrays (at most {@code Integer.MAX_VALUE - 8} bytes
 * and elements); {@link #read(Path, Predicate)} loads only the tensors you select, so a large
 * whole-model file costs only the memory of the entries you need.
 *
 * <h2>Writing</h2>
 * {@link #write} and {@link #toBytes} write the tensors in the map's iteration order, contiguously,
 * with the metadata first and the header padded with spaces to a multiple of 8 bytes, as the
 * reference writer does. The files load in Python with {@code safetensors.torch.load_file}.
 *
 * <pre>{@code
 * SafeTensors model = SafeTensors.read(Path.of("model.safetensors"), k -> k.startsWith("layer1.0.bn1."));
 * bn.loadStateDict(model.tensors(), "layer1.0.bn1.", true);
 * SafeTensors.write(Path.of("bn.safetensors"), bn.stateDict(), Map.of("format", "pt"));
 * }</pre>
 *
 * <p>An instance is immutable and thread-safe.
 */
public final class SafeTensors {

  /** The largest header accepted, as in the reference implementation: 100,000,000 bytes. */
  public static final long MAX_HEADER_BYTES = 100_000_000L;

  /** The top-level object, an entry or the metadata object, and a shape or offsets array. */
  private static final int MAX_JSON_DEPTH = 3;

  private static final String METADATA_KEY = "__metadata__";
  private static final int MAX_ARRAY_BYTES = Integer.MAX_VALUE - 8;

  private final Map<String, TypedTensor> tensors;
  private final Map<String, String> metadata;

  private SafeTensors(Map<String, TypedTensor> tensors, Map<String, String> metadata) {
    this.tensors = Collections.unmodifiableMap(tensors);
    this.metadata = Collections.unmodifiableMap(metadata);
  }

  /**
   * {@return the loaded tensors by name, in the order of their data offsets (for files this library
   * or the reference implementation wrote, the header order)} Unmodifiable.
   */
  public Map<String, TypedTensor> tensors() {
    return tensors;
  }

  /** {@return the {@code __metadata__} strings, empty when the file has none} Unmodifiable. */
  public Map<String, String> metadata() {
    return metadata;
  }

  /**
   * {@return true if a tensor of this name was loaded}
   *
   * @param name the tensor's name in the file
   */
  public boolean contains(String name) {
    return tensors.containsKey(name);
  }

  /**
   * {@return the named tensor}
   *
   * @param name the tensor's name in the file
   * @throws IllegalArgumentException if no tensor of that name was loaded (the message lists some
   *     that were)
   */
  public TypedTensor get(String name) {
    TypedTensor t = tensors.get(name);
    if (t == null) {
      List<String> names = new ArrayList<>(tensors.keySet());
      String have = names.size() <= 20 ? names.toString()
          : names.subList(0, 20) + " and " + (names.size() - 20) + " more";
      throw new IllegalArgumentException("no tensor '" + name + "'; the file has " + have);
    }
    return t;
  }

  @Override
  public String toString() {
    return "SafeTensors" + tensors + (metadata.isEmpty() ? "" : ", metadata " + metadata);
  }

  // ---------------------------------------------------------------------------------------------
  // Reading

  /**
   * Reads every tensor of a file; see {@link #read(Path, Predicate)}.
   *
   * @param file the file to read
   * @return the tensors read
   * @throws SafeTensorsException if the file is malformed (see the class comment)
   * @throws IOException if the file cannot be read
   */
  public static SafeTensors read(Path file) throws IOException {
    return read(file, name -> true);
  }

  /**
   * Reads a file, validating its whole header and loading only the tensors whose names
   * {@code select} accepts. Memory: the header, plus the selected tensors.
   *
   * @param file the file; not modified
   * @param select which tensors to load, for example {@code k -> k.startsWith("layer1.0.bn1.")}
   * @return the tensors read
   * @throws SafeTensorsException if the file is malformed (see the class comment) or a selected
   *     tensor does not fit in a Java array
   * @throws IOException if the file cannot be read
   * @throws IllegalArgumentException if file or select is null
   */
  public static SafeTensors read(Path file, Predicate<String> select) throws IOException {
    if (file == null || select == null) {
      throw new IllegalArgumentException("file and select must not be null but "
          + (file == null ? "file" : "select") + " is null");
    }
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      long size = ch.size();
      if (size < 8) {
        throw new SafeTensorsException(
            file + ": the file has " + size + " bytes, fewer than the 8-byte header length", null);
      }
      ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      readFully(ch, lengthBytes, 0, "the header length");
      int headerLength = checkHeaderLength(lengthBytes.getLong(0), size);
      ByteBuffer header = ByteBuffer.allocate(headerLength);
      readFully(ch, header, 8, "the header");
      Header h = parseHeader(header.array(), 0, headerLength);
      long dataStart = 8L + headerLength;
      List<Entry> entries = validate(h.entries, size - dataStart);
      Map<String, TypedTensor> loaded = new LinkedHashMap<>();
      for (Entry e : entries) {
        if (select.test(e.name)) {
          ByteBuffer data = ByteBuffer.allocate(e.loadableByteSize());
          readFully(ch, data, dataStart + e.begin, "tensor '" + e.name + "'");
          loaded.put(e.name, e.toTensor(data.array()));
        }
      }
      return new SafeTensors(loaded, h.metadata);
    }
  }

  /**
   * Reads a whole file held in memory.
   *
   * @param file the bytes of the file; not modified
   * @return the tensors read
   * @throws SafeTensorsException if the bytes are not a valid file (see the class comment)
   * @throws IllegalArgumentException if file is null
   */
  public static SafeTensors read(byte[] file) throws SafeTensorsException {
    if (file == null) {
      throw new IllegalArgumentException("file must not be null");
    }
    if (file.length < 8) {
      throw new SafeTensorsException(
          "the file has " + file.length + " bytes, fewer than the 8-byte header length", null);
    }
    long declared = ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    int headerLength = checkHeaderLength(declared, file.length);
    Header h = parseHeader(file, 8, headerLength);
    int dataStart = 8 + headerLength;
    List<Entry> entries = validate(h.entries, file.length - (long) dataStart);
    Map<String, TypedTensor> loaded = new LinkedHashMap<>();
    for (Entry e : entries) {
      int from = dataStart + (int) e.begin; // inside the array: validate checked the range
      loaded.put(e.name, e.toTensor(Arrays.copyOfRange(file, from, from + e.loadableByteSize())));
    }
    return new SafeTensors(loaded, h.metadata);
  }

  /**
   * Reads a whole stream up to its end (the stream is not closed). Memory grows only with the bytes
   * the stream actually delivers, whatever the header claims.
   *
   * @param in the stream
   * @return the tensors read
   * @throws SafeTensorsException if the content is not a valid file (see the class comment),
   *     including a stream that ends early or has bytes after the last tensor
   * @throws IOException if reading fails
   * @throws IllegalArgumentException if in is null
   */
  public static SafeTensors read(InputStream in) throws IOException {
    if (in == null) {
      throw new IllegalArgumentException("in must not be null");
    }
    byte[] lengthBytes = in.readNBytes(8);
    if (lengthBytes.length < 8) {
      throw new SafeTensorsException(
          "the stream has " + lengthBytes.length + " bytes, fewer than the 8-byte header length", null);
    }
    long declared = ByteBuffer.wrap(lengthBytes).order(ByteOrder.LITTLE_ENDIAN).getLong();
    int headerLength = checkHeaderLength(declared, Long.MAX_VALUE);
    byte[] header = in.readNBytes(headerLength);
    if (header.length < headerLength) {
      throw new SafeTensorsException("the stream ends inside the header: it has " + header.length
          + " of the " + headerLength + " header bytes", null);
    }
    Header h = parseHeader(header, 0, headerLength);
    List<Entry> entries = validate(h.entries, -1);
    Map<String, TypedTensor> loaded = new LinkedHashMap<>();
    for (Entry e : entries) {
      int size = e.loadableByteSize();
      byte[] data = in.readNBytes(size);
      if (data.length < size) {
        throw new SafeTensorsException("the stream ends inside tensor '" + e.name + "': it has "
            + data.length + " of its " + size + " bytes (truncated file?)", e.name);
      }
      loaded.put(e.name, e.toTensor(data));
    }
    if (in.read() != -1) {
      throw new SafeTensorsException("the stream has bytes after the last tensor's data", null);
    }
    return new SafeTensors(loaded, h.metadata);
  }

  private static int checkHeaderLength(long declared, long fileSize) throws SafeTensorsException {
    if (declared < 0 || declared > MAX_HEADER_BYTES) {
      throw new SafeTensorsException("the header length " + Long.toUnsignedString(declared)
          + " exceeds the limit of " + MAX_HEADER_BYTES + " bytes", null);
    }
    if (declared > fileSize - 8) {
      throw new SafeTensorsException("the header length " + declared
          + " runs past the end of the file of " + fileSize + " bytes (truncated file?)", null);
    }
    if (declared == 0) {
      throw new SafeTensorsException("the header is empty; it must be a JSON object", null);
    }
    return (int) declared;
  }

  private static void readFully(FileChannel ch, ByteBuffer into, long position, String what)
      throws IOException {
    long at = position;
    while (into.hasRemaining()) {
      int n = ch.read(into, at);
      if (n < 0) {
        throw new SafeTensorsException("the file ended while reading " + what
            + " (was it truncated while being read?)", null);
      }
      at += n;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The header

  /** One header entry as declared; sizes are validated by {@link #validate}. */
  private static final class Entry {
    final String name;
    final DType dtype;
    final long[] shape;
    final long begin;
    final long end;

    Entry(String name, DType dtype, long[] shape, long begin, long end) {
      this.name = name;
      this.dtype = dtype;
      this.shape = shape;
      this.begin = begin;
      this.end = end;
    }

    /** The byte count, checked to fit in a Java array. */
    int loadableByteSize() throws SafeTensorsException {
      long bytes = end - begin;
      if (bytes > MAX_ARRAY_BYTES) {
        throw new SafeTensorsException("tensor '" + name + "' has " + bytes
            + " bytes, more than a Java array holds", name);
      }
      return (int) bytes;
    }

    TypedTensor toTensor(byte[] data) throws SafeTensorsException {
      int[] dims = new int[shape.length];
      for (int i = 0; i < dims.length; i++) {
        if (shape[i] > Integer.MAX_VALUE) {
          throw new SafeTensorsException("tensor '" + name + "' has shape " + Arrays.toString(shape)
              + ", with a dimension larger than a Java array holds", name);
        }
        dims[i] = (int) shape[i];
      }
      Shape s;
      try {
        s = Shape.of(dims);
      } catch (IllegalArgumentException e) {
        throw new SafeTensorsException("tensor '" + name + "' has shape " + Arrays.toString(shape)
            + ", more elements than a Java array holds", name);
      }
      return TypedTensor.ofBytes(dtype, s, data);
    }
  }

  private static final class Header {
    final List<Entry> entries;
    final Map<String, String> metadata;

    Header(List<Entry> entries, Map<String, String> metadata) {
      this.entries = entries;
      this.metadata = metadata;
    }
  }

  private static Header parseHeader(byte[] bytes, int offset, int length) throws SafeTensorsException {
    if (bytes[offset] != '{') {
      throw new SafeTensorsException("the header must start with '{' but starts with byte 0x"
          + Integer.toHexString(bytes[offset] & 0xff), null);
    }
    String json;
    try {
      CharBuffer chars = StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes, offset, length));
      json = chars.toString();
    } catch (CharacterCodingException e) {
      throw new SafeTensorsException("the header is not valid UTF-8", null);
    }
    StrictJsonReader r = new StrictJsonReader(json, MAX_JSON_DEPTH);
    List<Entry> entries = new ArrayList<>();
    Map<String, String> metadata = new LinkedHashMap<>();
    Set<String> names = new HashSet<>();
    String current = null;
    try {
      r.beginObject();
      while (r.hasNext()) {
        current = null;
        String name = r.nextName();
        current = name;
        if (!names.add(name)) {
          throw new SafeTensorsException("the header has the key '" + abbreviate(name) + "' twice", name);
        }
        if (name.equals(METADATA_KEY)) {
          readMetadata(r, metadata);
        } else {
          entries.add(readEntry(r, name));
        }
      }
      current = null;
      r.endObject();
      r.endDocument();
    } catch (JsonSyntaxException e) {
      String where = current == null ? "" : " in the entry for '" + abbreviate(current) + "'";
      throw new SafeTensorsException("the header is not valid: " + e.getMessage() + where, current);
    }
    return new Header(entries, metadata);
  }

  private static void readMetadata(StrictJsonReader r, Map<String, String> metadata)
      throws JsonSyntaxException, SafeTensorsException {
    r.beginObject();
    while (r.hasNext()) {
      String key = r.nextName();
      if (r.peek() != StrictJsonReader.Token.STRING) {
        throw new SafeTensorsException("__metadata__ value of '" + abbreviate(key)
            + "' must be a string but is " + r.peek().name().toLowerCase(java.util.Locale.ROOT), METADATA_KEY);
      }
      String value = r.nextString();
      if (metadata.putIfAbsent(key, value) != null) {
        throw new SafeTensorsException("__metadata__ has the key '" + abbreviate(key) + "' twice", METADATA_KEY);
      }
    }
    r.endObject();
  }

  private static Entry readEntry(StrictJsonReader r, String name)
      throws JsonSyntaxException, SafeTensorsException {
    String at = "tensor '" + abbreviate(name) + "'";
    DType dtype = null;
    long[] shape = null;
    long[] offsets = null;
    r.beginObject();
    while (r.hasNext()) {
      String field = r.nextName();
      switch (field) {
        case "dtype": {
          if (dtype != null) {
            throw new SafeTensorsException(at + " has the field dtype twice", name);
          }
          String d = r.nextString();
          dtype = DType.fromName(d);
          if (dtype == null) {
            throw new SafeTensorsException(at + " has the unknown dtype '" + abbreviate(d)
                + "'; known: " + Arrays.toString(DType.values()), name);
          }
          break;
        }
        case "shape":
          if (shape != null) {
            throw new SafeTensorsException(at + " has the field shape twice", name);
          }
          shape = readLongs(r, "a size in the shape of " + at);
          break;
        case "data_offsets":
          if (offsets != null) {
            throw new SafeTensorsException(at + " has the field data_offsets twice", name);
          }
          offsets = readLongs(r, "an offset in the data_offsets of " + at);
          if (offsets.length != 2) {
            throw new SafeTensorsException(at + " has " + offsets.length
                + " data_offsets; it needs exactly two, [begin, end]", name);
          }
          break;
        default:
          throw new SafeTensorsException(at + " has the unknown field '" + abbreviate(field)
              + "'; an entry has exactly dtype, shape and data_offsets", name);
      }
    }
    r.endObject();
    if (dtype == null || shape == null || offsets == null) {
      throw new SafeTensorsException(at + " lacks the field "
          + (dtype == null ? "dtype" : shape == null ? "shape" : "data_offsets"), name);
    }
    return new Entry(name, dtype, shape, offsets[0], offsets[1]);
  }

  private static long[] readLongs(StrictJsonReader r, String what) throws JsonSyntaxException {
    r.beginArray();
    long[] values = new long[4];
    int n = 0;
    while (r.hasNext()) {
      if (n == values.length) {
        values = Arrays.copyOf(values, 2 * n); // bounded by the header's size
      }
      values[n++] = r.nextNonNegativeLong(what);
    }
    r.endArray();
    return Arrays.copyOf(values, n);
  }

  /**
   * Checks sizes and the tiling of the data area.
   *
   * @param dataLength the data area's size, or -1 when unknown (a stream)
   * @return the entries sorted by offset
   */
  private static List<Entry> validate(List<Entry> declared, long dataLength) throws SafeTensorsException {
    for (Entry e : declared) {
      String at = "tensor '" + abbreviate(e.name) + "'";
      if (e.end < e.begin) {
        throw new SafeTensorsException(at + " has data_offsets [" + e.begin + ", " + e.end
            + "] that end before they begin", e.name);
      }
      if (dataLength >= 0 && e.end > dataLength) {
        throw new SafeTensorsException(at + " has data_offsets [" + e.begin + ", " + e.end
            + "] past the end of the data area of " + dataLength + " bytes (truncated file?)", e.name);
      }
      long expected;
      try {
        long numel = 1;
        boolean empty = false;
        for (long d : e.shape) {
          empty |= d == 0;
        }
        for (long d : e.shape) {
          // a zero-size dimension empties the tensor, whatever the others are
          numel = empty ? 0 : Math.multiplyExact(numel, d);
        }
        expected = Math.multiplyExact(numel, e.dtype.byteSize());
      } catch (ArithmeticException overflow) {
        throw new SafeTensorsException(at + " has shape " + abbreviate(Arrays.toString(e.shape))
            + ", too many elements for 64-bit sizes", e.name);
      }
      if (e.end - e.begin != expected) {
        throw new SafeTensorsException(at + ": " + e.dtype + " with shape "
            + abbreviate(Arrays.toString(e.shape)) + " needs " + expected + " bytes but data_offsets ["
            + e.begin + ", " + e.end + "] hold " + (e.end - e.begin), e.name);
      }
    }
    List<Entry> sorted = new ArrayList<>(declared);
    sorted.sort(Comparator.comparingLong((Entry e) -> e.begin).thenComparingLong(e -> e.end));
    long next = 0;
    String previous = null;
    for (Entry e : sorted) {
      String at = "tensor '" + abbreviate(e.name) + "'";
      if (e.begin < next) {
        throw new SafeTensorsException(at + " (bytes " + e.begin + " to " + e.end
            + ") overlaps tensor '" + abbreviate(previous) + "' (which ends at " + next + ")", e.name);
      }
      if (e.begin > next) {
        throw new SafeTensorsException("the data area has " + (e.begin - next)
            + " unused bytes before " + at + "; tensors must tile it without gaps", e.name);
      }
      next = e.end;
      previous = e.name;
    }
    if (dataLength >= 0 && next != dataLength) {
      throw new SafeTensorsException("the data area has " + (dataLength - next)
          + " bytes after the last tensor's data (which ends at " + next + ")", null);
    }
    return sorted;
  }

  private static String abbreviate(String s) {
    return StrictJsonReader.abbreviate(s);
  }

  // ---------------------------------------------------------------------------------------------
  // Writing

  /**
   * Writes tensors and metadata to a file (replacing it), in the map's iteration order.
   *
   * @param file the file to write; its parent directory must exist
   * @param tensors the tensors by name; not modified. Names must not be {@code "__metadata__"}.
   * @param metadata string metadata, for example {@code Map.of("format", "pt")}; may be empty or
   *     null. Not modified.
   * @throws IllegalArgumentException if an argument, name, tensor, key or value is null, a name is
   *     {@code "__metadata__"}, or a string has an unpaired surrogate (not encodable in UTF-8)
   * @throws IOException if writing fails
   */
  public static void write(Path file, Map<String, TypedTensor> tensors, Map<String, String> metadata)
      throws IOException {
    if (file == null) {
      throw new IllegalArgumentException("file must not be null");
    }
    byte[] header = header(tensors, metadata);
    try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(file), 1 << 16)) {
      out.write(header);
      for (TypedTensor t : tensors.values()) {
        out.write(t.toByteArray());
      }
    }
  }

  /**
   * {@return the bytes of a safetensors file holding these tensors and metadata; see
   * {@link #write}}
   *
   * @param tensors the tensors by name, written in the map's order; not modified
   * @param metadata the header's string metadata (for example {@code {"format": "pt"}}), or empty
   * @throws IllegalArgumentException as for {@link #write}, or if the file would not fit in one
   *     Java array
   */
  public static byte[] toBytes(Map<String, TypedTensor> tensors, Map<String, String> metadata) {
    byte[] header = header(tensors, metadata);
    long size = header.length;
    for (TypedTensor t : tensors.values()) {
      size += t.byteSize();
    }
    if (size > MAX_ARRAY_BYTES) {
      throw new IllegalArgumentException(
          "the file would have " + size + " bytes, more than a Java array holds; use write(Path, ...)");
    }
    ByteBuffer out = ByteBuffer.allocate((int) size);
    out.put(header);
    for (TypedTensor t : tensors.values()) {
      out.put(t.toByteArray());
    }
    return out.array();
  }

  /** The length prefix and the padded JSON header. */
  private static byte[] header(Map<String, TypedTensor> tensors, Map<String, String> metadata) {
    if (tensors == null) {
      throw new IllegalArgumentException("tensors must not be null");
    }
    StringBuilder h = new StringBuilder("{");
    if (metadata != null && !metadata.isEmpty()) {
      h.append('"').append(METADATA_KEY).append("\":{");
      boolean first = true;
      for (Map.Entry<String, String> m : metadata.entrySet()) {
        if (m.getKey() == null || m.getValue() == null) {
          throw new IllegalArgumentException("metadata keys and values must not be null: " + m);
        }
        if (!first) {
          h.append(',');
        }
        first = false;
        quote(h, m.getKey());
        h.append(':');
        quote(h, m.getValue());
      }
      h.append('}');
    }
    long offset = 0;
    for (Map.Entry<String, TypedTensor> t : tensors.entrySet()) {
      String name = t.getKey();
      TypedTensor tensor = t.getValue();
      if (name == null || tensor == null) {
        throw new IllegalArgumentException("tensor names and tensors must not be null: " + name);
      }
      if (name.equals(METADATA_KEY)) {
        throw new IllegalArgumentException("a tensor must not be named " + METADATA_KEY);
      }
      if (h.length() > 1) {
        h.append(',');
      }
      quote(h, name);
      h.append(":{\"dtype\":\"").append(tensor.dtype().name()).append("\",\"shape\":[");
      int[] dims = tensor.shape().toArray();
      for (int i = 0; i < dims.length; i++) {
        if (i > 0) {
          h.append(',');
        }
        h.append(dims[i]);
      }
      h.append("],\"data_offsets\":[").append(offset).append(',');
      offset += tensor.byteSize();
      h.append(offset).append("]}");
    }
    h.append('}');
    byte[] json = h.toString().getBytes(StandardCharsets.UTF_8);
    int padded = (json.length + 7) / 8 * 8; // the reference writer aligns the data to 8 bytes
    if (padded > MAX_HEADER_BYTES) {
      throw new IllegalArgumentException("the header would have " + padded
          + " bytes, more than readers accept (" + MAX_HEADER_BYTES + ")");
    }
    ByteBuffer out = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
    out.putLong(padded).put(json);
    while (out.hasRemaining()) {
      out.put((byte) ' ');
    }
    return out.array();
  }

  private static void quote(StringBuilder sb, String s) {
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (Character.isSurrogate(c)) {
        boolean paired = Character.isHighSurrogate(c) && i + 1 < s.length()
            && Character.isLowSurrogate(s.charAt(i + 1));
        if (!paired) {
          throw new IllegalArgumentException(
              "the string \"" + abbreviate(s) + "\" has an unpaired surrogate at index " + i
                  + " and cannot be written as UTF-8");
        }
        sb.append(c).append(s.charAt(++i));
        continue;
      }
      switch (c) {
        case '"':
          sb.append("\\\"");
          break;
        case '\\':
          sb.append("\\\\");
          break;
        case '\n':
          sb.append("\\n");
          break;
        case '\r':
          sb.append("\\r");
          break;
        case '\t':
          sb.append("\\t");
          break;
        default:
          if (c < 0x20) {
            sb.append(String.format("\\u%04x", (int) c));
          } else {
            sb.append(c);
          }
      }
    }
    sb.append('"');
  }
}
