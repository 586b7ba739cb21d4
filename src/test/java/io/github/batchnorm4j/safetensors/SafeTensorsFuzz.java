package io.github.batchnorm4j.safetensors;

import java.util.EnumMap;
import java.util.Map;

/**
 * The long fuzz run of the safetensors reader, independent of CI: generates N inputs (default
 * 100,000) with {@link FuzzInputs}, reads each from a byte array and from a stream, and prints the
 * counts per strategy and outcome, the largest allocation per input byte, and the first failures.
 * Exits with status 1 if any input failed (an exception other than {@link SafeTensorsException},
 * disagreeing reads, or an allocation above the bound).
 *
 * <pre>
 * ./mvnw -q test-compile exec:java -Dexec.mainClass=io.github.batchnorm4j.safetensors.SafeTensorsFuzz -Dexec.args="100000 1"
 * </pre>
 * Arguments: the number of inputs, and the first seed (inputs use seeds first, first + 1, ...).
 */
public final class SafeTensorsFuzz {

  private SafeTensorsFuzz() {}

  public static void main(String[] args) {
    long count = args.length > 0 ? Long.parseLong(args[0]) : 100_000;
    long first = args.length > 1 ? Long.parseLong(args[1]) : 1;
    Map<FuzzInputs.Strategy, long[]> table = new EnumMap<>(FuzzInputs.Strategy.class);
    long failures = 0;
    long bytes = 0;
    double worstRatio = 0;
    long start = System.nanoTime();
    for (long seed = first; seed < first + count; seed++) {
      FuzzInputs.Input in = FuzzInputs.generate(seed);
      FuzzInputs.Result r = FuzzInputs.check(in.bytes());
      table.computeIfAbsent(in.strategy(), k -> new long[3])[r.outcome().ordinal()]++;
      bytes += in.bytes().length;
      worstRatio = Math.max(worstRatio,
          (double) r.allocated() / (2.0 * FuzzInputs.allocationBound(in.bytes().length)));
      if (r.outcome() == FuzzInputs.Outcome.FAILED && ++failures <= 10) {
        System.out.printf("FAILED seed %d (%s, %d bytes): %s%n", seed, in.strategy(), in.bytes().length, r.failure());
      }
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    System.out.printf("%-20s %10s %10s %8s%n", "strategy", "accepted", "rejected", "failed");
    long[] total = new long[3];
    for (Map.Entry<FuzzInputs.Strategy, long[]> e : table.entrySet()) {
      long[] c = e.getValue();
      System.out.printf("%-20s %10d %10d %8d%n", e.getKey(), c[0], c[1], c[2]);
      for (int i = 0; i < 3; i++) {
        total[i] += c[i];
      }
    }
    System.out.printf("%-20s %10d %10d %8d%n", "total", total[0], total[1], total[2]);
    System.out.printf("%d inputs (seeds %d..%d), %.1f MB, %.1f s; largest allocation %.1f%% of the bound"
        + " (64 bytes per input byte + 4 MiB, per read)%n",
        count, first, first + count - 1, bytes / 1e6, seconds, 100 * worstRatio);
    System.out.println(failures == 0 ? "OK: only SafeTensorsException" : "FAILURES: " + failures);
    if (failures > 0) {
      System.exit(1);
    }
  }
}
