package io.github.batchnorm4j.examples.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class MnistTest {

  @Test
  void shippedFilesMatchTheChecksumsInTheirReadme() throws IOException, NoSuchAlgorithmException {
    String readme = new String(resource("README.md").readAllBytes(), StandardCharsets.UTF_8);
    Matcher m = Pattern.compile("- (\\S+\\.gz) ([0-9a-f]{64})").matcher(readme);
    int checked = 0;
    while (m.find()) {
      byte[] data;
      try (InputStream in = resource(m.group(1))) {
        data = in.readAllBytes();
      }
      String actual = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
      assertThat(actual).as("sha256 of %s", m.group(1)).isEqualTo(m.group(2));
      checked++;
    }
    assertThat(checked).isEqualTo(2);
    assertThat(readme).contains("Creative Commons Attribution-Share Alike 3.0");
  }

  @Test
  void splitsSizesLabelsAndStandardisation() {
    Mnist mnist = Mnist.load();
    assertThat(mnist.train().count()).isEqualTo(8000);
    assertThat(mnist.test().count()).isEqualTo(2000);
    assertThat(mnist.train().images()).hasSize(8000 * 784);
    int[] perClass = new int[10];
    for (int label : mnist.train().labels()) {
      assertThat(label).isBetween(0, 9);
      perClass[label]++;
    }
    for (int count : perClass) {
      assertThat(count).as("every digit is present in the training set").isGreaterThan(500);
    }
    // MNIST is mostly background: the mean pixel is well below 0.5.
    assertThat(mnist.pixelMean()).isBetween(0.05, 0.25);
    double sum = 0;
    double sumSquares = 0;
    for (float v : mnist.train().images()) {
      sum += v;
      sumSquares += v * v;
    }
    int n = mnist.train().images().length;
    assertThat(sum / n).isCloseTo(0, within(1e-3));
    assertThat(Math.sqrt(sumSquares / n)).isCloseTo(1, within(1e-3));
  }

  private static InputStream resource(String name) {
    InputStream in = Mnist.class.getResourceAsStream("/mnist-10k/" + name);
    assertThat(in).as("/mnist-10k/%s on the class path", name).isNotNull();
    return in;
  }
}
