package io.github.batchnorm4j.spark.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.batchnorm4j.examples.common.Flags;
import io.github.batchnorm4j.spark.LocalSparkAccess;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The example end to end on a small subset: it trains, runs the Spark job and prints its table. */
class PopulationStatisticsExampleTest {

  @Test
  void printsTheTable() {
    Flags flags = PopulationStatisticsExample.flags();
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
    assertThat(flags.parse(new String[] {"--train-images", "400", "--test-images", "200",
        "--bn-momentum", "0.9", "--partitions", "3", "--stats-batch", "50"}, out)).isTrue();
    List<PopulationStatisticsExample.Row> rows =
        PopulationStatisticsExample.run(LocalSparkAccess.context(), flags, out);
    assertThat(rows).hasSize(1);
    assertThat(rows.get(0).before()).isBetween(0.0, 1.0);
    assertThat(rows.get(0).after()).isBetween(0.0, 1.0);
    String text = bytes.toString(StandardCharsets.UTF_8);
    assertThat(text).contains("population statistics over 8 RDD batches in 3 partitions")
        .contains("BN momentum   eval accuracy, running stats   population stats   Spark job");
  }
}
