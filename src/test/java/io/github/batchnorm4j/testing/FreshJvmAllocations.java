package io.github.batchnorm4j.testing;

import io.github.batchnorm4j.KernelInfo;
import java.util.ArrayList;
import java.util.List;

/**
 * A harness, not a test: every variant's forward + backward step ({@link VariantSteps}) on one
 * thread, 600 times to get it compiled, then the bytes each step allocates (the least of three
 * windows of 100 steps), for looking at what C2 made of the kernels under JIT options of one's
 * choosing (docs/kernels.md, "JDK 17's C2 and the Vector API"):
 *
 * <pre>
 * ./mvnw -q dependency:build-classpath -Dmdep.outputFile=/tmp/cp.txt -Dmdep.includeScope=test
 * java --add-modules jdk.incubator.vector -Dbatchnorm4j.warmup=false \
 *     -XX:+UnlockDiagnosticVMOptions -XX:CompileCommand=quiet \
 *     "-XX:CompileCommand=PrintInlining,io.github.batchnorm4j.internal.VectorKernels::*" \
 *     -cp target/classes:target/test-classes:$(cat /tmp/cp.txt) \
 *     io.github.batchnorm4j.testing.FreshJvmAllocations | grep -c TypeProfile
 * </pre>
 *
 * Prints {@code kernels=}, {@code bytes=} (the total) and {@code allocating=} (the steps that
 * allocated).
 */
public final class FreshJvmAllocations {

  private FreshJvmAllocations() {}

  /**
   * Runs the steps, see the class comment.
   *
   * @param args none
   */
  public static void main(String[] args) {
    com.sun.management.ThreadMXBean counters = Allocations.counters();
    List<VariantSteps.Step> steps = VariantSteps.all(4, 1);
    for (int i = 0; i < 600; i++) {
      for (VariantSteps.Step step : steps) {
        step.call().run();
      }
    }
    long total = 0;
    List<String> allocating = new ArrayList<>();
    for (VariantSteps.Step step : steps) {
      long bytes = Allocations.leastAllocatedInThreeWindows(counters, step.call(), 100);
      if (bytes > 0) {
        allocating.add(step.name() + ": " + bytes / 100 + " bytes a step");
      }
      total += bytes;
    }
    System.out.println("kernels=" + KernelInfo.current().implementation());
    System.out.println("bytes=" + total);
    System.out.println("allocating=" + allocating);
  }
}
