package io.github.batchnorm4j;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * docs/frameworks.md shows the DJL code that LiveDjlFrameworksTest runs (src/torch, profile
 * pytorch): every line of its first two Java blocks must be a line (or part of one) of
 * NdArrays.java or BatchNormBlock.java, so that the page cannot drift from the tested code.
 */
class FrameworksDocTest {

  @Test
  void theDjlCodeOnThePageIsTheTestedCode() throws IOException {
    String page = Files.readString(Path.of("docs/frameworks.md"), StandardCharsets.UTF_8);
    Path dir = Path.of("src/torch/java/io/github/batchnorm4j/djl");
    List<String> source = new ArrayList<>();
    for (String file : List.of("NdArrays.java", "BatchNormBlock.java")) {
      Files.readString(dir.resolve(file), StandardCharsets.UTF_8).lines().map(String::strip)
          .forEach(source::add);
    }
    Matcher m = Pattern.compile("(?ms)^```java\\n(.*?)^```$").matcher(page);
    int blocks = 0;
    while (m.find() && blocks < 2) {
      blocks++;
      for (String line : m.group(1).lines().map(String::strip).filter(l -> !l.isEmpty()).toList()) {
        assertThat(source).as("docs/frameworks.md block %d line: %s", blocks, line)
            .anySatisfy(s -> assertThat(s).contains(line));
      }
    }
    assertThat(blocks).isEqualTo(2);
    assertThat(page).contains("LiveDjlFrameworksTest").contains("-Ppytorch");
  }
}
