package io.github.batchnorm4j.safetensors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.batchnorm4j.DType;
import io.github.batchnorm4j.Shape;
import io.github.batchnorm4j.TypedTensor;
import io.github.batchnorm4j.testing.Fixtures;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Round trips, PyTorch-written files, and the reader's strictness with the reason in the message. */
class SafeTensorsTest {

  private static final String SHARED = "/pytorch-bn-fixtures/";

  static Map<String, TypedTensor> everyDtype() {
    Map<String, TypedTensor> m = new LinkedHashMap<>();
    float[] f = {1f, -2.5f, Float.MIN_VALUE, Float.MAX_VALUE, -0f, Float.NaN, Float.NEGATIVE_INFINITY, 3.1415927f};
    m.put("f32", TypedTensor.ofFloats(Shape.of(2, 4), f));
    m.put("f64", TypedTensor.ofDoubles(Shape.of(3), new double[] {0.1, -1e300, Double.MIN_VALUE}));
    m.put("f16", TypedTensor.ofFloats(Shape.of(8), f).convertTo(DType.F16));
    m.put("bf16", TypedTensor.ofFloats(Shape.of(8), f).convertTo(DType.BF16));
    m.put("i64", TypedTensor.ofLongs(Shape.of(5), new long[] {Long.MIN_VALUE, -1, 0, 1, Long.MAX_VALUE}));
    m.put("scalar", TypedTensor.scalarLong(42));
    m.put("empty", TypedTensor.ofFloats(Shape.of(0, 4), new float[0]));
    byte[] raw = {1, (byte) 0xff, 0x7f, (byte) 0x80};
    for (DType d : new DType[] {DType.I8, DType.U8, DType.BOOL, DType.F8_E4M3, DType.F8_E5M2}) {
      m.put(d.name().toLowerCase(), TypedTensor.ofBytes(d, Shape.of(4), raw));
    }
    m.put("i32", TypedTensor.ofBytes(DType.I32, Shape.of(1), raw));
    m.put("u16", TypedTensor.ofBytes(DType.U16, Shape.of(2), raw));
    m.put("ünï\"\\\n", TypedTensor.scalarLong(-1));
    return m;
  }

  @Test
  void roundTripsEveryDtypeBitForBitThroughBytesStreamsAndFiles(@TempDir Path dir) throws IOException {
    Map<String, TypedTensor> tensors = everyDtype();
    Map<String, String> metadata = new LinkedHashMap<>();
    metadata.put("format", "pt");
    metadata.put("quote\"and\\slash", "ünï\ncode \u0001 \uD83D\uDE00");
    byte[] bytes = SafeTensors.toBytes(tensors, metadata);
    long headerLength = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    assertThat(headerLength % 8).as("header padded to 8 bytes").isZero();
    assertThat(bytes[8]).isEqualTo((byte) '{');

    Path file = dir.resolve("all.safetensors");
    SafeTensors.write(file, tensors, metadata);
    assertThat(Files.readAllBytes(file)).isEqualTo(bytes);

    for (SafeTensors st : new SafeTensors[] {
        SafeTensors.read(bytes), SafeTensors.read(new ByteArrayInputStream(bytes)), SafeTensors.read(file)}) {
      assertThat(st.tensors()).containsExactlyEntriesOf(tensors); // equal dtype, shape and bytes
      assertThat(st.metadata()).containsExactlyEntriesOf(metadata);
      assertThat(SafeTensors.toBytes(st.tensors(), st.metadata())).isEqualTo(bytes);
    }
    SafeTensors some = SafeTensors.read(file, name -> name.startsWith("f"));
    assertThat(some.tensors().keySet()).containsExactly("f32", "f64", "f16", "f8_e4m3", "f8_e5m2");
  }

  @Test
  void readsPyTorchWrittenFilesOfEveryPrecision() throws IOException, URISyntaxException {
    SafeTensors f32 = Fixtures.readResource(SHARED + "model_f32.safetensors");
    for (String tag : new String[] {"f64", "f16", "bf16"}) {
      SafeTensors st = Fixtures.readResource(SHARED + "model_" + tag + ".safetensors");
      assertThat(st.metadata()).containsExactly(Map.entry("format", "pt"));
      TypedTensor mean = st.get("features.1.running_mean");
      assertThat(mean.dtype().name()).isEqualToIgnoringCase(tag);
      assertThat(mean.convertTo(DType.F32).toFloatArray().length).isEqualTo(8);
      if (tag.equals("f64")) {
        assertThat(mean.toFloatArray()).containsExactly(f32.get("features.1.running_mean").toFloatArray());
      }
      assertThat(st.get("bn3d.num_batches_tracked")).isEqualTo(f32.get("bn3d.num_batches_tracked"));
    }
    SafeTensors io = Fixtures.readResource(SHARED + "bn_io.safetensors");
    assertThat(io.get("features.1.x").shape()).isEqualTo(Shape.of(6, 8, 7, 9));
    assertThat(io.get("bn3d.train_num_batches_tracked").longValue()).isEqualTo(6);
    // A path read loads only the selected tensors, and they equal the stream read's.
    Path model = Path.of(SafeTensorsTest.class.getResource(SHARED + "model_f32.safetensors").toURI());
    SafeTensors bn1 = SafeTensors.read(model, k -> k.startsWith("features.1."));
    assertThat(bn1.tensors().keySet()).containsExactlyInAnyOrder("features.1.weight", "features.1.bias",
        "features.1.running_mean", "features.1.running_var", "features.1.num_batches_tracked");
    bn1.tensors().forEach((k, v) -> assertThat(v).isEqualTo(f32.get(k)));
    assertThatThrownBy(() -> bn1.get("features.0.weight")).hasMessageContaining("features.0.weight");
  }

  // ---------------------------------------------------------------------------------------------
  // Malformed files: the documented exception, with the problem and the key in the message.

  static byte[] file(String header, int dataBytes) {
    byte[] h = header.getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(h.length).put(h);
    return b.array();
  }

  static String entry(String name, String dtype, String shape, long begin, long end) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + begin + "," + end + "]}";
  }

  private static void rejects(byte[] bytes, String key, String... fragments) {
    assertThatThrownBy(() -> SafeTensors.read(bytes)).isInstanceOf(SafeTensorsException.class)
        .satisfies(e -> assertThat(((SafeTensorsException) e).key()).isEqualTo(key))
        .hasMessageContainingAll(fragments);
    assertThatThrownBy(() -> SafeTensors.read(new ByteArrayInputStream(bytes)))
        .isInstanceOf(SafeTensorsException.class);
  }

  @Test
  void rejectsBrokenFramesAndHeaders() {
    rejects(new byte[3], null, "3 bytes", "fewer than");
    byte[] ok = SafeTensors.toBytes(Map.of("w", TypedTensor.ofFloats(Shape.of(4), new float[4])), null);
    rejects(Arrays.copyOf(ok, ok.length - 1), "w", "'w'", "past the end", "truncated");
    byte[] huge = ok.clone();
    huge[7] = 0x7f;
    rejects(huge, null, "header length", "exceeds the limit");
    byte[] negative = ok.clone();
    negative[7] = (byte) 0xff;
    rejects(negative, null, "header length 18", "exceeds the limit");
    byte[] pastEnd = ok.clone();
    pastEnd[0] = (byte) 0xf0;
    rejects(pastEnd, null, "header length", "runs past the end");
    rejects(file("", 0), null, "empty");
    rejects(file(" {}", 0), null, "must start with '{'");
    byte[] notUtf8 = file("{\"\u00e9\":1}", 0);
    notUtf8[10] = (byte) 0xff;
    rejects(notUtf8, null, "not valid UTF-8");
    rejects(file("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],}", 4), "x", "not valid", "'x'");
    rejects(file("{} x", 0), null, "after the end");
    rejects(file("{\"a\":[[[[1]]]]}", 0), "a", "expected '{'");
    rejects(file("{" + entry("x", "F32", "[1]", 0, 4) + "," + entry("x", "F32", "[1]", 4, 8) + "}", 8), "x", "twice");
    rejects(file("{" + entry("x", "f32", "[1]", 0, 4) + "}", 4), "x", "unknown dtype 'f32'");
    rejects(file("{" + entry("x", "F32", "[-1]", 0, 4) + "}", 4), "x", "non-negative integer");
    rejects(file("{" + entry("x", "F32", "[1.0]", 0, 4) + "}", 4), "x", "non-negative integer");
    rejects(file("{" + entry("x", "F32", "[99999999999999999999]", 0, 4) + "}", 4), "x", "larger than");
    rejects(file("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1}}", 4), "x", "unknown field 'extra'");
    rejects(file("{\"x\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4), "x", "lacks the field shape");
    rejects(file("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4), "x", "exactly two");
    rejects(file("{\"__metadata__\":{\"a\":1}}", 0), "__metadata__", "must be a string");
    rejects(file("{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", 0), "__metadata__", "twice");
  }

  @Test
  void rejectsInconsistentOffsets() {
    rejects(file("{" + entry("x", "F32", "[3]", 0, 8) + "}", 8), "x", "'x'", "needs 12 bytes", "hold 8");
    rejects(file("{" + entry("x", "F32", "[2]", 0, 8) + "," + entry("y", "F32", "[1]", 4, 8) + "}", 8),
        "y", "'y'", "overlaps tensor 'x'");
    rejects(file("{" + entry("x", "F32", "[1]", 4, 8) + "}", 8), "x", "unused bytes before tensor 'x'");
    rejects(file("{" + entry("x", "F32", "[1]", 0, 4) + "}", 8), null, "4 bytes after the last tensor");
    rejects(file("{" + entry("x", "F32", "[1]", 8, 4) + "}", 8), "x", "end before they begin");
    rejects(file("{" + entry("x", "F32", "[1]", 0, 4000000000000L) + "}", 8), "x", "past the end");
    rejects(file("{" + entry("x", "F64", "[4294967296,4294967296]", 0, 8) + "}", 8), "x", "too many elements");
    // a tensor too large for a Java array is reported by the reader, not by an OutOfMemoryError
    assertThatThrownBy(() -> SafeTensors.read(new ByteArrayInputStream(
        file("{" + entry("big", "U8", "[3000000000]", 0, 3000000000L) + "}", 0))))
        .isInstanceOf(SafeTensorsException.class).hasMessageContaining("'big'");
  }

  @Test
  void writerRejectsWhatCannotBeWritten() {
    TypedTensor t = TypedTensor.scalarLong(1);
    assertThatThrownBy(() -> SafeTensors.toBytes(Map.of("__metadata__", t), null))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("__metadata__");
    assertThatThrownBy(() -> SafeTensors.toBytes(Map.of("bad\uD800", t), null))
        .hasMessageContaining("unpaired surrogate");
    assertThatThrownBy(() -> SafeTensors.toBytes(null, null)).isInstanceOf(IllegalArgumentException.class);
  }
}
