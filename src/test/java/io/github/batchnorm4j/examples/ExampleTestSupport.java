package io.github.batchnorm4j.examples;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Helpers for the tests that run the examples. */
public final class ExampleTestSupport {

  static {
    // The examples draw charts off screen; make sure no test ever needs a display.
    System.setProperty("java.awt.headless", "true");
  }

  private ExampleTestSupport() {}

  /** Captures what an example prints. */
  public static final class Captured {
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    public final PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);

    public String text() {
      return bytes.toString(StandardCharsets.UTF_8);
    }
  }

  /** Asserts that {@code file} exists and is a PNG image of a reasonable size. */
  public static void assertPng(Path file) throws IOException {
    assertThat(file).exists();
    byte[] head = Files.readAllBytes(file);
    assertThat(head.length).as("size of %s", file).isGreaterThan(2000);
    assertThat(new byte[] {head[1], head[2], head[3]})
        .as("PNG signature of %s", file)
        .isEqualTo("PNG".getBytes(StandardCharsets.US_ASCII));
  }
}
