package io.github.batchnorm4j.bench;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.github.batchnorm4j.Shape;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.style.Styler;

/**
 * Turns JMH's JSON results into docs/performance.md and a PNG chart: medians (of every measured
 * iteration of every fork), the ratio PyTorch time / batchnorm4j time per shape, mode and thread
 * count, effective bandwidth as a percentage of the copy bandwidth measured in the same run, the
 * allocation per operation from the gc profiler, and the acceptance checks.
 *
 * <pre>
 * java -cp benchmarks/target/benchmarks.jar io.github.batchnorm4j.bench.Report \
 *     benchmarks/results/jmh.json docs/performance.md [load.txt [commentary.md]]
 * </pre>
 * The optional load file (machine load samples taken during the run) is quoted in the report, and
 * the optional commentary (markdown) is appended to it.
 */
public final class Report {

  static final String[] SHAPES = {
    "32x64x56x56", "32x256x14x14", "8x512x7x7", "128x32x8x8", "64x16x28x28", "2x4x2x2"
  };
  static final String TINY = "2x4x2x2";
  static final int[] THREADS = {1, 2};

  /** One benchmark's pooled measurement. */
  record Result(double median, double min, double max, int forks, int samples, double allocNorm) {}

  private final Map<String, Result> results = new LinkedHashMap<>();
  private String jdk = "?";
  private String vm = "?";
  private String jvmArgs = "";
  private int forks;
  private int measured;
  private String iterations = "";

  public static void main(String[] args) throws IOException {
    if (args.length < 2) {
      System.err.println("usage: Report jmh.json performance.md [load.txt [commentary.md]]");
      System.exit(2);
    }
    System.setProperty("java.awt.headless", "true");
    Report r = new Report();
    r.read(Path.of(args[0]));
    String notes = args.length > 2 && Files.exists(Path.of(args[2]))
        ? Files.readString(Path.of(args[2])).trim() : "";
    Path md = Path.of(args[1]);
    Path png = md.resolveSibling(md.getFileName().toString().replace(".md", ".png"));
    r.chart(png);
    String commentary = args.length > 3 && Files.exists(Path.of(args[3]))
        ? "\n" + Files.readString(Path.of(args[3])).trim() + "\n" : "";
    Files.writeString(md, r.markdown(png.getFileName().toString(), notes, args[0]) + commentary,
        StandardCharsets.UTF_8);
    System.out.println("wrote " + md + " and " + png);
  }

  /** Reads one JMH JSON file, or several separated by commas (one run split per class). */
  void read(Path json) throws IOException {
    JsonArray all = new JsonArray();
    for (String part : json.toString().split(",")) {
      all.addAll(JsonParser.parseString(Files.readString(Path.of(part.trim()))).getAsJsonArray());
    }
    for (JsonElement e : all) {
      JsonObject o = e.getAsJsonObject();
      String bench = o.get("benchmark").getAsString();
      String cls = bench.substring(0, bench.lastIndexOf('.'));
      cls = cls.substring(cls.lastIndexOf('.') + 1);
      String method = bench.substring(bench.lastIndexOf('.') + 1);
      JsonObject params = o.getAsJsonObject("params");
      String key = key(cls, method, params.get("shape").getAsString(),
          Integer.parseInt(params.get("threads").getAsString()));
      JsonObject primary = o.getAsJsonObject("primaryMetric");
      List<Double> samples = new ArrayList<>();
      JsonArray raw = primary.getAsJsonArray("rawData");
      for (JsonElement fork : raw) {
        for (JsonElement v : fork.getAsJsonArray()) {
          samples.add(v.getAsDouble());
        }
      }
      double[] s = samples.stream().mapToDouble(Double::doubleValue).sorted().toArray();
      double median = s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
      double alloc = Double.NaN;
      JsonObject secondary = o.getAsJsonObject("secondaryMetrics");
      if (secondary != null) {
        for (Map.Entry<String, JsonElement> m : secondary.entrySet()) {
          if (m.getKey().replace("\u00b7", "").equals("gc.alloc.rate.norm")) {
            alloc = m.getValue().getAsJsonObject().get("score").getAsDouble();
          }
        }
      }
      results.put(key, new Result(median, s[0], s[s.length - 1], raw.size(), s.length, alloc));
      jdk = o.get("jdkVersion").getAsString();
      vm = o.get("vmName").getAsString() + " " + o.get("vmVersion").getAsString();
      forks = Math.max(forks, o.get("forks").getAsInt());
      measured = o.get("measurementIterations").getAsInt();
      iterations = o.get("warmupIterations").getAsInt() + " x " + o.get("warmupTime").getAsString()
          + " warm-up, " + o.get("measurementIterations").getAsInt() + " x "
          + o.get("measurementTime").getAsString() + " measured";
      if (cls.equals("BatchNorm4jSimd")) {
        jvmArgs = String.join(" ", gsonStrings(o.getAsJsonArray("jvmArgs")));
      }
    }
  }

  private static List<String> gsonStrings(JsonArray a) {
    List<String> out = new ArrayList<>();
    for (JsonElement e : a) {
      out.add(e.getAsString());
    }
    return out;
  }

  static String key(String cls, String method, String shape, int threads) {
    return cls + "." + method + "|" + shape + "|" + threads;
  }

  Result get(String cls, String method, String shape, int threads) {
    return results.get(key(cls, method, shape, threads));
  }

  double median(String cls, String method, String shape, int threads) {
    Result r = get(cls, method, shape, threads);
    return r == null ? Double.NaN : r.median();
  }

  /**
   * PyTorch's backward alone: measured directly ({@code TorchBackward}, the recording forward
   * outside the timed region) when present, else its autograd step minus its forward.
   */
  double torchBackward(String shape, int threads) {
    double direct = median("TorchBackward", "trainBackward", shape, threads);
    if (!Double.isNaN(direct)) {
      return direct;
    }
    return median("TorchBatchNorm", "trainStep", shape, threads)
        - median("TorchBatchNorm", "trainForward", shape, threads);
  }

  static long numel(String shape) {
    long n = 1;
    for (String p : shape.split("x")) {
      n *= Long.parseLong(p.trim());
    }
    return n;
  }

  /** Effective bandwidth in GB/s counting the minimum traffic: arrays read and written once. */
  static double gbps(String shape, int arrays, double micros) {
    return arrays * 4.0 * numel(shape) / (micros * 1e3);
  }

  private static String f(String fmt, Object... args) {
    return String.format(Locale.ROOT, fmt, args);
  }

  static String fmtTime(double us) {
    if (Double.isNaN(us)) {
      return "n/a";
    }
    return us >= 100 ? f("%.0f", us) : us >= 10 ? f("%.1f", us) : f("%.2f", us);
  }

  static double geomean(List<Double> values) {
    double s = 0;
    for (double v : values) {
      s += Math.log(v);
    }
    return Math.exp(s / values.size());
  }

  /** The operations compared with PyTorch: our method, PyTorch's time, arrays of min traffic. */
  private static final String[][] OPS = {
    {"trainForward", "training forward", "2"},
    {"evalForward", "eval forward", "2"},
    {"trainBackward", "training backward", "3"},
  };

  double torch(String op, String shape, int threads) {
    return op.equals("trainBackward") ? torchBackward(shape, threads)
        : median("TorchBatchNorm", op, shape, threads);
  }

  String markdown(String png, String notes, String jsonPath) {
    StringBuilder md = new StringBuilder();
    md.append("# Performance\n\n");
    md.append("batchnorm4j against PyTorch 2.7.1's CPU kernel (libtorch through DJL, offline) and "
        + "against the machine's streaming bandwidth, measured side by side in one JMH run. "
        + "Generated by `benchmarks/src/main/java/io/github/batchnorm4j/bench/Report.java` from `"
        + jsonPath + "`; see [benchmarks/README.md](../benchmarks/README.md) to reproduce and "
        + "[kernels.md](kernels.md) for how the kernels work.\n\n");
    md.append("## Machine and method\n\n");
    md.append("- CPU: ").append(cpu()).append(", ")
        .append(Runtime.getRuntime().availableProcessors()).append(" cores (shared, noisy: see "
            + "the load below)\n");
    md.append("- JDK: ").append(vm).append(" (").append(jdk).append("); fork flags of the SIMD "
        + "runs: `").append(jvmArgs).append("`\n");
    md.append("- JMH 1.37, average time per operation, ").append(forks).append(" forks, ")
        .append(iterations).append("; every number below is the **median of all measured "
            + "iterations of all forks** (").append(forks).append(" x ").append(measured).append(" = ").append(forks * measured)
        .append(" samples)\n");
    md.append("- batchnorm4j: `BatchNorm2d.forward/backward` on resident tensors, "
        + "`builder(C).threads(t)`. **SIMD**: the JVM has `--add-modules jdk.incubator.vector`; "
        + "**scalar**: a plain JVM, no flags\n");
    md.append("- PyTorch: `torch::batch_norm` called directly on resident tensors with "
        + "`torch.set_num_threads(t)`, no autograd, output allocated per call as PyTorch does. "
        + "There is no direct backward call in DJL, so PyTorch's backward runs through autograd: "
        + "`TorchBackward` records the forward before each invocation, outside the timed region, "
        + "and times `backward(dy)` into a fresh leaf (dx without accumulation, plus dgamma and "
        + "dbeta)\n");
    md.append("- Bandwidth: `System.arraycopy` (copy) and a SIMD float sum on arrays of the "
        + "shape's size, same thread count (the second thread a spinning helper). Effective "
        + "bandwidth counts the minimum traffic: forward reads x and writes y once (2 arrays), "
        + "backward reads x and dy and writes dx once (3 arrays); copy counts its 2 arrays\n");
    if (!notes.isEmpty()) {
      md.append("- Load during the run (other builds were running on the same 2 cores):\n\n```\n")
          .append(notes).append("\n```\n");
    }
    md.append("\n![PyTorch time / batchnorm4j time](").append(png).append(")\n\n");

    for (String[] op : OPS) {
      md.append("## ").append(Character.toUpperCase(op[1].charAt(0))).append(op[1].substring(1))
          .append("\n\n");
      md.append("| shape (N, C, H, W) | threads | PyTorch µs | scalar µs | SIMD µs | "
          + "PyTorch / scalar | **PyTorch / SIMD** | SIMD GB/s | copy GB/s | **% of copy** |\n");
      md.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
      for (int t : THREADS) {
        for (String shape : SHAPES) {
          double torch = torch(op[0], shape, t);
          double scalar = median("BatchNorm4jScalar", op[0], shape, t);
          double simd = median("BatchNorm4jSimd", op[0], shape, t);
          double copy = median("Bandwidth", "copy", shape, t);
          double bw = gbps(shape, Integer.parseInt(op[2]), simd);
          double copyBw = gbps(shape, 2, copy);
          md.append("| (").append(shape.replace("x", ", ")).append(") | ").append(t).append(" | ")
              .append(fmtTime(torch)).append(" | ").append(fmtTime(scalar)).append(" | ")
              .append(fmtTime(simd)).append(" | ").append(f("%.2f", torch / scalar)).append(" | **")
              .append(f("%.2f", torch / simd)).append("** | ").append(f("%.1f", bw)).append(" | ")
              .append(f("%.1f", copyBw)).append(" | ").append(f("%.0f%%", 100 * bw / copyBw))
              .append(" |\n");
        }
      }
      md.append("\n");
    }

    md.append("## Training step (forward + backward), measured directly\n\n");
    md.append("No subtraction here: batchnorm4j's `forward` then `backward` against PyTorch's "
        + "autograd step.\n\n");
    md.append("| shape | threads | PyTorch µs | SIMD µs | PyTorch / SIMD |\n");
    md.append("| --- | ---: | ---: | ---: | ---: |\n");
    for (int t : THREADS) {
      for (String shape : SHAPES) {
        double torch = median("TorchBatchNorm", "trainStep", shape, t);
        double simd = median("BatchNorm4jSimd", "trainStep", shape, t);
        md.append("| (").append(shape.replace("x", ", ")).append(") | ").append(t).append(" | ")
            .append(fmtTime(torch)).append(" | ").append(fmtTime(simd)).append(" | ")
            .append(f("%.2f", torch / simd)).append(" |\n");
      }
    }
    md.append("\n");

    md.append("## Streaming bandwidth baseline\n\n");
    md.append("| shape (array of N*C*H*W floats) | threads | copy µs | copy GB/s | SIMD sum µs | "
        + "sum GB/s |\n| --- | ---: | ---: | ---: | ---: | ---: |\n");
    for (int t : THREADS) {
      for (String shape : SHAPES) {
        double copy = median("Bandwidth", "copy", shape, t);
        double sum = median("Bandwidth", "sum", shape, t);
        md.append("| (").append(shape.replace("x", ", ")).append(") | ").append(t).append(" | ")
            .append(fmtTime(copy)).append(" | ").append(f("%.1f", gbps(shape, 2, copy)))
            .append(" | ").append(fmtTime(sum)).append(" | ").append(f("%.1f", gbps(shape, 1, sum)))
            .append(" |\n");
      }
    }
    md.append("\n");

    md.append(cacheResident());

    md.append("## Allocation (JMH gc profiler, bytes per operation)\n\n");
    md.append("| benchmark | threads | ").append(String.join(" | ", shapesHeader()))
        .append(" |\n| --- | ---: |").append(" ---: |".repeat(SHAPES.length)).append("\n");
    String[][] allocRows = {
      {"BatchNorm4jSimd", "trainForward"}, {"BatchNorm4jSimd", "evalForward"},
      {"BatchNorm4jSimd", "trainBackward"}, {"BatchNorm4jSimd", "trainStep"},
      {"BatchNorm4jScalar", "trainForward"}, {"BatchNorm4jScalar", "evalForward"},
      {"BatchNorm4jScalar", "trainBackward"},
      {"TorchBatchNorm", "trainForward"}, {"TorchBatchNorm", "trainStep"},
    };
    for (String[] row : allocRows) {
      for (int t : THREADS) {
        md.append("| ").append(row[0]).append(".").append(row[1]).append(" | ").append(t);
        for (String shape : SHAPES) {
          Result r = get(row[0], row[1], shape, t);
          md.append(" | ").append(r == null || Double.isNaN(r.allocNorm()) ? "n/a"
              : f("%.3f (%.1f KB/it)", r.allocNorm(), perIteration(r) / 1024));
        }
        md.append(" |\n");
      }
    }
    md.append("\nEach cell: bytes per operation, and in brackets the same times the operations "
        + "in one 200 ms measurement iteration. For batchnorm4j the bytes per iteration are about "
        + "the same, a few KB, whether an iteration runs 8 operations or 1.7 million: they are the "
        + "harness's and profiler's own per-iteration allocation, and nothing is allocated per "
        + "operation (the tiny shape, with the most operations per iteration, bounds it at about "
        + "0.01 B/op). PyTorch's rows count only the Java side (DJL's handle objects), not "
        + "libtorch's native allocations.\n\n");

    md.append(acceptance());
    return md.toString();
  }

  /**
   * The arithmetic floor of a pass on a large shape at {@code threads} threads, in µs: the
   * cache-resident time per value times the shape's values, shared perfectly between the threads
   * (optimistic); NaN when not measured.
   */
  double floor(String op, String shape, int threads) {
    double small = median("CacheResident", op, shape, 1);
    return small / CacheResident.smallShape(BenchShape.parse(shape)).numel() * numel(shape)
        / threads;
  }

  /** The section on the cache-resident runs: compute-bound or memory-bound. */
  String cacheResident() {
    if (Double.isNaN(floor("trainForward", SHAPES[0], 1))) {
      return "";
    }
    StringBuilder md = new StringBuilder("## The arithmetic alone: the same passes on cached data\n\n");
    md.append("`CacheResident` runs batchnorm4j's SIMD passes on a tensor with the planes of a "
        + "large shape but only about 25,000 values (4 channels, 100 KB per array), which stays "
        + "in the L2 cache between calls. Its time per value, times the large shape's values, is "
        + "what the large shape would take if memory cost nothing: the *floor*. At two threads "
        + "the floor is halved, as if the threads shared the work perfectly. Against the copy "
        + "bandwidth of the same run this gives the highest % of copy those passes could reach "
        + "in any memory order; below 70%, the arithmetic alone rules the goal out.\n\n");
    md.append("| shape | pass | cached tensor | ns per value | threads | floor µs | measured µs "
        + "| 70% of copy needs µs | **% of copy at the floor** |\n");
    md.append("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (String shape : new String[] {SHAPES[0], SHAPES[1]}) {
      Shape cached = CacheResident.smallShape(BenchShape.parse(shape));
      long small = cached.numel();
      for (String[] op : OPS) {
        for (int t : THREADS) {
          double floor = floor(op[0], shape, t);
          double copy = median("Bandwidth", "copy", shape, t);
          int arrays = Integer.parseInt(op[2]);
          double needed = copy * arrays / 2 / 0.7;
          md.append("| (").append(shape.replace("x", ", ")).append(") | ").append(op[1])
              .append(" | ").append(cached).append(" | ")
              .append(f("%.3f", 1e3 * median("CacheResident", op[0], shape, 1) / small))
              .append(" | ").append(t).append(" | ").append(fmtTime(floor)).append(" | ")
              .append(fmtTime(median("BatchNorm4jSimd", op[0], shape, t))).append(" | ")
              .append(fmtTime(needed)).append(" | **")
              .append(f("%.0f%%", 100 * gbps(shape, arrays, floor) / gbps(shape, 2, copy)))
              .append("** |\n");
        }
      }
    }
    md.append("\n");
    return md.toString();
  }

  private static List<String> shapesHeader() {
    List<String> h = new ArrayList<>();
    for (String s : SHAPES) {
      h.add("(" + s.replace("x", ", ") + ")");
    }
    return h;
  }

  /** Bytes allocated per 200 ms measurement iteration: B/op times operations per iteration. */
  static double perIteration(Result r) {
    return r.allocNorm() * (200_000.0 / r.median());
  }

  String acceptance() {
    StringBuilder md = new StringBuilder("## Acceptance checks\n\n");
    md.append("| check | threads | result | holds |\n| --- | ---: | --- | --- |\n");
    for (int t : THREADS) {
      List<Double> fwd = new ArrayList<>();
      List<Double> bwd = new ArrayList<>();
      List<String> fwdSlow = new ArrayList<>();
      List<String> evalSlow = new ArrayList<>();
      List<String> bwdSlow = new ArrayList<>();
      double tinyFwd = Double.NaN;
      for (String shape : SHAPES) {
        double rf = torch("trainForward", shape, t) / median("BatchNorm4jSimd", "trainForward", shape, t);
        double re = torch("evalForward", shape, t) / median("BatchNorm4jSimd", "evalForward", shape, t);
        double rb = torch("trainBackward", shape, t) / median("BatchNorm4jSimd", "trainBackward", shape, t);
        fwd.add(rf);
        bwd.add(rb);
        if (shape.equals(TINY)) {
          tinyFwd = rf;
          continue;
        }
        if (rf < 1) {
          fwdSlow.add(shape + f(" (%.2f)", rf));
        }
        if (re < 1) {
          evalSlow.add(shape + f(" (%.2f)", re));
        }
        if (rb < 1) {
          bwdSlow.add(shape + f(" (%.2f)", rb));
        }
      }
      double gf = geomean(fwd);
      double gb = geomean(bwd);
      row(md, "training forward: geometric mean of PyTorch / SIMD >= 3", t, f("%.2f", gf), gf >= 3);
      row(md, "training forward: not slower on any shape but the tiny one", t,
          fwdSlow.isEmpty() ? "none slower" : "slower: " + fwdSlow, fwdSlow.isEmpty());
      row(md, "training forward: tiny (2, 4, 2, 2) within 2x", t, f("ratio %.2f", tinyFwd),
          tinyFwd >= 0.5);
      row(md, "eval forward: not slower on any shape but the tiny one", t,
          evalSlow.isEmpty() ? "none slower" : "slower: " + evalSlow, evalSlow.isEmpty());
      row(md, "training backward: not slower on any shape but the tiny one", t,
          bwdSlow.isEmpty() ? "none slower" : "slower: " + bwdSlow, bwdSlow.isEmpty());
      row(md, "training backward: geometric mean of PyTorch / SIMD >= 1.5", t, f("%.2f", gb),
          gb >= 1.5);
      for (String shape : new String[] {SHAPES[0], SHAPES[1]}) {
        double copyBw = gbps(shape, 2, median("Bandwidth", "copy", shape, t));
        for (String[] op : OPS) {
          double bw = gbps(shape, Integer.parseInt(op[2]),
              median("BatchNorm4jSimd", op[0], shape, t));
          double floor = floor(op[0], shape, t);
          String ceiling = Double.isNaN(floor) ? ""
              : f("; %.0f%% at the arithmetic floor",
                  100 * gbps(shape, Integer.parseInt(op[2]), floor) / copyBw);
          row(md, op[1] + " (" + shape.replace("x", ", ") + "): >= 70% of copy bandwidth", t,
              f("%.0f%% (%.1f of %.1f GB/s)", 100 * bw / copyBw, bw, copyBw) + ceiling,
              bw >= 0.7 * copyBw);
        }
      }
    }
    double worstAlloc = 0;
    double minIt = Double.MAX_VALUE;
    double maxIt = 0;
    for (Map.Entry<String, Result> e : results.entrySet()) {
      Result r = e.getValue();
      if (e.getKey().startsWith("BatchNorm4j") && !Double.isNaN(r.allocNorm())) {
        minIt = Math.min(minIt, perIteration(r));
        maxIt = Math.max(maxIt, perIteration(r));
        if (r.median() < 2) { // at least 100,000 operations per iteration
          worstAlloc = Math.max(worstAlloc, r.allocNorm());
        }
      }
    }
    row(md, "zero bytes allocated per operation: gc.alloc.rate.norm with >= 100,000 ops per "
        + "iteration; bytes per iteration over all batchnorm4j runs", 0,
        f("%.3f B/op; %.1f to %.1f KB per iteration whatever the op count", worstAlloc,
            minIt / 1024, maxIt / 1024), worstAlloc < 0.1 && maxIt < 64 * 1024);
    md.append("\nThreads 0 = all runs. The gc profiler reports a fraction of a byte per operation "
        + "when a rare JMH or JIT object lands in the measured interval; anything allocated per "
        + "call would show as at least 16 bytes.\n");
    return md.toString();
  }

  private static void row(StringBuilder md, String check, int threads, String result, boolean ok) {
    md.append("| ").append(check).append(" | ").append(threads).append(" | ").append(result)
        .append(" | ").append(ok ? "yes" : "**no**").append(" |\n");
  }

  void chart(Path png) throws IOException {
    CategoryChart chart = new CategoryChartBuilder().width(1100).height(560)
        .title("PyTorch 2.7.1 time / batchnorm4j (SIMD) time, higher is better, 1 = parity (tiny shape in the tables)")
        .xAxisTitle("shape (N, C, H, W)").yAxisTitle("speed-up over PyTorch").build();
    chart.getStyler().setTheme(new org.knowm.xchart.style.theme.MatlabTheme());
    chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
    chart.getStyler().setYAxisLogarithmic(false);
    List<String> labels = new ArrayList<>();
    for (String s : SHAPES) {
      if (!s.equals(TINY)) { // 30x to 170x: it would flatten every other bar
        labels.add("(" + s.replace("x", ", ") + ")");
      }
    }
    for (String[] op : OPS) {
      for (int t : THREADS) {
        List<Double> ratios = new ArrayList<>();
        for (String shape : SHAPES) {
          if (shape.equals(TINY)) {
            continue;
          }
          double r = torch(op[0], shape, t) / median("BatchNorm4jSimd", op[0], shape, t);
          ratios.add(Double.isFinite(r) ? r : 0.0);
        }
        chart.addSeries(op[1] + ", " + t + (t == 1 ? " thread" : " threads"), labels, ratios);
      }
    }
    BitmapEncoder.saveBitmap(chart, png.toString(), BitmapEncoder.BitmapFormat.PNG);
  }

  static String cpu() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
        if (line.startsWith("model name")) {
          String flags = Files.readString(Path.of("/proc/cpuinfo")).contains("avx512f")
              ? " (AVX-512, FMA)" : "";
          return line.substring(line.indexOf(':') + 1).trim() + flags;
        }
      }
    } catch (IOException | RuntimeException e) {
      // not Linux
    }
    return System.getProperty("os.arch");
  }

  static String shapes() {
    return Arrays.toString(SHAPES);
  }
}
