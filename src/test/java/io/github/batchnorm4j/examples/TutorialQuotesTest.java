package io.github.batchnorm4j.examples;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.batchnorm4j.KernelInfo;
import io.github.batchnorm4j.examples.batchsize.BatchSizeEstimates;
import io.github.batchnorm4j.examples.byhand.BatchNormByHand;
import io.github.batchnorm4j.examples.convbias.ConvBiasBeforeBatchNorm;
import io.github.batchnorm4j.examples.demo.Demo;
import io.github.batchnorm4j.examples.distributions.ActivationDistributions;
import io.github.batchnorm4j.examples.sync.SyncBatchNormWorkers;
import io.github.batchnorm4j.examples.traineval.TrainVersusEval;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * Keeps the program output quoted in the tutorial honest (issue #4): runs the fast examples with
 * exactly the arguments of the chapters' commands and checks that every line of the quoted output
 * blocks, in English and Chinese, appears in what the program printed.
 *
 * <p>The quoted blocks are listed explicitly in {@link #QUOTES}, by chapter file and fenced block
 * number (1-based, counting every fenced block of the file, including command and Java blocks).
 * A listed block must directly follow the program's command block, so that renumbering blocks
 * fails here instead of silently checking the wrong block; and every block directly after a
 * command of a checked program must be listed, so that a new quote cannot slip through unchecked.
 *
 * <p>by-hand and batch-size compute with the library only on small tensors (the scalar kernels,
 * whatever the JVM) and are checked in every test run. The programs that train networks (demo,
 * train-eval, conv-bias, distributions) and sync-workers print what the kernels compute to the last
 * digit, so their quotes are checked only where those kernels are the ones that wrote them: the
 * Vector API kernels at 512 bits from the first call, as the chapters' commands get them in
 * Maven's JVM (.mvn/jvm.config, {@code -Dbatchnorm4j.warmup=false} in the exec configuration) and
 * as the default test run gets them (the surefire argLine); the scalar test runs and machines with
 * narrower vectors skip them. They take about a minute and a half together.
 *
 * <p>Quoted lines may elide with {@code ...}: a line that is just {@code ...} is skipped, and for a
 * line containing {@code ...} only the text before it is checked. Lines are compared after
 * trimming trailing whitespace; a quoted line must be a substring of a printed line.
 */
class TutorialQuotesTest {

  private static final Path TUTORIAL = Path.of("docs", "tutorial");
  private static final String[] LANGUAGES = {"en", "zh-CN"};

  /** A program of the tutorial: its exec id (the command is its chapter block) and how to run it. */
  private enum Program {
    BY_HAND("by-hand", BatchNormByHand.class, false),
    BATCH_SIZE("batch-size", BatchSizeEstimates.class, false),
    DEMO("demo", Demo.class, true),
    TRAIN_EVAL("train-eval", TrainVersusEval.class, true),
    CONV_BIAS("conv-bias", ConvBiasBeforeBatchNorm.class, true),
    DISTRIBUTIONS("distributions", ActivationDistributions.class, true),
    SYNC_WORKERS("sync-workers", SyncBatchNormWorkers.class, true);

    final String execId;
    final Class<?> mainClass;
    /** Whether its output depends on the kernels' last bits (see the class comment). */
    final boolean needsQuotedKernels;

    Program(String execId, Class<?> mainClass, boolean needsQuotedKernels) {
      this.execId = execId;
      this.mainClass = mainClass;
      this.needsQuotedKernels = needsQuotedKernels;
    }

    /** The command the chapters show: the default run, without any -Dexec.args. */
    String command() {
      return "./mvnw -q test-compile exec:java@" + execId;
    }
  }

  /** A fenced block of a chapter that quotes the output of a program. */
  private record Quote(String chapter, int block, Program program) {}

  /** Per chapter (the same in every language), the fenced blocks that quote program output. */
  private static final List<Quote> QUOTES = List.of(
      new Quote("01-forward-pass.md", 3, Program.BY_HAND),
      new Quote("02-backward-pass.md", 3, Program.BY_HAND),
      new Quote("03-batch-size.md", 2, Program.BATCH_SIZE),
      new Quote("04-train-and-eval.md", 3, Program.BY_HAND),
      new Quote("04-train-and-eval.md", 5, Program.TRAIN_EVAL),
      new Quote("05-placement-and-conv-bias.md", 4, Program.CONV_BIAS),
      new Quote("06-training-with-batch-norm.md", 2, Program.DEMO),
      new Quote("07-activation-distributions.md", 2, Program.DISTRIBUTIONS),
      new Quote("08-across-workers.md", 3, Program.SYNC_WORKERS));

  @TempDir
  static Path out;

  private static final Map<Program, String> OUTPUTS = new LinkedHashMap<>();

  /** Runs a program once (with its chapter command's arguments; charts go to a temp folder). */
  private static synchronized String output(Program program) throws Exception {
    String text = OUTPUTS.get(program);
    if (text == null) {
      ExampleTestSupport.Captured captured = new ExampleTestSupport.Captured();
      Path dir = out.resolve(program.execId);
      // The examples' run(String[], PrintStream[, boolean console]) is package-private: call it
      // reflectively, without the progress bars.
      Method run = Stream.of(program.mainClass.getDeclaredMethods())
          .filter(m -> m.getName().equals("run") && m.getParameterCount() >= 2
              && m.getParameterTypes()[0] == String[].class
              && m.getParameterTypes()[1] == PrintStream.class)
          .findFirst().orElseThrow();
      run.setAccessible(true);
      // Charts go to a temporary folder (sync-workers draws none and takes no --out).
      String[] args = program == Program.SYNC_WORKERS
          ? new String[0] : new String[] {"--out", dir.toString()};
      Object[] arguments = run.getParameterCount() == 2
          ? new Object[] {args, captured.out} : new Object[] {args, captured.out, false};
      try {
        run.invoke(null, arguments);
      } catch (InvocationTargetException e) {
        throw e.getCause() instanceof Exception ex ? ex : e;
      }
      text = captured.text();
      OUTPUTS.put(program, text);
    }
    return text;
  }

  @TestFactory
  Stream<DynamicTest> quotedOutputIsWhatTheProgramPrints() {
    return Stream.of(LANGUAGES).flatMap(language -> QUOTES.stream().map(quote -> {
      Path file = TUTORIAL.resolve(language).resolve(quote.chapter());
      return DynamicTest.dynamicTest(
          file + " block " + quote.block() + " (" + quote.program().execId + ")",
          () -> checkQuote(file, quote));
    }));
  }

  private static void checkQuote(Path file, Quote quote) throws Exception {
    if (quote.program().needsQuotedKernels) {
      KernelInfo kernels = KernelInfo.current();
      assumeTrue(kernels.simdActive() && !kernels.warmingUp() && kernels.vectorBits() == 512,
          () -> "the quotes of " + quote.program().execId + " were printed by the 512-bit Vector"
              + " API kernels; this JVM runs " + kernels);
    }
    List<Block> blocks = fencedBlocks(file);
    assertThat(blocks.size())
        .withFailMessage("%s has only %d fenced blocks; expected block %d to quote the output of"
                + " %s. Update TutorialQuotesTest.QUOTES if the chapter changed.",
            file, blocks.size(), quote.block(), quote.program().execId)
        .isGreaterThanOrEqualTo(quote.block());
    Block block = blocks.get(quote.block() - 1);
    assertThat(quote.block())
        .withFailMessage("%s: block %d (line %d) should quote the output of `%s`, but the block"
                + " before it is not that command. Update TutorialQuotesTest.QUOTES if the"
                + " chapter changed.", file, quote.block(), block.firstLine(),
            quote.program().command())
        .isGreaterThan(1);
    Block command = blocks.get(quote.block() - 2);
    assertThat(command.isCommand(quote.program()))
        .withFailMessage("%s: block %d (line %d) should quote the output of `%s`, but the block"
                + " before it (line %d) is%n%s%nUpdate TutorialQuotesTest.QUOTES if the chapter"
                + " changed.", file, quote.block(), block.firstLine(), quote.program().command(),
            command.firstLine(), String.join("\n", command.lines()))
        .isTrue();
    assertThat(block.info())
        .withFailMessage("%s: block %d (line %d) is a ```%s block, not program output",
            file, quote.block(), block.firstLine(), block.info())
        .isEmpty();

    String printed = output(quote.program());
    List<String> printedLines = printed.lines().map(TutorialQuotesTest::stripTrailing).toList();
    List<String> missing = new ArrayList<>();
    int checked = 0;
    for (int i = 0; i < block.lines().size(); i++) {
      String expected = quotedText(block.lines().get(i));
      if (expected.isBlank()) {
        continue;
      }
      checked++;
      boolean found = printed.contains(expected)
          || printedLines.stream().anyMatch(line -> line.contains(expected));
      if (!found) {
        missing.add(String.format("  %s:%d: `%s` was not printed%n      closest printed line: `%s`",
            file, block.firstLine() + i, expected, closest(expected, printedLines)));
      }
    }
    assertThat(checked)
        .withFailMessage("%s: block %d (line %d) has no line to check", file, quote.block(),
            block.firstLine())
        .isPositive();
    assertThat(missing)
        .withFailMessage("%s block %d quotes output that `%s` no longer prints (fix the chapter in"
                + " every language):%n%s%n--- what the program printed ---%n%s",
            file, quote.block(), quote.program().command(), String.join("\n", missing), printed)
        .isEmpty();
  }

  /**
   * Every fenced block directly after a command of a checked program is listed in {@link #QUOTES}
   * (so new quotes get checked), in every language.
   */
  @Test
  void everyQuotedOutputIsChecked() throws IOException {
    List<String> unlisted = new ArrayList<>();
    for (String language : LANGUAGES) {
      Path dir = TUTORIAL.resolve(language);
      assertThat(dir).as("tutorial folder (tests run from the project root)").isDirectory();
      TreeSet<Path> chapters = new TreeSet<>();
      try (Stream<Path> files = Files.list(dir)) {
        files.filter(p -> p.toString().endsWith(".md")).forEach(chapters::add);
      }
      for (Path file : chapters) {
        List<Block> blocks = fencedBlocks(file);
        for (int b = 1; b < blocks.size(); b++) {
          Block block = blocks.get(b);
          for (Program program : Program.values()) {
            if (blocks.get(b - 1).isCommand(program) && block.info().isEmpty()
                && !block.lines().stream().allMatch(l -> l.startsWith("./mvnw"))) {
              String chapter = file.getFileName().toString();
              int number = b + 1;
              if (QUOTES.stream().noneMatch(q -> q.chapter().equals(chapter)
                  && q.block() == number && q.program() == program)) {
                unlisted.add(String.format("%s block %d (line %d), after `%s`", file, number,
                    block.firstLine(), program.command()));
              }
            }
          }
        }
      }
    }
    assertThat(unlisted)
        .withFailMessage("Blocks that look like program output but are not in"
            + " TutorialQuotesTest.QUOTES:%n  %s", String.join("\n  ", unlisted))
        .isEmpty();
  }

  /** The part of a quoted line to look for: before any "...", without trailing whitespace. */
  static String quotedText(String line) {
    int ellipsis = line.indexOf("...");
    return stripTrailing(ellipsis >= 0 ? line.substring(0, ellipsis) : line);
  }

  private static String stripTrailing(String s) {
    return s.stripTrailing();
  }

  /** The printed line sharing the longest prefix with the expected one (leading blanks ignored). */
  private static String closest(String expected, List<String> printedLines) {
    String want = expected.strip();
    String best = "(nothing printed)";
    int bestLength = -1;
    for (String line : printedLines) {
      String have = line.strip();
      int n = 0;
      while (n < want.length() && n < have.length() && want.charAt(n) == have.charAt(n)) {
        n++;
      }
      if (n > bestLength) {
        bestLength = n;
        best = line;
      }
    }
    return best;
  }

  /** A fenced code block: its info string (e.g. "java"), first content line (1-based), lines. */
  private record Block(String info, int firstLine, List<String> lines) {
    boolean isCommand(Program program) {
      return lines.size() == 1 && lines.get(0).strip().equals(program.command());
    }
  }

  private static final Pattern FENCE = Pattern.compile("^\\s*```(.*)$");

  /** The fenced (```) blocks of a Markdown file, in order. */
  private static List<Block> fencedBlocks(Path file) throws IOException {
    assertThat(file).as("tutorial chapter").isRegularFile();
    List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
    List<Block> blocks = new ArrayList<>();
    String info = null;
    int first = 0;
    List<String> content = null;
    for (int i = 0; i < lines.size(); i++) {
      Matcher fence = FENCE.matcher(lines.get(i));
      if (content == null) {
        if (fence.matches()) {
          info = fence.group(1).strip();
          first = i + 2;
          content = new ArrayList<>();
        }
      } else if (fence.matches() && fence.group(1).isBlank()) {
        blocks.add(new Block(info, first, List.copyOf(content)));
        content = null;
      } else {
        content.add(lines.get(i));
      }
    }
    assertThat(content).as("unclosed fenced block at line %d of %s", first - 1, file).isNull();
    return blocks;
  }
}
