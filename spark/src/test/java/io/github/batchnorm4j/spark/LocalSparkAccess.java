package io.github.batchnorm4j.spark;

import org.apache.spark.api.java.JavaSparkContext;

/** The shared test context, for test classes in other packages. */
public final class LocalSparkAccess {

  private LocalSparkAccess() {}

  public static JavaSparkContext context() {
    return LocalSpark.context();
  }
}
