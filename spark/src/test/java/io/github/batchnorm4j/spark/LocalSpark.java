package io.github.batchnorm4j.spark;

import java.nio.file.Path;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;

/**
 * One local-mode Spark context for the tests of this JVM: loopback only (the pom also sets
 * SPARK_LOCAL_IP=127.0.0.1), no UI, scratch space under target/. Spark allows one context per
 * JVM, so the test classes share it; it stops when the JVM exits.
 */
final class LocalSpark {

  private static JavaSparkContext context;

  private LocalSpark() {}

  static synchronized JavaSparkContext context() {
    if (context == null) {
      SparkConf conf = new SparkConf()
          .setMaster("local[2]")
          .setAppName("batchnorm4j-spark-tests")
          .set("spark.ui.enabled", "false")
          .set("spark.driver.host", "127.0.0.1")
          .set("spark.driver.bindAddress", "127.0.0.1")
          .set("spark.local.dir", Path.of("target", "spark-local").toAbsolutePath().toString())
          .set("spark.ui.showConsoleProgress", "false");
      context = new JavaSparkContext(conf);
      JavaSparkContext created = context;
      Runtime.getRuntime().addShutdownHook(new Thread(created::stop));
    }
    return context;
  }
}
