package io.github.batchnorm4j.testing;

import io.github.batchnorm4j.safetensors.SafeTensors;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/** Reads the safetensors fixtures on the test class path with the library's reader. */
public final class Fixtures {

  private Fixtures() {}

  /**
   * Reads a class-path resource such as {@code "/pytorch-bn-fixtures/bn_io.safetensors"}.
   *
   * @throws UncheckedIOException if it is missing or malformed (a broken fixture fails the test)
   */
  public static SafeTensors readResource(String resource) {
    try (InputStream in = Fixtures.class.getResourceAsStream(resource)) {
      if (in == null) {
        throw new IOException("class-path resource not found: " + resource);
      }
      return SafeTensors.read(in);
    } catch (IOException e) {
      throw new UncheckedIOException(resource + ": " + e.getMessage(), e);
    }
  }

  /**
   * The file names listed in a fixture directory's {@code index.txt}, one per line, such as
   * {@code index("/torch-fixtures/")}.
   *
   * @throws UncheckedIOException if the index is missing or unreadable
   */
  public static java.util.List<String> index(String directory) {
    String resource = directory + "index.txt";
    try (InputStream in = Fixtures.class.getResourceAsStream(resource)) {
      if (in == null) {
        throw new IOException("class-path resource not found: " + resource);
      }
      return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).lines()
          .map(String::trim).filter(l -> !l.isEmpty()).collect(java.util.stream.Collectors.toList());
    } catch (IOException e) {
      throw new UncheckedIOException(resource + ": " + e.getMessage(), e);
    }
  }
}
