package io.github.batchnorm4j.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * What the machine did around one JMH fork's trial: one JSON line per trial, appended to the file
 * named by the environment variable {@code BENCH_FORK_LOG} (set by benchmarks/run.sh; JMH's forks
 * inherit the parent's environment). Without the variable nothing is written.
 *
 * <p>Recorded at the trial's set-up and tear-down (so the window holds the warm-up and the
 * measurement): the 1-minute load average, and from {@code /proc/stat} the CPU time the whole
 * machine spent busy and stolen, minus the CPU time of this fork and of its JMH parent
 * ({@code /proc/<pid>/stat}): the <em>foreign</em> CPU, in cores on average over the window. The
 * load average cannot tell other work from the benchmark's own threads; the foreign CPU can, up to
 * the kernel's own threads and the 10 ms tick. The report marks a fork disturbed when its foreign
 * CPU or steal exceeds a threshold. Also recorded: {@code GLIBC_TUNABLES}, the JDK, whether the
 * Vector API module is in the boot layer, and anything the state adds (the threads in use).
 */
final class ForkProbe {

  /** The environment variable naming the JSON-lines file. */
  static final String LOG_ENV = "BENCH_FORK_LOG";

  private final String benchmark;
  private final Map<String, String> params = new LinkedHashMap<>();
  private final Map<String, String> facts = new LinkedHashMap<>();
  private final long[] cpu0;
  private final long own0;
  private final long parent0;
  private final long wall0;
  private final double load0;
  private final long parentPid;

  private ForkProbe(BenchmarkParams bp) {
    benchmark = bp == null ? "?" : bp.getBenchmark();
    if (bp != null) {
      for (String k : bp.getParamsKeys()) {
        params.put(k, bp.getParam(k));
      }
    }
    parentPid = ProcessHandle.current().parent().map(ProcessHandle::pid).orElse(-1L);
    wall0 = System.currentTimeMillis();
    load0 = loadAverage();
    cpu0 = machineTicks();
    own0 = processTicks(ProcessHandle.current().pid());
    parent0 = processTicks(parentPid);
  }

  /** Starts the window; call at the start of the trial's set-up. */
  static ForkProbe begin(BenchmarkParams bp) {
    return new ForkProbe(bp);
  }

  /** Adds a fact to the record (thread counts, kernels in use). */
  ForkProbe fact(String key, Object value) {
    facts.put(key, String.valueOf(value));
    return this;
  }

  /** Ends the window and appends the record; call in the trial's tear-down. */
  void end() {
    long wall1 = System.currentTimeMillis();
    double load1 = loadAverage();
    long[] cpu1 = machineTicks();
    long own1 = processTicks(ProcessHandle.current().pid());
    long parent1 = processTicks(parentPid);
    String file = System.getenv(LOG_ENV);
    if (file == null || file.isEmpty()) {
      return;
    }
    int cpus = Runtime.getRuntime().availableProcessors();
    StringBuilder j = new StringBuilder("{");
    str(j, "benchmark", benchmark);
    j.append("\"params\":{");
    boolean first = true;
    for (Map.Entry<String, String> e : params.entrySet()) {
      if (!first) {
        j.append(',');
      }
      first = false;
      j.append(quote(e.getKey())).append(':').append(quote(e.getValue()));
    }
    j.append("},");
    num(j, "pid", ProcessHandle.current().pid());
    num(j, "startMillis", wall0);
    num(j, "endMillis", wall1);
    num(j, "load1Before", load0);
    num(j, "load1After", load1);
    if (cpu0 != null && cpu1 != null && own0 >= 0 && own1 >= 0) {
      double total = cpu1[2] - cpu0[2];
      double windowTicks = total / cpus; // ticks of wall time
      long busy = cpu1[0] - cpu0[0];
      long steal = cpu1[1] - cpu0[1];
      long own = own1 - own0;
      long parent = parent0 >= 0 && parent1 >= 0 ? parent1 - parent0 : 0;
      num(j, "busyTicks", busy);
      num(j, "stealTicks", steal);
      num(j, "ownTicks", own);
      num(j, "parentTicks", parent);
      num(j, "totalTicks", (long) total);
      num(j, "cpus", cpus);
      num(j, "foreignCores", windowTicks > 0 ? Math.max(0, busy - own - parent) / windowTicks : -1);
      num(j, "stealCores", windowTicks > 0 ? steal / windowTicks : -1);
    }
    str(j, "glibcTunables", String.valueOf(System.getenv("GLIBC_TUNABLES")));
    str(j, "javaVersion", Runtime.version().toString());
    str(j, "vectorModule", String.valueOf(ModuleLayer.boot().findModule("jdk.incubator.vector")
        .isPresent()));
    for (Map.Entry<String, String> e : facts.entrySet()) {
      str(j, e.getKey(), e.getValue());
    }
    j.setLength(j.length() - 1);
    j.append("}\n");
    try {
      Files.writeString(Path.of(file), j, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
          StandardOpenOption.APPEND);
    } catch (IOException e) {
      throw new IllegalStateException("cannot append to " + file, e);
    }
  }

  /** The 1-minute load average, or -1. */
  static double loadAverage() {
    try {
      return Double.parseDouble(Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+")[0]);
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  /**
   * The first line of /proc/stat in clock ticks: {busy (user, nice, system, irq, softirq), steal,
   * total (all fields but guest, which user already counts)}, or null.
   */
  static long[] machineTicks() {
    try {
      String line = Files.readAllLines(Path.of("/proc/stat")).get(0);
      String[] f = line.trim().split("\\s+");
      long[] v = new long[f.length - 1];
      for (int i = 1; i < f.length; i++) {
        v[i - 1] = Long.parseLong(f[i]);
      }
      // user nice system idle iowait irq softirq steal [guest guest_nice]
      long busy = v[0] + v[1] + v[2] + v[5] + v[6];
      long steal = v.length > 7 ? v[7] : 0;
      long total = busy + v[3] + v[4] + steal;
      return new long[] {busy, steal, total};
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  /** utime + stime of a process (all its threads) in clock ticks, or -1. */
  static long processTicks(long pid) {
    if (pid < 0) {
      return -1;
    }
    try {
      String s = Files.readString(Path.of("/proc/" + pid + "/stat"));
      // the command name (field 2) is in parentheses and may hold spaces
      String[] f = s.substring(s.lastIndexOf(')') + 2).trim().split("\\s+");
      // f[0] is field 3 (state); utime and stime are fields 14 and 15
      return Long.parseLong(f[11]) + Long.parseLong(f[12]);
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  private static void str(StringBuilder j, String k, String v) {
    j.append(quote(k)).append(':').append(quote(v)).append(',');
  }

  private static void num(StringBuilder j, String k, double v) {
    j.append(quote(k)).append(':').append(String.format(Locale.ROOT, "%.4f", v)).append(',');
  }

  private static void num(StringBuilder j, String k, long v) {
    j.append(quote(k)).append(':').append(v).append(',');
  }

  static String quote(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '"' || c == '\\') {
        b.append('\\').append(c);
      } else if (c < 0x20) {
        b.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
      } else {
        b.append(c);
      }
    }
    return b.append('"').toString();
  }
}
