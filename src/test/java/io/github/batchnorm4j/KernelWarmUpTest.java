package io.github.batchnorm4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.batchnorm4j.testing.FreshJvmKernels;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The kernel selection as a program meets it, in fresh JVMs started with this JVM's {@code java}
 * and class path ({@link FreshJvmKernels} does the calls): the one log line, at WARNING or INFO,
 * emitted once however many calls; the warm-up's hand-over from the scalar to the vector kernels
 * (the surefire runs themselves set {@code -Dbatchnorm4j.warmup=false}).
 */
class KernelWarmUpTest {

  private static final String WARNING =
      "WARNING: batchnorm4j: the Java vector incubator module is not readable";

  @TempDir
  Path dir;

  /** The JVM's stdout as key=value pairs, and its stderr. */
  private record Run(Map<String, String> values, String stderr) {}

  private Run run(String scenario, String... jvmOptions) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(List.of(jvmOptions));
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add(FreshJvmKernels.class.getName());
    command.add(scenario);
    Path out = dir.resolve("out.txt");
    Path err = dir.resolve("err.txt");
    Process p = new ProcessBuilder(command).redirectOutput(out.toFile())
        .redirectError(err.toFile()).start();
    assertThat(p.waitFor(180, TimeUnit.SECONDS)).as("finished in time").isTrue();
    String stderr = Files.readString(err, StandardCharsets.UTF_8);
    assertThat(p.exitValue()).as("exit status; stderr:%n%s", stderr).isZero();
    Map<String, String> values = new HashMap<>();
    for (String line : Files.readAllLines(out, StandardCharsets.UTF_8)) {
      int eq = line.indexOf('=');
      if (eq > 0) {
        values.put(line.substring(0, eq), line.substring(eq + 1));
      }
    }
    return new Run(values, stderr);
  }

  private static int count(String text, String what) {
    int n = 0;
    for (int i = text.indexOf(what); i >= 0; i = text.indexOf(what, i + 1)) {
      n++;
    }
    return n;
  }

  @Test
  void withoutTheModuleOneWarningBelowJava25ElseOneInfoLine() throws Exception {
    Run r = run("calls");
    assertThat(r.values()).containsEntry("implementation", "scalar")
        .containsEntry("simdActive", "false").containsEntry("vectorBits", "0")
        .containsEntry("flagWouldHelp", "true");
    assertThat(r.values().get("info")).contains(KernelInfo.VECTOR_FLAG);
    if (Runtime.version().feature() < 25) {
      assertThat(count(r.stderr(), WARNING)).as(r.stderr()).isEqualTo(1);
      assertThat(r.stderr()).contains("'" + KernelInfo.VECTOR_FLAG + "'")
          .doesNotContain("INFO: batchnorm4j kernels");
    } else {
      assertThat(r.stderr()).doesNotContain(WARNING);
      assertThat(count(r.stderr(), "INFO: batchnorm4j kernels: scalar")).as(r.stderr())
          .isEqualTo(1);
    }
  }

  @Test
  void forcedScalarIsQuiet() throws Exception {
    Run r = run("calls", KernelInfo.FORCE_SCALAR_OPTION);
    assertThat(r.values()).containsEntry("implementation", "scalar")
        .containsEntry("flagWouldHelp", "false");
    assertThat(r.stderr()).doesNotContain("WARNING: batchnorm4j")
        .contains("INFO: batchnorm4j kernels: scalar (forced by -Dbatchnorm4j.simd=false)");
  }

  @Test
  void withTheModuleTheWarmUpHandsOverToTheVectorKernels() throws Exception {
    assumeTrue(io.github.batchnorm4j.internal.KernelOps.vector().isPresent(),
        "no Vector API kernels on this machine");
    Run r = run("warm-up", "--add-modules", "jdk.incubator.vector");
    assertThat(r.values()).as(r.stderr()).containsEntry("firstStepWhileWarmingUp", "true");
    assertThat(r.values().get("threadAliveWhileWarmingUp")).isIn("true", "skipped");
    assertThat(r.values().get("firstStepScalarBits")).isIn("true", "skipped");
    assertThat(r.values()).containsEntry("implementation", "vector")
        .containsEntry("simdActive", "true").containsEntry("warmingUp", "false")
        .containsEntry("flagWouldHelp", "false").containsEntry("lastStepVectorBits", "true")
        .containsEntry("threadEnded", "true");
    assertThat(r.values().get("vectorBits")).isIn("256", "512");
    assertThat(r.values().get("warmUp")).matches("(compiled|budget switch) after .*");
    assertThat(count(r.stderr(), "INFO: batchnorm4j kernels: vector")).as(r.stderr())
        .isEqualTo(1);
    assertThat(r.stderr()).contains("batchnorm4j-warmup").doesNotContain("WARNING: batchnorm4j");
  }

  @Test
  void withTheWarmUpOffTheVectorKernelsRunFromTheFirstCall() throws Exception {
    assumeTrue(io.github.batchnorm4j.internal.KernelOps.vector().isPresent(),
        "no Vector API kernels on this machine");
    Run r = run("calls", "--add-modules", "jdk.incubator.vector", "-Dbatchnorm4j.warmup=false");
    assertThat(r.values()).containsEntry("implementation", "vector")
        .containsEntry("simdActive", "true").containsEntry("warmingUp", "false")
        .containsEntry("warmUp", "none");
  }
}
