package io.github.batchnorm4j.bench;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
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
import java.util.TreeMap;

/**
 * Turns the runs of benchmarks/run.sh into the generated pages of docs/generated/: markdown tables
 * and an SVG chart written as text (no charting library).
 *
 * <pre>
 * java -cp benchmarks/target/benchmarks.jar io.github.batchnorm4j.bench.Report \
 *     --out docs/generated benchmarks/results/RUN/jdk17 benchmarks/results/RUN/jdk25
 * </pre>
 *
 * <p>Each run directory holds {@code run.properties} (the runner's record: JDK, label, load before
 * and after), {@code jmh.json} (JMH's results) and {@code forks.jsonl} ({@link ForkProbe}'s record
 * of every fork). Every time is the <b>median over forks of each fork's median iteration</b>. The
 * ratios are PyTorch time / batchnorm4j time of the same run (above 1: batchnorm4j is faster). The
 * % of copy counts the minimum traffic of a pass against {@code System.arraycopy} of one tensor in
 * the same run (see {@link #PASSES}).
 *
 * <p>Options (thresholds that mark a table DISTURBED): {@code --max-load} (1-minute load average
 * before a JMH run, default 0.5), {@code --max-foreign} (CPU of other processes during a fork, in
 * cores, default 0.1), {@code --max-steal} (hypervisor steal during a fork, cores, default 0.05),
 * {@code --max-spread} ((max - min) / median of a benchmark's fork medians, default 0.10).
 */
public final class Report {

  /** The five real shapes: the geometric means are over these. */
  static final String[] REAL = {"32x64x56x56", "32x256x14x14", "8x512x7x7", "128x32x8x8",
      "64x16x28x28"};
  /** The call-overhead shape, reported apart. */
  static final String CALL = "2x4x2x2";
  /** Thread settings: the defaults of each side, then equal explicit counts. */
  static final String[] THREADS = {"default", "1", "2"};
  static final String NO_FLAG = "BatchNorm4jScalar";
  static final String FLAG = "BatchNorm4jSimd";
  static final String[] LIBS = {NO_FLAG, FLAG};

  /**
   * The passes: method, name, and the arrays of minimum traffic, each numel floats, counted as if
   * the pass touched every array exactly once: the training forward reads x and writes y (2; a real
   * one reads x twice unless it stays cached, once for the statistics and once to normalize), the
   * eval forward reads x and writes y (2), the training backward reads x and dy and writes dx (3;
   * per-channel vectors are negligible). Copy reads one array and writes one (2).
   */
  static final String[][] PASSES = {
    {"trainForward", "training forward", "2"},
    {"evalForward", "eval forward", "2"},
    {"trainBackward", "training backward", "3"},
  };

  /** Bytes per measured iteration above which a library benchmark is said to allocate. */
  static final long HEAVY_ITERATION_BYTES = 1L << 20;

  /** A fork's first measured iteration above this times its median: not warmed up. */
  static final double MAX_WARMING = 1.5;

  double maxLoad = 0.5;
  double maxForeign = 0.10;
  double maxSteal = 0.05;
  double maxSpread = 0.10;
  final List<Run> runs = new ArrayList<>();

  public static void main(String[] args) throws IOException {
    Report r = new Report();
    Path out = null;
    List<Path> dirs = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--out" -> out = Path.of(args[++i]);
        case "--max-load" -> r.maxLoad = Double.parseDouble(args[++i]);
        case "--max-foreign" -> r.maxForeign = Double.parseDouble(args[++i]);
        case "--max-steal" -> r.maxSteal = Double.parseDouble(args[++i]);
        case "--max-spread" -> r.maxSpread = Double.parseDouble(args[++i]);
        default -> dirs.add(Path.of(args[i]));
      }
    }
    if (out == null || dirs.isEmpty()) {
      System.err.println("usage: Report --out DIR [--max-load L] [--max-foreign C] [--max-steal C]"
          + " [--max-spread S] RUN_DIR...");
      System.exit(2);
    }
    for (Path d : dirs) {
      r.runs.add(Run.read(d));
    }
    r.runs.sort((a, b) -> Integer.compare(a.feature, b.feature));
    Files.createDirectories(out);
    Files.writeString(out.resolve("summary.md"), r.summary(), StandardCharsets.UTF_8);
    for (Run run : r.runs) {
      Files.writeString(out.resolve("details-jdk" + run.feature + ".md"), r.details(run),
          StandardCharsets.UTF_8);
    }
    Files.writeString(out.resolve("ratios.svg"), r.chart(), StandardCharsets.UTF_8);
    System.out.println("wrote " + out.resolve("summary.md") + ", details-jdk*.md, ratios.svg");
  }

  // ----------------------------------------------------------------------------------------------
  // Input
  // ----------------------------------------------------------------------------------------------

  /** One benchmark with one set of parameters: medians per fork, and the gc profiler's B/op. */
  record Cell(double median, double[] forkMedians, double allocPerOp, double opsPerIteration,
      double warming) {
    double spread() {
      if (forkMedians.length < 2) {
        return Double.NaN;
      }
      double[] s = forkMedians.clone();
      Arrays.sort(s);
      return (s[s.length - 1] - s[0]) / median;
    }
  }

  /** One run directory: one JDK, one JMH run. */
  static final class Run {
    Path dir;
    final Map<String, String> props = new LinkedHashMap<>();
    final Map<String, Cell> cells = new TreeMap<>();
    final Map<String, List<JsonObject>> forks = new TreeMap<>();
    int feature;
    String label = "?";
    int forkCount;
    String iterations = "";

    static Run read(Path dir) throws IOException {
      Run run = new Run();
      run.dir = dir;
      Path props = dir.resolve("run.properties");
      if (Files.exists(props)) {
        for (String line : Files.readAllLines(props)) {
          int eq = line.indexOf('=');
          if (!line.startsWith("#") && eq > 0) {
            run.props.put(line.substring(0, eq), line.substring(eq + 1));
          }
        }
      }
      run.label = run.props.getOrDefault("label", "?");
      JsonArray all = JsonParser.parseString(Files.readString(dir.resolve("jmh.json")))
          .getAsJsonArray();
      for (JsonElement e : all) {
        JsonObject o = e.getAsJsonObject();
        String key = key(o.get("benchmark").getAsString(), o.getAsJsonObject("params"));
        JsonArray raw = o.getAsJsonObject("primaryMetric").getAsJsonArray("rawData");
        double[] forkMedians = new double[raw.size()];
        double warming = 0;
        for (int f = 0; f < raw.size(); f++) {
          JsonArray it = raw.get(f).getAsJsonArray();
          double[] v = new double[it.size()];
          for (int i = 0; i < v.length; i++) {
            v[i] = it.get(i).getAsDouble();
          }
          forkMedians[f] = Report.median(v);
          warming = Math.max(warming, v[0] / forkMedians[f]);
        }
        double alloc = Double.NaN;
        JsonObject secondary = o.getAsJsonObject("secondaryMetrics");
        if (secondary != null) {
          for (Map.Entry<String, JsonElement> m : secondary.entrySet()) {
            if (m.getKey().replace("\u00b7", "").equals("gc.alloc.rate.norm")) {
              alloc = m.getValue().getAsJsonObject().get("score").getAsDouble();
            }
          }
        }
        double med = Report.median(forkMedians);
        double iterMicros = micros(o.get("measurementTime").getAsString());
        run.cells.put(key, new Cell(med, forkMedians, alloc, iterMicros / med, warming));
        run.feature = Integer.parseInt(o.get("jdkVersion").getAsString().split("[.+-]")[0]);
        run.forkCount = Math.max(run.forkCount, o.get("forks").getAsInt());
        int forks = o.get("forks").getAsInt();
        run.iterations = forks + (forks == 1 ? " fork, " : " forks, ") + o.get("warmupIterations")
            .getAsInt() + " x " + o.get("warmupTime").getAsString() + " warm-up, "
            + o.get("measurementIterations").getAsInt() + " x "
            + o.get("measurementTime").getAsString() + " measured";
      }
      Path forkLog = dir.resolve("forks.jsonl");
      if (Files.exists(forkLog)) {
        for (String line : Files.readAllLines(forkLog)) {
          if (line.isBlank()) {
            continue;
          }
          JsonObject o = JsonParser.parseString(line).getAsJsonObject();
          run.forks.computeIfAbsent(key(o.get("benchmark").getAsString(),
              o.getAsJsonObject("params")), k -> new ArrayList<>()).add(o);
        }
      }
      return run;
    }

    String name() {
      return "JDK " + feature;
    }

    /** The shapes this run measured, real ones first. */
    List<String> shapes() {
      List<String> out = new ArrayList<>();
      for (String s : REAL) {
        if (hasShape(s)) {
          out.add(s);
        }
      }
      if (hasShape(CALL)) {
        out.add(CALL);
      }
      return out;
    }

    boolean hasShape(String shape) {
      for (String k : cells.keySet()) {
        if (k.contains("|" + shape + "|")) {
          return true;
        }
      }
      return false;
    }

    Cell cell(String cls, String method, String shape, String threads) {
      return cells.get(cls + "." + method + "|" + shape + "|" + threads);
    }

    double median(String cls, String method, String shape, String threads) {
      Cell c = cell(cls, method, shape, threads);
      return c == null ? Double.NaN : c.median();
    }

    List<JsonObject> forks(String cls, String method, String shape, String threads) {
      return forks.getOrDefault(cls + "." + method + "|" + shape + "|" + threads, List.of());
    }

    /** The first field of a recorded /proc/loadavg line ("before" or "after"), or NaN. */
    double load1(String when) {
      String[] f = props.getOrDefault("loadavg." + when, "").trim().split("\\s+");
      try {
        return Double.parseDouble(f[0]);
      } catch (RuntimeException e) {
        return Double.NaN;
      }
    }

    String loads(String when) {
      String[] f = props.getOrDefault("loadavg." + when, "?").trim().split("\\s+");
      return f.length >= 3 ? f[0] + ", " + f[1] + ", " + f[2] : "not recorded";
    }

    String window() {
      String s = props.getOrDefault("start.utc", "?");
      String e = props.getOrDefault("end.utc", "?");
      return s.replace("T", " ").replace("Z", "") + " to "
          + (e.length() > 11 ? e.substring(11).replace("Z", "") : e) + " UTC";
    }
  }

  /** "class.method|shape|threads" from JMH's benchmark name and parameters. */
  static String key(String benchmark, JsonObject params) {
    String cls = benchmark.substring(0, benchmark.lastIndexOf('.'));
    cls = cls.substring(cls.lastIndexOf('.') + 1);
    String method = benchmark.substring(benchmark.lastIndexOf('.') + 1);
    String shape = params != null && params.has("shape") ? params.get("shape").getAsString() : "";
    String threads = params != null && params.has("threads")
        ? params.get("threads").getAsString() : "";
    return cls + "." + method + "|" + shape + "|" + threads;
  }

  static double micros(String jmhTime) {
    String[] p = jmhTime.trim().split("\\s+");
    double v = Double.parseDouble(p[0]);
    return switch (p.length > 1 ? p[1] : "s") {
      case "ms" -> v * 1e3;
      case "us" -> v;
      case "ns" -> v / 1e3;
      case "min" -> v * 60e6;
      default -> v * 1e6;
    };
  }

  static double median(double[] values) {
    double[] s = values.clone();
    Arrays.sort(s);
    int n = s.length;
    return n == 0 ? Double.NaN : n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  }

  // ----------------------------------------------------------------------------------------------
  // Quantities
  // ----------------------------------------------------------------------------------------------

  static String torchClass(String method) {
    return method.equals("trainBackward") ? "TorchBackward" : "TorchBatchNorm";
  }

  static long numel(String shape) {
    long n = 1;
    for (String p : shape.split("x")) {
      n *= Long.parseLong(p.trim());
    }
    return n;
  }

  /** GB/s for {@code arrays} arrays of the shape's floats in {@code micros}. */
  static double gbps(String shape, int arrays, double micros) {
    return arrays * 4.0 * numel(shape) / (micros * 1e3);
  }

  /** The copy's thread count to compare a setting with: the defaults get the largest measured. */
  static String copyThreads(Run run, String threads, String shape) {
    if (!threads.equals("default")) {
      return threads;
    }
    String best = "1";
    for (String t : new String[] {"1", "2", "4", "8", "16", "32", "64"}) {
      if (run.cell("Bandwidth", "copy", shape, t) != null) {
        best = t;
      }
    }
    return best;
  }

  /** Collects what a table used, per run, to head it with the run's load and disturbance. */
  final class Status {
    final Run run;
    int cells;
    int missing;
    int spreadCells;
    double worstSpread = Double.NaN;
    int singleForkCells;
    int warmingCells;
    int forkRecords;
    int disturbedForks;
    double worstForeign = 0;
    double worstSteal = 0;
    final List<String> wrong = new ArrayList<>();

    Status(Run run) {
      this.run = run;
    }

    /** The cells already recorded: a cell that a table uses twice counts once. */
    private final java.util.Set<String> seen = new java.util.HashSet<>();

    /** The cell's median, recording the cell and its forks (once per cell). */
    double use(String cls, String method, String shape, String threads) {
      Cell c = run.cell(cls, method, shape, threads);
      boolean first = seen.add(String.join("|", cls, method, shape, threads));
      if (c == null) {
        missing += first ? 1 : 0;
        return Double.NaN;
      }
      if (!first) {
        return c.median();
      }
      cells++;
      if (c.warming() > MAX_WARMING) {
        warmingCells++;
      }
      double s = c.spread();
      if (Double.isNaN(s)) {
        singleForkCells++;
      } else {
        worstSpread = Double.isNaN(worstSpread) ? s : Math.max(worstSpread, s);
        if (s > maxSpread) {
          spreadCells++;
        }
      }
      for (JsonObject f : run.forks(cls, method, shape, threads)) {
        forkRecords++;
        double foreign = num(f, "foreignCores");
        double steal = num(f, "stealCores");
        worstForeign = Math.max(worstForeign, foreign);
        worstSteal = Math.max(worstSteal, steal);
        if (foreign > maxForeign || steal > maxSteal) {
          disturbedForks++;
        }
        boolean vector = "true".equals(str(f, "vectorModule"));
        if (cls.equals(FLAG) && !vector || cls.equals(NO_FLAG) && vector) {
          wrong.add(cls + " fork with vectorModule=" + vector);
        }
        if (cls.startsWith("Torch") && !str(f, "glibcTunables").contains("arena_max=1")) {
          wrong.add("PyTorch fork without GLIBC_TUNABLES");
        }
      }
      return c.median();
    }

    boolean spreadMarked(String cls, String method, String shape, String threads) {
      Cell c = run.cell(cls, method, shape, threads);
      return c != null && c.spread() > maxSpread;
    }

    List<String> reasons() {
      List<String> r = new ArrayList<>();
      double before = run.load1("before");
      if (!(before <= maxLoad)) {
        r.add(f("load average %s before the run (limit %.2f)", Double.isNaN(before) ? "unknown"
            : f("%.2f", before), maxLoad));
      }
      if (disturbedForks > 0) {
        r.add(disturbedForks + " of " + forkRecords + f(" forks with other processes' CPU above "
            + "%.2f cores or steal above %.2f", maxForeign, maxSteal));
      }
      if (forkRecords == 0 && cells > 0) {
        r.add("no fork records (forks.jsonl)");
      }
      if (spreadCells > 0) {
        r.add(spreadCells + " of " + cells + f(" benchmarks with fork medians spread above %.0f%%",
            100 * maxSpread));
      }
      if (warmingCells > 0) {
        r.add(warmingCells + " of " + cells + f(" benchmarks still warming up (a fork's first "
            + "measured iteration above %.1fx its median)", MAX_WARMING));
      }
      if (singleForkCells > 0) {
        r.add(singleForkCells + " benchmarks with a single fork (spread unknown)");
      }
      if (!wrong.isEmpty()) {
        r.add("WRONG SET-UP: " + String.join("; ", new java.util.TreeSet<>(wrong)));
      }
      return r;
    }

    String header() {
      List<String> reasons = reasons();
      StringBuilder b = new StringBuilder("> **").append(run.name()).append("** run (")
          .append(run.label).append(", ").append(run.window()).append("): load average before ")
          .append(run.loads("before")).append(", after ").append(run.loads("after"))
          .append(" (1, 5, 15 min; the after value includes the run itself). ")
          .append(cells).append(" benchmarks, ").append(run.iterations)
          .append(Double.isNaN(worstSpread) ? "" : f("; fork-median spread up to %.0f%%",
              100 * worstSpread));
      if (forkRecords > 0) {
        b.append(f("; other processes' CPU during a fork up to %.2f cores, steal up to %.2f",
            worstForeign, worstSteal));
      }
      if (missing > 0) {
        b.append("; ").append(missing).append(" benchmarks not in the run");
      }
      b.append(". ");
      b.append(reasons.isEmpty() ? "**Quiet.**" : "**DISTURBED**: " + String.join("; ", reasons)
          + ".");
      return b.append("\n").toString();
    }
  }

  static double num(JsonObject o, String k) {
    return o.has(k) ? o.get(k).getAsDouble() : Double.NaN;
  }

  static String str(JsonObject o, String k) {
    return o.has(k) ? o.get(k).getAsString() : "";
  }

  /** Geometric mean, min and max of the finite values, and how many. */
  record Summary(double geomean, double min, double max, int n, boolean marked) {
    String text() {
      if (n == 0) {
        return "n/a";
      }
      String s = n == 1 ? f("%.2f", geomean) : f("%.2f [%.2f-%.2f]", geomean, min, max);
      if (n < REAL.length) {
        s += " (" + n + " of " + REAL.length + " shapes)";
      }
      return marked ? s + " ~" : s;
    }

    String percent() {
      if (n == 0) {
        return "n/a";
      }
      String s = n == 1 ? f("%.0f%%", 100 * geomean)
          : f("%.0f%% [%.0f-%.0f%%]", 100 * geomean, 100 * min, 100 * max);
      if (n < REAL.length) {
        s += " (" + n + " of " + REAL.length + " shapes)";
      }
      return marked ? s + " ~" : s;
    }
  }

  static Summary summarize(List<Double> values, boolean marked) {
    double log = 0;
    double min = Double.POSITIVE_INFINITY;
    double max = Double.NEGATIVE_INFINITY;
    int n = 0;
    for (double v : values) {
      if (Double.isFinite(v) && v > 0) {
        log += Math.log(v);
        min = Math.min(min, v);
        max = Math.max(max, v);
        n++;
      }
    }
    return new Summary(n == 0 ? Double.NaN : Math.exp(log / n), min, max, n, marked);
  }

  /** PyTorch / library ratio on one shape, recording both cells. */
  static double ratio(Status st, String lib, String method, String shape, String threads) {
    double torch = st.use(torchClass(method), method, shape, threads);
    double ours = st.use(lib, method, shape, threads);
    return torch / ours;
  }

  static boolean marked(Status st, String lib, String method, String shape, String threads) {
    return st.spreadMarked(torchClass(method), method, shape, threads)
        || st.spreadMarked(lib, method, shape, threads);
  }

  Summary ratios(Status st, String lib, String method, String threads) {
    List<Double> v = new ArrayList<>();
    boolean m = false;
    for (String shape : REAL) {
      v.add(ratio(st, lib, method, shape, threads));
      m |= marked(st, lib, method, shape, threads);
    }
    return summarize(v, m);
  }

  /**
   * The elementwise pass of {@code Bandwidth} that moves a training pass's minimum traffic with the
   * least arithmetic: {@code affine} (x read, y written) for the forward, {@code dxPass} (x and
   * dy read, dx written) for the backward.
   */
  static String ceilingOf(String method) {
    return method.equals("trainBackward") ? "dxPass" : "affine";
  }

  /** The fraction of the same run's copy bandwidth a benchmark reaches. */
  static double copyFraction(Status st, String cls, String method, String shape, String threads,
      int arrays) {
    double t = st.use(cls, method, shape, threads);
    double copy = st.use("Bandwidth", "copy", shape, copyThreads(st.run, threads, shape));
    return gbps(shape, arrays, t) / gbps(shape, 2, copy);
  }

  Summary copyFractions(Status st, String cls, String method, String threads, int arrays) {
    List<Double> v = new ArrayList<>();
    boolean m = false;
    for (String shape : REAL) {
      v.add(copyFraction(st, cls, method, shape, threads, arrays));
      m |= st.spreadMarked(cls, method, shape, threads);
      m |= st.spreadMarked("Bandwidth", "copy", shape, copyThreads(st.run, threads, shape));
    }
    return summarize(v, m);
  }

  // ----------------------------------------------------------------------------------------------
  // Output
  // ----------------------------------------------------------------------------------------------

  static String f(String fmt, Object... args) {
    return String.format(Locale.ROOT, fmt, args);
  }

  static String fmtTime(double us) {
    if (Double.isNaN(us)) {
      return "n/a";
    }
    return us >= 100 ? f("%.0f", us) : us >= 10 ? f("%.1f", us) : us >= 0.1 ? f("%.2f", us)
        : f("%.4f", us);
  }

  static String shapeText(String shape) {
    return "(" + shape.replace("x", ", ") + ")";
  }

  static String flagText(String lib) {
    return lib.equals(FLAG) ? "with the flag" : "no flag";
  }

  static String threadsText(String threads) {
    return threads.equals("default") ? "defaults" : threads + (threads.equals("1") ? " thread"
        : " threads");
  }

  String banner() {
    StringBuilder b = new StringBuilder();
    for (Run run : runs) {
      String label = run.label.toLowerCase(Locale.ROOT);
      if (!label.startsWith("final")) { // "final", or "final2" for a later final run
        b.append("> **").append(label.toUpperCase(Locale.ROOT)).append(" RUN (").append(run.name())
            .append(")**: ").append(label.equals("smoke")
                ? "tiny settings to check the harness end to end, on a machine busy with other "
                    + "work. These numbers are not results and must not be quoted."
                : "not the final run; the numbers show the harness's output, not the library's "
                    + "standing.").append("\n>\n");
      }
    }
    return b.length() == 0 ? "" : b.append("\n").toString();
  }

  String generatedBy() {
    List<String> dirs = new ArrayList<>();
    for (Run run : runs) {
      dirs.add("`" + display(run.dir) + "`");
    }
    return "<!-- Generated by benchmarks/src/main/java/io/github/batchnorm4j/bench/Report.java; "
        + "do not edit. -->\n\nGenerated from " + String.join(" and ", dirs)
        + " by `Report` (benchmarks/README.md). Times are medians over forks of each fork's "
        + "median iteration. A `~` marks a value built from a benchmark whose fork medians spread "
        + f("more than %.0f%%. Disturbance limits: load average before a run %.2f, other "
            + "processes' CPU during a fork %.2f cores, steal %.2f cores.\n\n", 100 * maxSpread,
            maxLoad, maxForeign, maxSteal);
  }

  static String display(Path p) {
    Path cwd = Path.of("").toAbsolutePath();
    Path abs = p.toAbsolutePath().normalize();
    return abs.startsWith(cwd) ? cwd.relativize(abs).toString() : abs.toString();
  }

  String summary() {
    StringBuilder md = new StringBuilder("# Benchmark summary\n\n");
    md.append(banner()).append(generatedBy());
    md.append("![PyTorch time / batchnorm4j time, log scale](ratios.svg)\n\n");
    md.append("Per-shape times, ratios, % of copy and allocation: ");
    List<String> links = new ArrayList<>();
    for (Run run : runs) {
      links.add("[" + run.name() + "](details-jdk" + run.feature + ".md)");
    }
    md.append(String.join(", ", links)).append(".\n\n");

    // 1. defaults vs defaults; 2. equal threads.
    for (String threads : THREADS) {
      if (threads.equals("default")) {
        md.append("## Defaults against defaults\n\n");
        md.append("PyTorch time / batchnorm4j time, geometric mean [min-max] over the five real "
            + "shapes: `new BatchNorm2d(C)` (no builder setting) against PyTorch at its own "
            + "thread counts (recorded in the details).\n\n");
      } else {
        md.append("## Equal threads: ").append(threadsText(threads)).append("\n\n");
        md.append("PyTorch time / batchnorm4j time, geometric mean [min-max] over the five real "
            + "shapes: `builder(C).threads(" + threads + ")` against PyTorch with " + threads
            + " inter-op and " + threads + " intra-op thread" + (threads.equals("1") ? "" : "s")
            + ".\n\n");
      }
      Map<Run, Status> st = statuses();
      StringBuilder table = new StringBuilder("| JVM | training forward | eval forward | "
          + "training backward |\n| --- | --- | --- | --- |\n");
      for (Run run : runs) {
        for (String lib : LIBS) {
          table.append("| ").append(run.name()).append(", ").append(flagText(lib));
          for (String[] p : PASSES) {
            table.append(" | ").append(ratios(st.get(run), lib, p[0], threads).text());
          }
          table.append(" |\n");
        }
      }
      appendHeaders(md, st);
      md.append("\n").append(table).append("\n");
    }

    // 3. % of copy.
    md.append("## Share of the copy bandwidth\n\n");
    md.append("Effective bandwidth counting the minimum traffic, as a share of `System.arraycopy` "
        + "of one tensor at the same thread count in the same run (the defaults are compared with "
        + "the copy at the most threads measured). Minimum traffic: training forward and eval "
        + "forward 2 arrays (x read, y written, once each; a real training forward must read x "
        + "twice unless it stays in cache), training backward 3 (x and dy read, dx written); copy 2. "
        + "Geometric mean [min-max] over the five real shapes; the two large shapes are in the "
        + "details and the checks below.\n\n");
    {
      Map<Run, Status> st = statuses();
      StringBuilder table = new StringBuilder("| JVM | threads | training forward | eval forward "
          + "| training backward |\n| --- | --- | --- | --- | --- |\n");
      for (Run run : runs) {
        for (String cls : new String[] {NO_FLAG, FLAG, "Torch"}) {
          for (String threads : THREADS) {
            table.append("| ").append(run.name()).append(", ")
                .append(cls.equals("Torch") ? "PyTorch" : "batchnorm4j " + flagText(cls))
                .append(" | ").append(threadsText(threads));
            for (String[] p : PASSES) {
              String c = cls.equals("Torch") ? torchClass(p[0]) : cls;
              table.append(" | ").append(copyFractions(st.get(run), c, p[0], threads,
                  Integer.parseInt(p[2])).percent());
            }
            table.append(" |\n");
          }
        }
      }
      appendHeaders(md, st);
      md.append("\n").append(table).append("\n");
    }

    // 4. call overhead.
    md.append("## Call overhead: (2, 4, 2, 2)\n\n");
    md.append("32 values: the time is the cost of a call (PyTorch: DJL's JNI crossing, the output "
        + "allocation, autograd for the backward), not of a kernel. Kept out of every geometric "
        + "mean above. µs per call, and PyTorch / batchnorm4j.\n\n");
    {
      Map<Run, Status> st = statuses();
      StringBuilder table = new StringBuilder("| JVM | threads");
      for (String[] p : PASSES) {
        table.append(" | ").append(p[1]).append(": PyTorch µs | batchnorm4j µs | ratio");
      }
      table.append(" |\n| --- | ---").append(" | ---: | ---: | ---:".repeat(PASSES.length))
          .append(" |\n");
      for (Run run : runs) {
        for (String lib : LIBS) {
          for (String threads : THREADS) {
            Status s = st.get(run);
            table.append("| ").append(run.name()).append(", ").append(flagText(lib)).append(" | ")
                .append(threadsText(threads));
            for (String[] p : PASSES) {
              double torch = s.use(torchClass(p[0]), p[0], CALL, threads);
              double ours = s.use(lib, p[0], CALL, threads);
              String mark = marked(s, lib, p[0], CALL, threads) ? " ~" : "";
              table.append(" | ").append(fmtTime(torch)).append(" | ").append(fmtTime(ours))
                  .append(" | ").append(Double.isNaN(torch / ours) ? "n/a"
                      : f("%.2f", torch / ours) + mark);
            }
            table.append(" |\n");
          }
        }
      }
      appendHeaders(md, st);
      md.append("\n").append(table).append("\n");
    }

    md.append(acceptance());
    return md.toString();
  }

  Map<Run, Status> statuses() {
    Map<Run, Status> m = new LinkedHashMap<>();
    for (Run run : runs) {
      m.put(run, new Status(run));
    }
    return m;
  }

  static void appendHeaders(StringBuilder md, Map<Run, Status> st) {
    for (Status s : st.values()) {
      md.append(s.header()).append(">\n");
    }
    md.setLength(md.length() - 2);
  }

  /** Issue 13's acceptance points that this run measures, computed, not judged by hand. */
  String acceptance() {
    StringBuilder md = new StringBuilder("## Issue 13's measured acceptance points\n\n");
    md.append("Computed from the tables above, whatever the run's state: a check computed from a "
        + "DISTURBED run proves nothing either way. The first-call time and the accuracy points "
        + "are not measured here, and the allocation checks are only as tight as the gc "
        + "profiler allows (docs/performance.md).\n\n");
    Map<Run, Status> st = statuses();
    StringBuilder t = new StringBuilder("| JVM | check | value | holds |\n| --- | --- | --- | --- |\n");
    for (Run run : runs) {
      Status s = st.get(run);
      for (String lib : LIBS) {
        double[] goals;
        double floor;
        if (lib.equals(FLAG)) {
          goals = new double[] {3, 1.3, 1.5};
          floor = 0.95;
        } else if (run.feature >= 25) {
          goals = new double[] {2, 1.2, 1.2};
          floor = 0.9;
        } else {
          goals = new double[] {1.5, 1.0, 1.0};
          floor = 0.7;
        }
        String jvm = run.name() + ", " + flagText(lib);
        double worst = Double.POSITIVE_INFINITY;
        boolean complete = true;
        for (int p = 0; p < PASSES.length; p++) {
          Summary r = ratios(s, lib, PASSES[p][0], "default");
          worst = Math.min(worst, r.n() == 0 ? Double.NaN : r.min());
          complete &= r.n() == REAL.length;
          row(t, jvm, "defaults: " + PASSES[p][1] + " geomean >= " + goals[p], r.text(),
              r.n() == REAL.length ? r.geomean() >= goals[p] : null);
        }
        row(t, jvm, "defaults: no case below " + floor, Double.isNaN(worst) ? "n/a"
            : f("lowest %.2f", worst), complete ? worst >= floor : null);
      }
      for (String threads : new String[] {"1", "2"}) {
        for (String shape : new String[] {REAL[0], REAL[1]}) {
          for (String[] p : new String[][] {PASSES[0], PASSES[2]}) {
            int arrays = Integer.parseInt(p[2]);
            double fr = copyFraction(s, FLAG, p[0], shape, threads, arrays);
            String value = Double.isNaN(fr) ? "n/a" : f("%.0f%%", 100 * fr);
            // The ceiling: the same traffic moved by one elementwise pass with no sums before it
            // (Bandwidth.affine, Bandwidth.dxPass), in runs that measured it.
            String ceiling = ceilingOf(p[0]);
            if (run.cell("Bandwidth", ceiling, shape, threads) != null) {
              value += f(" (`%s` alone: %.0f%%)", ceiling,
                  100 * copyFraction(s, "Bandwidth", ceiling, shape, threads, arrays));
            }
            row(t, run.name() + ", with the flag", p[1] + " " + shapeText(shape) + " at "
                + threadsText(threads) + ": >= 70% of copy", value,
                Double.isNaN(fr) ? null : fr >= 0.7);
          }
        }
      }
      double worstAlloc = 0;
      int counted = 0;
      List<String> heavy = new ArrayList<>();
      for (String lib : LIBS) {
        for (String threads : THREADS) {
          for (String[] p : PASSES) {
            for (String shape : run.shapes()) {
              Cell c = run.cell(lib, p[0], shape, threads);
              if (c == null || Double.isNaN(c.allocPerOp())) {
                continue;
              }
              if (shape.equals(CALL)) {
                worstAlloc = Math.max(worstAlloc, c.allocPerOp());
                counted++;
              }
              if (c.allocPerOp() * c.opsPerIteration() > HEAVY_ITERATION_BYTES) {
                heavy.add(f("%s %s %s %s: %.0f B/call", flagText(lib), p[1], shapeText(shape),
                    threadsText(threads), c.allocPerOp()));
              }
            }
          }
        }
      }
      row(t, run.name(), "zero bytes per call: gc.alloc.rate.norm on " + shapeText(CALL)
          + ", every library setting and pass, below 16 B (the smallest object), where the "
          + "harness's own allocation per iteration is spread over the most calls",
          counted == 0 ? "not measured" : f("at most %.2f B/call over %d benchmarks", worstAlloc,
              counted), counted == 0 ? null : worstAlloc < 16);
      row(t, run.name(), f("no library benchmark allocates more than %d MB per measured "
          + "iteration (the harness itself: about 0.1 MB)", HEAVY_ITERATION_BYTES >> 20),
          heavy.isEmpty() ? "none" : String.join("; ", heavy), heavy.isEmpty());
    }
    appendHeaders(md, st);
    md.append("\n").append(t);
    return md.toString();
  }

  /** A check's row; {@code ok} null when the run lacks what the check needs. */
  private static void row(StringBuilder t, String jvm, String check, String value, Boolean ok) {
    t.append("| ").append(jvm).append(" | ").append(check).append(" | ").append(value)
        .append(" | ").append(ok == null ? "n/a (not in this run)" : ok ? "yes" : "**no**")
        .append(" |\n");
  }

  /** One run's page: every median, the ratios and % of copy per shape, allocation, the forks. */
  String details(Run run) {
    StringBuilder md = new StringBuilder("# Benchmark details: " + run.name() + "\n\n");
    md.append(banner()).append(generatedBy());
    md.append("## The run\n\n| | |\n| --- | --- |\n");
    for (String k : new String[] {"label", "java.version", "library.jar", "repo.commit",
        "repo.uncommitted.files", "cpu", "cpus", "glibc.tunables", "jmh.args", "start.utc",
        "end.utc", "uptime.before", "uptime.after", "settle.waited.seconds"}) {
      md.append("| ").append(k).append(" | `").append(run.props.getOrDefault(k, "?"))
          .append("` |\n");
    }
    md.append("\n");

    List<String> shapes = run.shapes();
    for (String[] p : PASSES) {
      Map<Run, Status> st = Map.of(run, new Status(run));
      Status s = st.get(run);
      md.append("## ").append(Character.toUpperCase(p[1].charAt(0))).append(p[1].substring(1))
          .append("\n\n");
      StringBuilder t = new StringBuilder("µs per call (fork-median spread in brackets; `w`: a "
          + "fork's first measured iteration took over 1.5x the fork's median, not warmed up), then "
          + "PyTorch / batchnorm4j at the same thread setting, then % of copy (" + p[2]
          + " arrays of minimum traffic).\n\n");
      t.append("| shape | setting | PyTorch µs | no flag µs | flag µs | ratio no flag | "
          + "ratio flag | % copy PyTorch | % copy no flag | % copy flag |\n"
          + "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
      int arrays = Integer.parseInt(p[2]);
      for (String shape : shapes) {
        for (String threads : THREADS) {
          String tc = torchClass(p[0]);
          double torch = s.use(tc, p[0], shape, threads);
          double nf = s.use(NO_FLAG, p[0], shape, threads);
          double fl = s.use(FLAG, p[0], shape, threads);
          t.append("| ").append(shapeText(shape)).append(" | ").append(threadsText(threads))
              .append(" | ").append(timeCell(run, tc, p[0], shape, threads))
              .append(" | ").append(timeCell(run, NO_FLAG, p[0], shape, threads))
              .append(" | ").append(timeCell(run, FLAG, p[0], shape, threads))
              .append(" | ").append(ratioText(torch / nf))
              .append(" | ").append(ratioText(torch / fl));
          for (String cls : new String[] {tc, NO_FLAG, FLAG}) {
            if (shape.equals(CALL)) {
              t.append(" | -"); // 32 values: a call, not a stream
              continue;
            }
            double fr = copyFraction(s, cls, p[0], shape, threads, arrays);
            t.append(" | ").append(Double.isNaN(fr) ? "n/a" : f("%.0f%%", 100 * fr));
          }
          t.append(" |\n");
        }
      }
      appendHeaders(md, st);
      md.append("\n").append(t).append("\n");
    }

    {
      Map<Run, Status> st = Map.of(run, new Status(run));
      Status s = st.get(run);
      md.append("## Copy bandwidth\n\n");
      boolean ceilings = false;
      for (String shape : shapes) {
        ceilings |= run.cell("Bandwidth", "affine", shape, "1") != null;
      }
      StringBuilder t = new StringBuilder("`System.arraycopy` of one tensor's floats (the second "
          + "thread a spinning helper that copies the other half)."
          + (ceilings ? " `affine` (y = fma(x, a, b): x read, y written) and `dxPass` (dx = "
              + "fma(dy, a, fma(x, b, c)): x and dy read, dx written) are the least arithmetic an "
              + "elementwise pass can do, in float SIMD lanes, with the share of the copy they "
              + "reach counting 2 and 3 arrays as the training forward and backward do: a "
              + "training pass also reads its input for its sums first, so it cannot go faster."
              : "")
          + "\n\n| shape | threads | µs | GB/s (read + write) |"
          + (ceilings ? " affine µs | % copy | dxPass µs | % copy |" : "") + "\n| --- | ---: | ---: "
          + "| ---: |" + (ceilings ? " ---: | ---: | ---: | ---: |" : "") + "\n");
      for (String shape : shapes) {
        for (String threads : new String[] {"1", "2"}) {
          double c = s.use("Bandwidth", "copy", shape, threads);
          if (Double.isNaN(c)) {
            continue;
          }
          t.append("| ").append(shapeText(shape)).append(" | ").append(threads).append(" | ")
              .append(timeCell(run, "Bandwidth", "copy", shape, threads)).append(" | ")
              .append(f("%.1f", gbps(shape, 2, c))).append(" |");
          if (ceilings) {
            for (String[] e : new String[][] {{"affine", "2"}, {"dxPass", "3"}}) {
              boolean measured = run.cell("Bandwidth", e[0], shape, threads) != null;
              t.append(" ").append(measured ? timeCell(run, "Bandwidth", e[0], shape, threads)
                  : "n/a").append(" | ").append(measured ? f("%.0f%%", 100 * copyFraction(s,
                  "Bandwidth", e[0], shape, threads, Integer.parseInt(e[1]))) : "n/a").append(" |");
            }
          }
          t.append("\n");
        }
      }
      appendHeaders(md, st);
      md.append("\n").append(t).append("\n");
    }

    md.append("## Allocation\n\n");
    md.append("JMH's gc profiler, `gc.alloc.rate.norm` in bytes per call, with the calls per "
        + "measured iteration: the harness allocates a few KB per iteration of its own, so a "
        + "large shape with few calls per iteration shows hundreds of bytes per call that are not "
        + "the library's. PyTorch's rows count only the Java side.\n\n");
    md.append("| benchmark | setting");
    for (String shape : shapes) {
      md.append(" | ").append(shapeText(shape));
    }
    md.append(" |\n| --- | ---").append(" | ---:".repeat(shapes.size())).append(" |\n");
    for (String cls : new String[] {NO_FLAG, FLAG, "TorchBatchNorm", "TorchBackward"}) {
      for (String[] p : PASSES) {
        if (cls.equals("TorchBackward") != p[0].equals("trainBackward")
            && cls.startsWith("Torch")) {
          continue;
        }
        for (String threads : THREADS) {
          md.append("| ").append(cls).append(".").append(p[0]).append(" | ")
              .append(threadsText(threads));
          for (String shape : shapes) {
            Cell c = run.cell(cls, p[0], shape, threads);
            md.append(" | ").append(c == null || Double.isNaN(c.allocPerOp()) ? "n/a"
                : f("%.2f (%.0f calls)", c.allocPerOp(), c.opsPerIteration()));
          }
          md.append(" |\n");
        }
      }
    }
    md.append("\n");

    md.append(forkSection(run));
    return md.toString();
  }

  String timeCell(Run run, String cls, String method, String shape, String threads) {
    Cell c = run.cell(cls, method, shape, threads);
    if (c == null) {
      return "n/a";
    }
    double s = c.spread();
    String spread = Double.isNaN(s) ? "" : f(" (%.0f%%)", 100 * s);
    return fmtTime(c.median()) + spread + (s > maxSpread ? " ~" : "")
        + (c.warming() > MAX_WARMING ? " w" : "");
  }

  static String ratioText(double r) {
    return Double.isNaN(r) ? "n/a" : f("%.2f", r);
  }

  /** What the forks recorded: thread counts at the defaults, the machine's activity. */
  String forkSection(Run run) {
    StringBuilder md = new StringBuilder("## The forks\n\n");
    if (run.forks.isEmpty()) {
      return md.append("No fork records (forks.jsonl missing).\n").toString();
    }
    Map<String, Integer> libThreads = new TreeMap<>();
    Map<String, Integer> torchThreads = new TreeMap<>();
    List<Double> foreign = new ArrayList<>();
    List<String> disturbed = new ArrayList<>();
    int total = 0;
    for (Map.Entry<String, List<JsonObject>> e : run.forks.entrySet()) {
      for (JsonObject o : e.getValue()) {
        total++;
        String[] k = e.getKey().split("\\|", -1);
        if (o.has("libraryThreads") && k.length > 2 && k[2].equals("default")) {
          libThreads.merge(shapeText(k[1]) + ": threads() = " + str(o, "libraryThreads"), 1,
              Integer::sum);
        }
        if (o.has("torchIntraOpThreads")) {
          torchThreads.merge((k.length > 2 ? threadsText(k[2]) : "?") + ": intra-op "
              + str(o, "torchIntraOpThreads") + ", inter-op " + str(o, "torchInterOpThreads"), 1,
              Integer::sum);
        }
        double fc = num(o, "foreignCores");
        double sc = num(o, "stealCores");
        foreign.add(fc);
        if (fc > maxForeign || sc > maxSteal) {
          disturbed.add(f("`%s` pid %s: other processes %.2f cores, steal %.2f, load %.2f to %.2f",
              e.getKey(), str(o, "pid"), fc, sc, num(o, "load1Before"), num(o, "load1After")));
        }
      }
    }
    double[] fa = foreign.stream().mapToDouble(Double::doubleValue).toArray();
    Arrays.sort(fa);
    md.append(f("%d fork records. Other processes' CPU during a fork (busy time of the machine "
        + "minus the fork's and its JMH parent's, from /proc): median %.2f cores, 90th "
        + "percentile %.2f, max %.2f.\n\n", total, median(fa), fa[(int) Math.floor(0.9
        * (fa.length - 1))], fa[fa.length - 1]));
    md.append("The library's defaults (`new BatchNorm2d(C)`), as its `threads()` reports them, "
        + "forks:\n\n");
    for (Map.Entry<String, Integer> e : libThreads.entrySet()) {
      md.append("- ").append(e.getKey()).append(" (").append(e.getValue()).append(")\n");
    }
    md.append("\nPyTorch's thread counts, forks:\n\n");
    for (Map.Entry<String, Integer> e : torchThreads.entrySet()) {
      md.append("- ").append(e.getKey()).append(" (").append(e.getValue()).append(")\n");
    }
    md.append("\nDisturbed forks: ").append(disturbed.isEmpty() ? "none.\n" : disturbed.size()
        + "\n\n");
    for (String d : disturbed) {
      md.append("- ").append(d).append("\n");
    }
    return md.toString();
  }

  // ----------------------------------------------------------------------------------------------
  // Chart
  // ----------------------------------------------------------------------------------------------

  static final String[] COLORS = {"#1f77b4", "#ff7f0e", "#2ca02c"};

  /**
   * PyTorch time / batchnorm4j time on a log scale with a line at 1: one panel per pass, one group
   * per JVM (JDK and flag), in each group the defaults, 1 thread and 2 threads side by side: a dot
   * per real shape, a bar at the geometric mean, a line from min to max.
   */
  String chart() {
    List<String[]> groups = new ArrayList<>(); // {run index, lib}
    for (int r = 0; r < runs.size(); r++) {
      for (String lib : LIBS) {
        groups.add(new String[] {Integer.toString(r), lib});
      }
    }
    double lo = 0.5;
    double hi = 2;
    for (Run run : runs) {
      Status s = new Status(run);
      for (String lib : LIBS) {
        for (String[] p : PASSES) {
          for (String th : THREADS) {
            for (String shape : REAL) {
              double v = ratio(s, lib, p[0], shape, th);
              if (Double.isFinite(v) && v > 0) {
                lo = Math.min(lo, v);
                hi = Math.max(hi, v);
              }
            }
          }
        }
      }
    }
    double logLo = Math.floor(Math.log10(lo) * 2) / 2; // to a half decade
    double logHi = Math.ceil(Math.log10(hi) * 2) / 2;
    int panelW = Math.max(260, 40 + groups.size() * 70);
    int left = 60;
    int top = 70;
    int plotH = 320;
    int width = left + PASSES.length * (panelW + 20) + 10;
    int height = top + plotH + 120;
    StringBuilder svg = new StringBuilder();
    svg.append(f("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
        + "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n", width, height,
        width, height));
    svg.append(f("<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", width, height));
    svg.append(f("<text x=\"%d\" y=\"22\" font-size=\"15\" font-weight=\"bold\">PyTorch 2.7.1 "
        + "time / batchnorm4j time (above 1: batchnorm4j faster), log scale</text>\n", left));
    StringBuilder labels = new StringBuilder();
    for (Run run : runs) {
      labels.append(labels.length() == 0 ? "" : "; ").append(run.name()).append(": ")
          .append(run.label);
      if (!run.label.equalsIgnoreCase("final")) {
        labels.append(" run, not results");
      }
    }
    boolean notFinal = runs.stream().anyMatch(r -> !r.label.equalsIgnoreCase("final"));
    svg.append(f("<text x=\"%d\" y=\"42\" fill=\"%s\">%s. Five real shapes; (2, 4, 2, 2) left "
        + "out (call overhead).</text>\n", left, notFinal ? "#c00000" : "#333333",
        escape(labels.toString())));
    if (notFinal) {
      svg.append(f("<text x=\"%d\" y=\"%d\" font-size=\"44\" font-weight=\"bold\" "
          + "fill=\"#c00000\" fill-opacity=\"0.12\" text-anchor=\"middle\" "
          + "transform=\"rotate(-12 %d %d)\">%s RUN - NOT RESULTS</text>\n", width / 2,
          top + plotH / 2, width / 2, top + plotH / 2,
          escape(runs.get(0).label.toUpperCase(Locale.ROOT))));
    }
    for (int pi = 0; pi < PASSES.length; pi++) {
      int x0 = left + pi * (panelW + 20);
      svg.append(f("<text x=\"%d\" y=\"%d\" font-weight=\"bold\" text-anchor=\"middle\">%s</text>"
          + "\n", x0 + panelW / 2, top - 10, PASSES[pi][1]));
      svg.append(f("<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
          + "stroke=\"#999\"/>\n", x0, top, panelW, plotH));
      // grid: 1-2-5 per decade
      for (int d = (int) Math.floor(logLo); d <= (int) Math.ceil(logHi); d++) {
        for (int m : new int[] {1, 2, 5}) {
          double v = m * Math.pow(10, d);
          double lv = Math.log10(v);
          if (lv < logLo - 1e-9 || lv > logHi + 1e-9) {
            continue;
          }
          double y = top + plotH * (logHi - lv) / (logHi - logLo);
          boolean one = Math.abs(v - 1) < 1e-9;
          svg.append(f("<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
              + "stroke-width=\"%s\"%s/>\n", x0, x0 + panelW, y, y, one ? "#000" : "#ddd",
              one ? "1.5" : "1", one ? " stroke-dasharray=\"6,3\"" : ""));
          if (pi == 0) {
            svg.append(f("<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", x0 - 6,
                y + 4, v >= 1 ? f("%.0f", v) : f("%s", trim(v))));
          }
        }
      }
      int gw = panelW / groups.size();
      for (int g = 0; g < groups.size(); g++) {
        Run run = runs.get(Integer.parseInt(groups.get(g)[0]));
        String lib = groups.get(g)[1];
        int gx = x0 + g * gw;
        Status s = new Status(run);
        for (int ti = 0; ti < THREADS.length; ti++) {
          double cx = gx + gw * (ti + 1.0) / (THREADS.length + 1);
          List<Double> vals = new ArrayList<>();
          for (String shape : REAL) {
            vals.add(ratio(s, lib, PASSES[pi][0], shape, THREADS[ti]));
          }
          Summary sum = summarize(vals, false);
          if (sum.n() == 0) {
            continue;
          }
          double yMin = y(sum.min(), logLo, logHi, top, plotH);
          double yMax = y(sum.max(), logLo, logHi, top, plotH);
          double yG = y(sum.geomean(), logLo, logHi, top, plotH);
          svg.append(f("<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
              + "stroke-width=\"1.5\"/>\n", cx, cx, yMin, yMax, COLORS[ti]));
          svg.append(f("<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
              + "stroke-width=\"4\"><title>%s, %s, %s: geomean %.2f</title></line>\n", cx - 7,
              cx + 7, yG, yG, COLORS[ti], run.name(), flagText(lib), threadsText(THREADS[ti]),
              sum.geomean()));
          for (int si = 0; si < REAL.length; si++) {
            double v = vals.get(si);
            if (Double.isFinite(v) && v > 0) {
              svg.append(f("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\" "
                  + "fill-opacity=\"0.6\"><title>%s: %.2f</title></circle>\n", cx + 10,
                  y(v, logLo, logHi, top, plotH), COLORS[ti], shapeText(REAL[si]), v));
            }
          }
        }
        svg.append(f("<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
            gx + gw / 2.0, top + plotH + 16, run.name()));
        svg.append(f("<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
            gx + gw / 2.0, top + plotH + 30, lib.equals(FLAG) ? "flag" : "no flag"));
      }
    }
    int ly = top + plotH + 60;
    for (int ti = 0; ti < THREADS.length; ti++) {
      int lx = left + ti * 150;
      svg.append(f("<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" "
          + "stroke-width=\"4\"/>\n", lx, lx + 16, ly - 4, ly - 4, COLORS[ti]));
      svg.append(f("<text x=\"%d\" y=\"%d\">%s</text>\n", lx + 22, ly,
          THREADS[ti].equals("default") ? "defaults vs defaults" : threadsText(THREADS[ti])
              + " each"));
    }
    svg.append(f("<text x=\"%d\" y=\"%d\" fill=\"#333\">bar: geometric mean; line: min to max; "
        + "dots: the five shapes; dashed line: parity (1)</text>\n", left, ly + 20));
    svg.append("</svg>\n");
    return svg.toString();
  }

  static double y(double v, double logLo, double logHi, int top, int plotH) {
    return top + plotH * (logHi - Math.log10(v)) / (logHi - logLo);
  }

  static String trim(double v) {
    String s = f("%.3f", v);
    while (s.endsWith("0")) {
      s = s.substring(0, s.length() - 1);
    }
    return s.endsWith(".") ? s.substring(0, s.length() - 1) : s;
  }

  static String escape(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
  }
}
