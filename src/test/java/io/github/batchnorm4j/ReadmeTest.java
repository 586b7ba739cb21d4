package io.github.batchnorm4j;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Keeps the README's statements from drifting from the code (issue 15), as TutorialQuotesTest does
 * for the tutorial: the "Use" snippet is the one src/it builds and runs, the dependency snippets
 * name the project's version, the module's exports are the ones it lists, the statistics pass is
 * described as the kernels do it, and no paragraph is said twice.
 */
class ReadmeTest {

  private static final Path README = Path.of("README.md");

  private static String read(Path p) throws IOException {
    return Files.readString(p, StandardCharsets.UTF_8);
  }

  /** The fenced blocks of a markdown text, in order, without the fences. */
  private static List<String> fencedBlocks(String markdown, String language) {
    List<String> blocks = new ArrayList<>();
    Matcher m = Pattern.compile("(?m)^```" + Pattern.quote(language) + "\\n(.*?)^```$", Pattern.DOTALL)
        .matcher(markdown);
    while (m.find()) {
      blocks.add(m.group(1));
    }
    return blocks;
  }

  private static String section(String markdown, String heading) {
    int start = markdown.indexOf("\n## " + heading + "\n");
    assertThat(start).as("README section '%s'", heading).isNotNegative();
    int end = markdown.indexOf("\n## ", start + 1);
    return markdown.substring(start, end < 0 ? markdown.length() : end);
  }

  private static List<String> codeLines(String block) {
    return block.lines().map(String::strip).filter(l -> !l.isEmpty()).collect(Collectors.toList());
  }

  @Test
  void theUseSnippetIsTheOneTheInvokerProjectsRun() throws IOException {
    List<String> snippet = codeLines(fencedBlocks(section(read(README), "Use"), "java").get(0));
    assertThat(snippet.get(0)).isEqualTo("import io.github.batchnorm4j.*;");
    for (String project : List.of("use-classpath", "use-modulepath")) {
      String main = read(Path.of("src/it", project, "src/main/java/example/Main.java"));
      assertThat(main).contains(snippet.get(0));
      String block = main.substring(main.indexOf("// BEGIN README \"Use\""), main.indexOf("// END README \"Use\""));
      List<String> lines = codeLines(block);
      assertThat(lines.subList(1, lines.size())).as(project).isEqualTo(snippet.subList(1, snippet.size()));
    }
  }

  @Test
  void theDependencySnippetsNameTheProjectsVersion() throws IOException {
    String pom = read(Path.of("pom.xml"));
    Matcher v = Pattern.compile("<artifactId>batchnorm4j</artifactId>\\s*<version>([^<]+)</version>").matcher(pom);
    assertThat(v.find()).isTrue();
    String version = v.group(1);
    String install = section(read(README), "Install, then add the dependency");
    assertThat(fencedBlocks(install, "xml").get(0)).contains("<version>" + version + "</version>");
    assertThat(fencedBlocks(install, "kotlin").get(0))
        .contains("\"io.github.batchnorm4j:batchnorm4j:" + version + "\"").contains("mavenLocal()");
    assertThat(fencedBlocks(install, "sh").get(0)).contains("./mvnw install");
  }

  @Test
  void theListedExportsAreTheModulesExports() throws IOException {
    Set<String> exports = new HashSet<>();
    Matcher m = Pattern.compile("exports\\s+([\\w.]+);").matcher(read(Path.of("src/main/java/module-info.java")));
    while (m.find()) {
      exports.add(m.group(1));
    }
    String install = section(read(README), "Install, then add the dependency");
    Matcher said = Pattern.compile("exporting (\\w+) packages").matcher(install);
    assertThat(said.find()).isTrue();
    assertThat(said.group(1)).isEqualTo(List.of("no", "one", "two", "three").get(exports.size()));
    for (String e : exports) {
      assertThat(install).contains("`" + e + "`");
    }
  }

  /** The channels-first kernels take one shifted statistics pass; nothing may say two passes. */
  @Test
  void theStatisticsPassIsDescribedAsTheKernelsDoIt() throws IOException {
    String kernels = read(Path.of("src/main/java/io/github/batchnorm4j/internal/BatchNormKernels.java"));
    // If the kernels change how they take the statistics, the docs checked below must change too.
    assertThat(kernels).contains("one statistics pass").contains("x - K");
    for (Path doc : List.of(README, Path.of("docs/numerics.md"), Path.of("docs/interop.md"))) {
      String text = read(doc).replaceAll("\\s+", " ");
      assertThat(text).as(doc.toString())
          .doesNotContain("in double in two passes")
          .doesNotContain("statistics: two passes")
          .doesNotContain("sums in double in two passes");
    }
    assertThat(read(README).replaceAll("\\s+", " ")).contains("one shifted pass").contains("one shifted statistics pass");
    assertThat(read(Path.of("docs/numerics.md"))).contains("## 1. The statistics: one shifted pass, in double");
  }

  @Test
  void noParagraphIsSaidTwiceAndThreadsAreExplainedOnce() throws IOException {
    String readme = read(README).replaceAll("(?s)```.*?```", "");
    Set<String> seen = new HashSet<>();
    for (String paragraph : readme.split("\\n\\s*\\n")) {
      String p = paragraph.strip().replaceAll("\\s+", " ");
      if (p.length() > 40) {
        assertThat(seen.add(p)).as("paragraph said twice: %s", p).isTrue();
      }
    }
    assertThat(readme.split("threads\\(n\\)` lets", -1)).as("the threads(n) explanation").hasSize(2);
  }

  /** The demo's time is not promised as a fragile number; the table is the one DemoTest checks. */
  @Test
  void theDemoTimeIsNotAFragileNumber() throws IOException {
    String twoCommands = section(read(README), "Two commands");
    assertThat(twoCommands).doesNotContainPattern("\\d+ to \\d+ s measured");
  }
}
