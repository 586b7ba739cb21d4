package io.github.batchnorm4j.examples.batchsize;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.batchnorm4j.examples.ExampleTestSupport;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BatchSizeEstimatesTest {

  @TempDir
  Path dir;

  @Test
  void errorsShrinkLikeOneOverSquareRootOfTheBatch() throws Exception {
    ExampleTestSupport.Captured captured = new ExampleTestSupport.Captured();
    BatchSizeEstimates.Row[] rows = BatchSizeEstimates.run(
        new String[] {"--trials", "200", "--images", "3000", "--out", dir.toString()},
        captured.out);
    BatchSizeEstimates.Row b4 = find(rows, 4);
    BatchSizeEstimates.Row b256 = find(rows, 256);
    // 64 times more images: sampling theory predicts 8 times smaller errors.
    assertThat(b256.meanError()).isBetween(b4.meanError() / 12, b4.meanError() / 5);
    assertThat(b256.varianceError()).isBetween(b4.varianceError() / 12, b4.varianceError() / 4);
    for (BatchSizeEstimates.Row r : rows) {
      if (r.batchSize() >= 4) {
        assertThat(r.meanError()).as("batch %d", r.batchSize())
            .isBetween(r.predictedMeanError() / 1.5, r.predictedMeanError() * 1.5);
      }
      // Correlated pixels: far worse than if every value were an independent sample.
      assertThat(r.meanError()).isGreaterThan(1.5 * r.naiveMeanError());
    }
    ExampleTestSupport.assertPng(dir.resolve("batch-size.png"));
  }

  private static BatchSizeEstimates.Row find(BatchSizeEstimates.Row[] rows, int batch) {
    for (BatchSizeEstimates.Row r : rows) {
      if (r.batchSize() == batch) {
        return r;
      }
    }
    throw new AssertionError("no row for batch " + batch);
  }
}
