package io.github.batchnorm4j.spark.examples;

import io.github.batchnorm4j.Shape;
import io.github.batchnorm4j.examples.common.Flags;
import io.github.batchnorm4j.examples.common.Trainer;
import io.github.batchnorm4j.examples.common.Trainer.Config;
import io.github.batchnorm4j.examples.data.Mnist;
import io.github.batchnorm4j.examples.nn.SmallCnn;
import io.github.batchnorm4j.spark.InputBatch;
import io.github.batchnorm4j.spark.PopulationStatistics;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;

/**
 * Trains the demo's CNN with small batches and a high batch-norm momentum, then recomputes every
 * batch-norm layer's statistics over the whole MNIST training subset as a Spark job
 * ({@link PopulationStatistics}) and compares eval-mode test accuracy before and after.
 *
 * <p>With momentum f, the running statistics are an exponential average whose newest batch weighs
 * f: with f = 0.9 and 8 images per batch they describe little more than the last batch, a noisy
 * estimate of what the network sees at inference. The population statistics are exact over all
 * the training images.
 *
 * <pre>
 * ./mvnw -q install -DskipTests -Dinvoker.skip &amp;&amp; ./mvnw -q -f spark/pom.xml test-compile exec:java@population-statistics
 * </pre>
 * On a cluster, with the jars of {@code ./mvnw -f spark/pom.xml package}: see docs/distributed.md.
 */
public final class PopulationStatisticsExample {

  private PopulationStatisticsExample() {}

  static Flags flags() {
    return new Flags(
        "./mvnw -q -f spark/pom.xml test-compile exec:java@population-statistics -Dexec.args=\"...\"",
        "Trains the demo CNN with small batches, then recomputes its batch-norm statistics with Spark.")
        .option("master", "local[2]", "Spark master when not set by spark-submit")
        .option("partitions", "4", "partitions of the training set in the Spark job")
        .option("batch-size", "8", "images per training step (and per batch-norm batch)")
        .option("bn-momentum", "0.1,0.5,0.9", "batch-norm momenta to train with, one run each")
        .option("epochs", "1", "passes over the training images")
        .option("lr", "0.01", "learning rate of SGD")
        .option("momentum", "0.9", "SGD momentum")
        .option("seed", "1", "seed of the initial weights and of the batch order")
        .option("train-images", "8000", "how many of the 8,000 training images to use")
        .option("test-images", "2000", "how many of the 2,000 test images to evaluate on")
        .option("stats-batch", "100", "images per element of the Spark RDD");
  }

  /** One row of the table. */
  record Row(double bnMomentum, double before, double after, double trainSeconds,
      double jobSeconds) {}

  public static void main(String[] args) {
    Flags flags = flags();
    if (!flags.parse(args, System.out)) {
      return;
    }
    SparkConf conf = new SparkConf().setAppName("batchnorm4j population statistics")
        .set("spark.ui.enabled", "false").set("spark.ui.showConsoleProgress", "false");
    if (!conf.contains("spark.master")) { // spark-submit's --master wins
      conf.setMaster(flags.string("master"));
    }
    if (conf.get("spark.master").startsWith("local")) {
      conf.set("spark.driver.host", "127.0.0.1").set("spark.driver.bindAddress", "127.0.0.1")
          .set("spark.local.dir", Path.of("target", "spark-local").toAbsolutePath().toString());
    }
    long start = System.nanoTime();
    try (JavaSparkContext sc = new JavaSparkContext(conf)) {
      sc.setLogLevel("WARN");
      System.out.printf(Locale.ROOT, "Spark %s, master %s, started in %.1f s%n", sc.version(),
          sc.master(), (System.nanoTime() - start) / 1e9);
      run(sc, flags, System.out);
    }
  }

  /** Runs the example on an existing context; returns the table's rows. */
  static List<Row> run(JavaSparkContext sc, Flags flags, PrintStream out) {
    int partitions = flags.integer("partitions", 1);
    Config config = new Config(flags.integer("epochs", 1), flags.integer("batch-size", 2),
        flags.number("lr"), flags.number("momentum"), flags.longValue("seed"));
    double[] momenta = Arrays.stream(flags.string("bn-momentum").split(","))
        .mapToDouble(Double::parseDouble).toArray();
    Mnist mnist = Mnist.load();
    Mnist.Split train = mnist.train().first(
        Math.min(flags.integer("train-images", 2), Mnist.TRAIN_COUNT));
    Mnist.Split test = mnist.test().first(
        Math.min(flags.integer("test-images", 1), Mnist.TEST_COUNT));
    int statsBatch = flags.integer("stats-batch", 1);

    // The training set as an RDD of batches, cached: the job reads it once per batch-norm layer.
    List<InputBatch> batches = new ArrayList<>();
    for (int from = 0; from < train.count(); from += statsBatch) {
      int to = Math.min(train.count(), from + statsBatch);
      batches.add(InputBatch.of(Shape.of(to - from, 1, 28, 28), Arrays.copyOfRange(
          train.images(), from * Mnist.IMAGE_SIZE, to * Mnist.IMAGE_SIZE)));
    }
    JavaRDD<InputBatch> rdd = sc.parallelize(batches, partitions).cache();
    rdd.count();

    out.printf(Locale.ROOT, "MNIST: %d training, %d test images; %d epoch(s) of batches of %d, SGD"
            + " lr %s momentum %s; population statistics over %d RDD batches in %d partitions.%n",
        train.count(), test.count(), config.epochs(), config.batchSize(),
        config.learningRate(), config.momentum(), batches.size(), partitions);
    List<Row> rows = new ArrayList<>();
    for (double m : momenta) {
      SmallCnn net = SmallCnn.createWithBatchNormMomentum(config.seed(), m);
      Trainer.History history = Trainer.train("BN momentum " + m, net, train, test, config, null,
          null);
      double before = Trainer.evaluate(net, test, 100).accuracy();
      List<float[]> runningMeans = new ArrayList<>();
      List<float[]> runningVars = new ArrayList<>();
      for (var bn : net.batchNorms()) {
        runningMeans.add(bn.runningMean().clone());
        runningVars.add(bn.runningVar().clone());
      }
      long start = System.nanoTime();
      PopulationStatistics.compute(rdd, new SmallCnnNetwork(net),
          SmallCnnNetwork.factory(net, config.seed(), m));
      double jobSeconds = (System.nanoTime() - start) / 1e9;
      // How far the running statistics were from the population's, per layer: the running
      // variance as a multiple of the population variance, and the running mean's offset in
      // population standard deviations (both averaged over the channels).
      StringBuilder ratios = new StringBuilder();
      StringBuilder offsets = new StringBuilder();
      for (int i = 0; i < runningVars.size(); i++) {
        float[] popMean = net.batchNorms().get(i).runningMean();
        float[] popVar = net.batchNorms().get(i).runningVar();
        double ratio = 0;
        double offset = 0;
        for (int c = 0; c < popVar.length; c++) {
          ratio += runningVars.get(i)[c] / popVar[c] / popVar.length;
          offset += Math.abs(runningMeans.get(i)[c] - popMean[c]) / Math.sqrt(popVar[c])
              / popVar.length;
        }
        ratios.append(String.format(Locale.ROOT, " %.3f", ratio));
        offsets.append(String.format(Locale.ROOT, " %.3f", offset));
      }
      out.printf(Locale.ROOT, "BN momentum %.2f: running variance / population variance, per"
          + " layer:%s; |running mean - population mean| / population std:%s%n", m, ratios,
          offsets);
      double after = Trainer.evaluate(net, test, 100).accuracy();
      rows.add(new Row(m, before, after, history.seconds(), jobSeconds));
      out.printf(Locale.ROOT, "BN momentum %.2f: trained in %.1f s; eval accuracy %.2f%% with the"
              + " running statistics, %.2f%% with the population statistics (Spark job %.1f s)%n",
          m, history.seconds(), 100 * before, 100 * after, jobSeconds);
    }
    out.println();
    out.println("BN momentum   eval accuracy, running stats   population stats   Spark job");
    for (Row r : rows) {
      out.printf(Locale.ROOT, "%-13.2f %28.2f%% %17.2f%% %10.1f s%n", r.bnMomentum(),
          100 * r.before(), 100 * r.after(), r.jobSeconds());
    }
    rdd.unpersist();
    return rows;
  }
}
