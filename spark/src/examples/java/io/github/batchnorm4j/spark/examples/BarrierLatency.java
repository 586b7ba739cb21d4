package io.github.batchnorm4j.spark.examples;

import java.io.Serializable;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import scala.Function1;
import scala.jdk.javaapi.CollectionConverters;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;

/**
 * Measures the latency of Spark's barrier-mode all-gather ({@code BarrierTaskContext.allGather}),
 * the collective Spark itself offers between the tasks of one stage, in local mode: why
 * docs/distributed.md does not use it for synchronized batch norm's per-step exchange.
 *
 * <pre>
 * ./mvnw -q -f spark/pom.xml test-compile exec:java@barrier-latency -Dexec.args="20"
 * </pre>
 */
public final class BarrierLatency {

  private BarrierLatency() {}

  public static void main(String[] args) {
    int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 20;
    int tasks = 2;
    SparkConf conf = new SparkConf().setAppName("barrier latency").setMaster("local[" + tasks + "]")
        .set("spark.ui.enabled", "false").set("spark.ui.showConsoleProgress", "false")
        .set("spark.driver.host", "127.0.0.1").set("spark.driver.bindAddress", "127.0.0.1")
        .set("spark.local.dir", Path.of("target", "spark-local").toAbsolutePath().toString());
    try (JavaSparkContext sc = new JavaSparkContext(conf)) {
      sc.setLogLevel("WARN");
      List<Integer> ids = new ArrayList<>();
      for (int i = 0; i < tasks; i++) {
        ids.add(i);
      }
      JavaRDD<Integer> rdd = sc.parallelize(ids, tasks);
      // Barrier mode has no Java API: the Scala one, with a serializable lambda and a ClassTag.
      ClassTag<double[]> tag = ClassTag$.MODULE$.apply(double[].class);
      Function1<scala.collection.Iterator<Integer>, scala.collection.Iterator<double[]>> body =
          (Function1<scala.collection.Iterator<Integer>, scala.collection.Iterator<double[]>>
              & Serializable) it -> {
            BarrierTaskContext ctx = BarrierTaskContext.get();
            double[] millis = new double[rounds];
            for (int r = 0; r < rounds; r++) {
              long start = System.nanoTime();
              ctx.allGather(Integer.toString(ctx.partitionId()));
              millis[r] = (System.nanoTime() - start) / 1e6;
            }
            return CollectionConverters.asScala(List.of(millis).iterator());
          };
      List<double[]> perTask = JavaRDD.fromRDD(rdd.rdd().barrier().mapPartitions(body, false, tag),
          tag).collect();
      double[] all = perTask.stream().flatMapToDouble(Arrays::stream).sorted().toArray();
      System.out.printf(Locale.ROOT, "Spark %s, %d barrier tasks, %d allGather calls each: median"
              + " %.0f ms, min %.0f ms, max %.0f ms%n", sc.version(), tasks, rounds,
          all[all.length / 2], all[0], all[all.length - 1]);
    }
  }
}
