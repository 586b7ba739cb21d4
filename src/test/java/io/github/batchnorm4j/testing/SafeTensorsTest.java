package io.github.batchnorm4j.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafeTensorsTest {

  private static final String SHARED = "/pytorch-bn-fixtures/";

  @Test
  void roundTripKeepsValuesShapesOrderAndMetadata(@TempDir Path dir) throws IOException {
    float[] a = {1f, -2.5f, Float.MIN_VALUE, Float.MAX_VALUE, -0f, 3.1415927f};
    float[] special = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY};
    long[] n = {Long.MIN_VALUE, -1, 0, 1, Long.MAX_VALUE, 42};
    Path file = dir.resolve("sub/t.safetensors");
    SafeTensors.writer()
        .put("a", new int[] {2, 3}, a)
        .putLong("n", new int[] {6}, n)
        .putLong("scalar", new int[0], new long[] {7})
        .put("special", new int[] {3}, special)
        .put("empty", new int[] {0, 4}, new float[0])
        .metadata("format", "pt")
        .metadata("quote\"and\\slash", "ünï\ncode \u0001")
        .write(file);

    byte[] bytes = Files.readAllBytes(file);
    long headerLen = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    assertThat(headerLen % 8).as("header padded to 8 bytes").isZero();
    assertThat(bytes.length).isEqualTo(8 + headerLen + 4 * 6 + 8 * 6 + 8 + 4 * 3);

    SafeTensors st = SafeTensors.read(file);
    assertThat(st.entries().keySet()).containsExactly("a", "n", "scalar", "special", "empty");
    assertThat(st.get("a").dtype()).isEqualTo("F32");
    assertThat(st.get("a").shape()).containsExactly(2, 3);
    assertThat(st.get("a").floats()).containsExactly(a);
    assertThat(st.get("a").doubles()[5]).isEqualTo((double) 3.1415927f);
    assertThat(Float.floatToRawIntBits(st.get("a").floats()[4])).isEqualTo(Float.floatToRawIntBits(-0f));
    assertThat(st.get("n").dtype()).isEqualTo("I64");
    assertThat(st.get("n").longs()).containsExactly(n);
    assertThat(st.get("scalar").shape()).isEmpty();
    assertThat(st.get("scalar").scalarLong()).isEqualTo(7);
    float[] sp = st.get("special").floats();
    assertThat(sp[0]).isNaN();
    assertThat(sp[1]).isEqualTo(Float.POSITIVE_INFINITY);
    assertThat(sp[2]).isEqualTo(Float.NEGATIVE_INFINITY);
    assertThat(st.get("empty").numel()).isZero();
    assertThat(st.metadata())
        .containsExactly(Map.entry("format", "pt"), Map.entry("quote\"and\\slash", "ünï\ncode \u0001"));

    // stream and byte[] entry points agree with the file one
    SafeTensors viaStream = SafeTensors.read(new ByteArrayInputStream(bytes));
    assertThat(viaStream.get("n").longs()).containsExactly(n);
  }

  @Test
  void wrongAccessorsAndMissingNamesAreReported() {
    SafeTensors st = SafeTensors.read(
        SafeTensors.writer().put("f", new int[] {1}, new float[] {1}).putLong("l", new int[] {1}, new long[] {1}).toBytes());
    assertThatThrownBy(() -> st.get("f").longs()).hasMessageContaining("'f'").hasMessageContaining("F32");
    assertThatThrownBy(() -> st.get("l").floats()).hasMessageContaining("'l'").hasMessageContaining("I64");
    assertThatThrownBy(() -> st.get("missing")).hasMessageContaining("missing").hasMessageContaining("[f, l]");
    assertThatThrownBy(() -> SafeTensors.writer().put("x", new int[] {2, 2}, new float[3]))
        .hasMessageContaining("'x'").hasMessageContaining("needs 4");
  }

  @Test
  void halfAndBfloat16DecodeExactly() {
    // F16: 1, -2, 65504 (max), 2^-24 (smallest subnormal), 2^-14 (smallest normal), +inf, NaN, -0
    short[] h = {0x3C00, (short) 0xC000, 0x7BFF, 0x0001, 0x0400, 0x7C00, 0x7E00, (short) 0x8000};
    // BF16: 1, -3.140625, 2^-133 (subnormal), -inf
    short[] b = {0x3F80, (short) 0xC049, 0x0001, (short) 0xFF80};
    byte[] file = handWritten(
        "{\"h\":{\"dtype\":\"F16\",\"shape\":[8],\"data_offsets\":[0,16]},"
            + "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[16,24]},"
            + "\"d\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[24,32]}}",
        buf -> {
          for (short s : h) {
            buf.putShort(s);
          }
          for (short s : b) {
            buf.putShort(s);
          }
          buf.putDouble(0.1);
        },
        32);
    SafeTensors st = SafeTensors.read(file);
    float[] hf = st.get("h").floats();
    assertThat(hf[0]).isEqualTo(1f);
    assertThat(hf[1]).isEqualTo(-2f);
    assertThat(hf[2]).isEqualTo(65504f);
    assertThat(hf[3]).isEqualTo(0x1p-24f);
    assertThat(hf[4]).isEqualTo(0x1p-14f);
    assertThat(hf[5]).isEqualTo(Float.POSITIVE_INFINITY);
    assertThat(hf[6]).isNaN();
    assertThat(Float.floatToRawIntBits(hf[7])).isEqualTo(Float.floatToRawIntBits(-0f));
    assertThat(st.get("b").floats()).containsExactly(1f, -3.140625f, 0x1p-133f, Float.NEGATIVE_INFINITY);
    assertThat(st.get("d").doubles()).containsExactly(0.1);
    assertThat(st.get("d").floats()).containsExactly(0.1f);
  }

  @Test
  void everyF16BitPatternMatchesTheJdkConversionOfItsExactValue() {
    // Independent check of halfToFloat: value = (-1)^s * 2^(e-15) * (1 + m/1024), or subnormal.
    for (int bits = 0; bits < 0x10000; bits++) {
      int e = (bits >>> 10) & 0x1f;
      int m = bits & 0x3ff;
      float got = SafeTensors.halfToFloat((short) bits);
      if (e == 0x1f) {
        assertThat(m == 0 ? Float.isInfinite(got) : Float.isNaN(got)).as("bits %04x", bits).isTrue();
        continue;
      }
      double v = e == 0 ? Math.scalb((double) m, -24) : Math.scalb(1.0 + m / 1024.0, e - 15);
      if ((bits & 0x8000) != 0) {
        v = -v;
      }
      assertThat((double) got).as("bits %04x", bits).isEqualTo(v);
    }
  }

  @Test
  void corruptFilesAreRejectedWithTheReason() {
    assertThatThrownBy(() -> SafeTensors.read(new byte[3])).hasMessageContaining("fewer than");
    byte[] ok = SafeTensors.writer().put("w", new int[] {4}, new float[4]).toBytes();
    byte[] truncated = java.util.Arrays.copyOf(ok, ok.length - 1);
    assertThatThrownBy(() -> SafeTensors.read(truncated)).hasMessageContaining("'w'").hasMessageContaining("outside");
    byte[] hugeHeader = ok.clone();
    hugeHeader[7] = 0x7f;
    assertThatThrownBy(() -> SafeTensors.read(hugeHeader)).hasMessageContaining("header length");
    byte[] badSize = handWritten("{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", buf -> buf.putLong(0), 8);
    assertThatThrownBy(() -> SafeTensors.read(badSize)).hasMessageContaining("'x'").hasMessageContaining("needs 12 bytes");
    byte[] overlap = handWritten(
        "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
        buf -> buf.putLong(0), 8);
    assertThatThrownBy(() -> SafeTensors.read(overlap)).hasMessageContaining("overlap");
    byte[] badJson = handWritten("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],}", buf -> buf.putInt(0), 4);
    assertThatThrownBy(() -> SafeTensors.read(badJson)).hasMessageContaining("JSON");
  }

  @Test
  void readsThePyTorchWrittenStateDictAndAgreesWithTheManifest() {
    @SuppressWarnings("unchecked")
    Map<String, Object> manifest = (Map<String, Object>) MiniJson.parse(resourceText(SHARED + "manifest.json"));
    @SuppressWarnings("unchecked")
    Map<String, Map<String, Object>> keys = (Map<String, Map<String, Object>>) manifest.get("state_dict_keys");
    Map<String, String> dtypes = Map.of("f32", "F32", "f64", "F64", "f16", "F16", "bf16", "BF16");
    SafeTensors f32 = SafeTensors.readResource(SHARED + "model_f32.safetensors");
    for (Map.Entry<String, String> tag : dtypes.entrySet()) {
      SafeTensors st = SafeTensors.readResource(SHARED + "model_" + tag.getKey() + ".safetensors");
      assertThat(st.metadata()).as(tag.getKey()).containsEntry("format", "pt");
      assertThat(st.entries().keySet()).as(tag.getKey()).containsExactlyInAnyOrderElementsOf(keys.keySet());
      for (Map.Entry<String, Map<String, Object>> k : keys.entrySet()) {
        SafeTensors.Entry e = st.get(k.getKey());
        String what = tag.getKey() + " " + k.getKey();
        List<?> shape = (List<?>) k.getValue().get("shape");
        assertThat(e.shape()).as(what).containsExactly(shape.stream().mapToInt(o -> ((Long) o).intValue()).toArray());
        boolean isInt = k.getValue().get("dtype").equals("torch.int64");
        assertThat(e.dtype()).as(what).isEqualTo(isInt ? "I64" : tag.getValue());
        if (isInt) {
          assertThat(e.longs()).as(what).containsExactly(f32.get(k.getKey()).longs());
          continue;
        }
        float[] ref = f32.get(k.getKey()).floats();
        float[] got = e.floats();
        // F64 holds the float32 values exactly; F16 and BF16 round to nearest (unit roundoff
        // 2^-11 and 2^-8 relative; absolute 2^-25 below F16's normal range).
        for (int i = 0; i < ref.length; i++) {
          double tol = switch (tag.getKey()) {
            case "f32", "f64" -> 0.0;
            case "f16" -> Math.max(Math.abs(ref[i]) * 0x1p-11, 0x1p-25);
            default -> Math.abs(ref[i]) * 0x1p-8;
          };
          assertThat((double) Math.abs(got[i] - ref[i])).as("%s[%d]: %s vs f32 %s", what, i, got[i], ref[i]).isLessThanOrEqualTo(tol);
        }
      }
    }
  }

  @Test
  void readsThePyTorchWrittenInputsAndOutputs() {
    SafeTensors io = SafeTensors.readResource(SHARED + "bn_io.safetensors");
    assertThat(io.metadata()).containsEntry("format", "pt");
    assertThat(io.get("features.1.x").shape()).containsExactly(6, 8, 7, 9);
    assertThat(io.get("bn3d.train_dx").shape()).containsExactly(3, 4, 3, 4, 5);
    assertThat(io.get("bn1d.eval_y").dtype()).isEqualTo("F32");
    assertThat(io.get("bn3d.train_num_batches_tracked").shape()).isEmpty();
    assertThat(io.get("bn3d.train_num_batches_tracked").scalarLong()).isEqualTo(6);
    assertThat(io.contains("bn_untracked.train_running_mean")).isFalse();
    assertThat(io.contains("bn1d.train_dweight")).isFalse();
    // x = randn * 2 + 1 in the generating script: check the sample statistics are plausible, which
    // catches a wrong byte order or offset (those would give garbage or denormals).
    float[] x = io.get("features.1.x").floats();
    double mean = 0;
    for (float v : x) {
      mean += v;
    }
    mean /= x.length;
    double var = 0;
    for (float v : x) {
      var += (v - mean) * (v - mean);
    }
    var /= x.length;
    assertThat(mean).isBetween(0.8, 1.2);
    assertThat(var).isBetween(3.5, 4.5);
  }

  private interface Filler {
    void fill(ByteBuffer b);
  }

  private static byte[] handWritten(String header, Filler data, int dataBytes) {
    byte[] h = header.getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(h.length).put(h);
    data.fill(b);
    return b.array();
  }

  static String resourceText(String resource) {
    try (var in = SafeTensorsTest.class.getResourceAsStream(resource)) {
      assertThat(in).as(resource).isNotNull();
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
