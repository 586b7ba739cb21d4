package io.github.batchnorm4j.safetensors;

import io.github.batchnorm4j.DType;
import io.github.batchnorm4j.Shape;
import io.github.batchnorm4j.TypedTensor;
import java.io.ByteArrayInputStream;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Deterministic fuzz inputs for the safetensors reader: each seed gives one file, valid or broken
 * in one of the ways {@link Strategy} lists, and {@link #check} runs the reader on it and classifies
 * the outcome. Shared by the jqwik test and the {@link SafeTensorsFuzz} program.
 */
final class FuzzInputs {

  /** How an input was made. */
  enum Strategy {
    VALID,
    RANDOM_BYTES,
    TRUNCATED,
    HEADER_LENGTH,
    BIT_FLIPS,
    OFFSETS_PAST_END,
    OVERLAPPING_RANGES,
    BAD_NUMBERS,
    WRONG_DTYPE,
    NOT_UTF8,
    TOKEN_SPLICE,
    DEEP_JSON,
    HUGE_JSON,
    TRAILING_BYTES
  }

  /** The outcome of one read. */
  enum Outcome {
    ACCEPTED,
    REJECTED,
    /** Anything else: an unchecked exception, an error, or too much memory. A bug. */
    FAILED
  }

  record Input(Strategy strategy, byte[] bytes) {}

  private static final String[] DTYPE_NAMES = {"F32", "F64", "F16", "BF16", "I64", "I8", "U8", "BOOL"};
  private static final String[] TOKENS = {"{", "}", "[", "]", ",", ":", "\"", "\\", "\\u", "\\ud800",
      "null", "true", "false", "-", "-0", "0", "01", "1e999", "-1", "0.5", "1E+2", "18446744073709551616",
      "9223372036854775807", "\"F32\"", "\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\"",
      " ", "\t", "\n", "\u0000", "\u00e9", "\uD83D\uDE00", "[]", "{}", "\"\""};

  private FuzzInputs() {}

  /** A random valid file: a few tensors of random dtype and shape, and maybe metadata. */
  static byte[] validFile(SplittableRandom rnd) {
    Map<String, TypedTensor> tensors = new LinkedHashMap<>();
    int n = rnd.nextInt(0, 5);
    for (int i = 0; i < n; i++) {
      DType d = DType.values()[rnd.nextInt(DType.values().length)];
      int rank = rnd.nextInt(0, 4);
      int[] dims = new int[rank];
      for (int k = 0; k < rank; k++) {
        dims[k] = rnd.nextInt(0, 4);
      }
      Shape s = Shape.of(dims);
      byte[] raw = new byte[s.numel() * d.byteSize()];
      for (int k = 0; k < raw.length; k++) {
        raw[k] = (byte) rnd.nextInt();
      }
      tensors.put("t" + i + (rnd.nextInt(4) == 0 ? ".\u00e9\"" : ""), TypedTensor.ofBytes(d, s, raw));
    }
    Map<String, String> meta = rnd.nextBoolean() ? Map.of("format", "pt") : null;
    return SafeTensors.toBytes(tensors, meta);
  }

  static Input generate(long seed) {
    SplittableRandom rnd = new SplittableRandom(seed);
    Strategy s = Strategy.values()[rnd.nextInt(Strategy.values().length)];
    return new Input(s, make(s, rnd));
  }

  private static byte[] make(Strategy s, SplittableRandom rnd) {
    byte[] valid = validFile(rnd);
    switch (s) {
      case VALID:
        return valid;
      case RANDOM_BYTES: {
        byte[] b = new byte[rnd.nextInt(0, 80)];
        for (int i = 0; i < b.length; i++) {
          b[i] = (byte) rnd.nextInt();
        }
        if (b.length >= 8 && rnd.nextBoolean()) { // a plausible length, so the JSON gets parsed
          ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, rnd.nextInt(0, b.length - 7));
          b[8 % b.length] = '{';
        }
        return b;
      }
      case TRUNCATED:
        return Arrays.copyOf(valid, rnd.nextInt(0, valid.length));
      case HEADER_LENGTH: {
        long[] choices = {0, 1, 7, -1, Long.MIN_VALUE, Long.MAX_VALUE, 100_000_000L, 100_000_001L,
            valid.length, valid.length - 8, valid.length - 7, 1L << 32};
        long v = rnd.nextBoolean() ? choices[rnd.nextInt(choices.length)]
            : header(valid).getBytes(StandardCharsets.UTF_8).length + rnd.nextInt(-16, 17);
        ByteBuffer.wrap(valid).order(ByteOrder.LITTLE_ENDIAN).putLong(0, v);
        return valid;
      }
      case BIT_FLIPS: {
        int flips = rnd.nextInt(1, 9);
        for (int i = 0; i < flips; i++) {
          int at = rnd.nextInt(valid.length);
          valid[at] ^= (byte) (1 << rnd.nextInt(8));
        }
        return valid;
      }
      case OFFSETS_PAST_END:
      case OVERLAPPING_RANGES:
      case BAD_NUMBERS:
        return rewriteNumbers(s, valid, rnd);
      case WRONG_DTYPE: {
        String h = header(valid);
        String[] wrong = {"f32", "F31", "", "FLOAT", "F32 ", "\u0000", "BF16\"", "I128", "C64", "F4"};
        String name = DTYPE_NAMES[rnd.nextInt(DTYPE_NAMES.length)];
        return withHeader(valid, h.replaceFirst("\"dtype\":\"[A-Z0-9_]*\"",
            "\"dtype\":\"" + java.util.regex.Matcher.quoteReplacement(
                rnd.nextBoolean() ? wrong[rnd.nextInt(wrong.length)] : name.toLowerCase()) + "\""));
      }
      case NOT_UTF8: {
        byte[][] bad = {{(byte) 0xff}, {(byte) 0xc0, (byte) 0x80}, {(byte) 0xed, (byte) 0xa0, (byte) 0x80},
            {(byte) 0xe2, (byte) 0x82}, {(byte) 0xf4, (byte) 0x90, (byte) 0x80, (byte) 0x80}, {(byte) 0x80}};
        byte[] h = header(valid).getBytes(StandardCharsets.UTF_8);
        byte[] ins = bad[rnd.nextInt(bad.length)];
        int at = rnd.nextInt(h.length + 1);
        byte[] nh = new byte[h.length + ins.length];
        System.arraycopy(h, 0, nh, 0, at);
        System.arraycopy(ins, 0, nh, at, ins.length);
        System.arraycopy(h, at, nh, at + ins.length, h.length - at);
        return withHeader(valid, nh);
      }
      case TOKEN_SPLICE: {
        StringBuilder h = new StringBuilder(header(valid));
        int edits = rnd.nextInt(1, 4);
        for (int i = 0; i < edits; i++) {
          int from = rnd.nextInt(h.length() + 1);
          int to = Math.min(h.length(), from + rnd.nextInt(0, 6));
          h.replace(from, to, TOKENS[rnd.nextInt(TOKENS.length)]);
        }
        return withHeader(valid, h.toString());
      }
      case DEEP_JSON: {
        int depth = rnd.nextInt(100) == 0 ? rnd.nextInt(1, 200_000) : rnd.nextInt(1, 3_000);
        String open = rnd.nextBoolean() ? "[" : "{\"a\":";
        StringBuilder h = new StringBuilder("{\"x\":");
        h.append(open.repeat(depth));
        return withHeader(valid, h.append("1").toString());
      }
      case HUGE_JSON: {
        StringBuilder h = new StringBuilder("{");
        int kind = rnd.nextInt(4);
        int n = rnd.nextInt(200) == 0 ? rnd.nextInt(1, 200_000) : rnd.nextInt(1, 5_000);
        if (kind == 0) { // many zero-size tensors: valid, and large
          for (int i = 0; i < n; i++) {
            h.append(i == 0 ? "" : ",").append("\"t").append(i).append("\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}");
          }
        } else if (kind == 1) { // one very long name
          h.append('"').append("n".repeat(n * 20)).append("\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}");
        } else if (kind == 2) { // a very long shape
          h.append("\"s\":{\"dtype\":\"U8\",\"shape\":[").append("1,".repeat(n)).append("0],\"data_offsets\":[0,0]}");
        } else { // long metadata
          h.append("\"__metadata__\":{");
          for (int i = 0; i < n / 4 + 1; i++) {
            h.append(i == 0 ? "" : ",").append("\"k").append(i).append("\":\"").append("v\\u00e9".repeat(4)).append('"');
          }
          h.append('}');
        }
        h.append('}');
        return withHeader(new byte[8], h.toString());
      }
      case TRAILING_BYTES: {
        byte[] b = Arrays.copyOf(valid, valid.length + rnd.nextInt(1, 64));
        return b;
      }
      default:
        throw new AssertionError(s);
    }
  }

  /** Rewrites the numbers in data_offsets (and shapes) of a valid file's header. */
  private static byte[] rewriteNumbers(Strategy s, byte[] valid, SplittableRandom rnd) {
    String h = header(valid);
    long dataLength = valid.length - 8 - h.getBytes(StandardCharsets.UTF_8).length;
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"data_offsets\":\\[(\\d+),(\\d+)\\]").matcher(h);
    StringBuilder out = new StringBuilder();
    boolean any = false;
    while (m.find()) {
      long begin = Long.parseLong(m.group(1));
      long end = Long.parseLong(m.group(2));
      String replacement = m.group();
      if (rnd.nextInt(3) != 0 || !any) {
        any = true;
        switch (s) {
          case OFFSETS_PAST_END:
            end = dataLength + rnd.nextInt(1, 1 << 20) * (rnd.nextBoolean() ? 1L : 1L << 30);
            begin = rnd.nextBoolean() ? begin : end - (m.end() - m.start());
            break;
          case OVERLAPPING_RANGES:
            begin = Math.max(0, begin - rnd.nextInt(1, 9));
            end = rnd.nextBoolean() ? end : begin + rnd.nextInt(0, 16);
            break;
          default: {
            String[] bad = {"-1", "1.5", "1e3", "18446744073709551615", "9223372036854775808", "0x10",
                "+1", "01", "null", "\"4\""};
            replacement = "\"data_offsets\":[" + (rnd.nextBoolean() ? bad[rnd.nextInt(bad.length)] : begin)
                + "," + bad[rnd.nextInt(bad.length)] + "]";
            m.appendReplacement(out, java.util.regex.Matcher.quoteReplacement(replacement));
            continue;
          }
        }
        replacement = "\"data_offsets\":[" + begin + "," + end + "]";
      }
      m.appendReplacement(out, java.util.regex.Matcher.quoteReplacement(replacement));
    }
    m.appendTail(out);
    if (!any) { // no tensors: add one that points past the end
      return withHeader(valid, "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}");
    }
    return withHeader(valid, out.toString());
  }

  private static String header(byte[] valid) {
    int n = (int) ByteBuffer.wrap(valid, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    return new String(valid, 8, n, StandardCharsets.UTF_8);
  }

  private static byte[] withHeader(byte[] valid, String header) {
    return withHeader(valid, header.getBytes(StandardCharsets.UTF_8));
  }

  /** Replaces the header of a valid file, keeping its data area. */
  private static byte[] withHeader(byte[] valid, byte[] header) {
    int old = (int) ByteBuffer.wrap(valid, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    int data = Math.max(0, valid.length - 8 - old);
    ByteBuffer b = ByteBuffer.allocate(8 + header.length + data).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(header.length).put(header).put(valid, valid.length - data, data);
    return b.array();
  }

  // ---------------------------------------------------------------------------------------------

  private static final com.sun.management.ThreadMXBean THREADS =
      (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

  /** Bytes a read may allocate: a small multiple of the input plus a constant. */
  static long allocationBound(int inputLength) {
    return 64L * inputLength + (4 << 20);
  }

  /** What {@link #check} saw. */
  record Result(Outcome outcome, Throwable failure, long allocated) {}

  /**
   * Reads the input from a byte array and from a stream. ACCEPTED if both read it (and agree),
   * REJECTED if both throw {@link SafeTensorsException}, FAILED otherwise (with the cause), or if a
   * read allocated more than {@link #allocationBound}.
   */
  static Result check(byte[] input) {
    long before = THREADS.getCurrentThreadAllocatedBytes();
    Outcome fromArray;
    Outcome fromStream;
    SafeTensors a = null;
    SafeTensors b = null;
    try {
      try {
        a = SafeTensors.read(input);
        fromArray = Outcome.ACCEPTED;
      } catch (SafeTensorsException e) {
        fromArray = Outcome.REJECTED;
      }
      try {
        b = SafeTensors.read(new ByteArrayInputStream(input));
        fromStream = Outcome.ACCEPTED;
      } catch (SafeTensorsException e) {
        fromStream = Outcome.REJECTED;
      }
    } catch (Throwable t) { // the documented exception is the only acceptable one
      return new Result(Outcome.FAILED, t, THREADS.getCurrentThreadAllocatedBytes() - before);
    }
    long allocated = THREADS.getCurrentThreadAllocatedBytes() - before;
    if (fromArray != fromStream) {
      return new Result(Outcome.FAILED, new AssertionError(
          "byte[] read " + fromArray + " but stream read " + fromStream), allocated);
    }
    if (a != null && !(a.tensors().equals(b.tensors()) && a.metadata().equals(b.metadata()))) {
      return new Result(Outcome.FAILED, new AssertionError("byte[] and stream reads differ"), allocated);
    }
    if (allocated > 2 * allocationBound(input.length)) { // two reads
      return new Result(Outcome.FAILED, new AssertionError(
          "allocated " + allocated + " bytes for an input of " + input.length), allocated);
    }
    return new Result(fromArray, null, allocated);
  }
}
