package io.github.batchnorm4j.examples.sync;

import io.github.batchnorm4j.BatchNorm2d;
import io.github.batchnorm4j.InProcessExchange;
import io.github.batchnorm4j.Shape;
import io.github.batchnorm4j.SyncBatchNorm;
import io.github.batchnorm4j.Tensor;
import io.github.batchnorm4j.examples.common.Flags;
import io.github.batchnorm4j.examples.data.Mnist;
import io.github.batchnorm4j.examples.nn.Conv2d;
import java.io.PrintStream;
import java.util.Arrays;
import java.util.Locale;
import java.util.Random;
import java.util.SplittableRandom;

/**
 * Data-parallel batch norm on threads: a global batch of MNIST images, passed through the demo
 * network's first convolution, is split over k workers. Each worker either runs its own
 * {@link BatchNorm2d} on its share (plain data parallelism: statistics of the share only) or a
 * {@link SyncBatchNorm} over an {@link InProcessExchange} (statistics of the global batch). Both are
 * compared with one BatchNorm2d on the whole batch.
 *
 * <pre>
 * ./mvnw -q test-compile exec:java@sync-workers
 * ./mvnw -q test-compile exec:java@sync-workers -Dexec.args="--split 3,0,1,4"
 * </pre>
 */
public final class SyncBatchNormWorkers {

  private SyncBatchNormWorkers() {}

  static Flags flags() {
    return new Flags("./mvnw -q test-compile exec:java@sync-workers -Dexec.args=\"...\"",
        "Splits a batch over worker threads: per-worker batch norm vs synchronized batch norm.")
        .option("split", "2,2,2,2", "images per worker (0 allowed), comma-separated")
        .option("seed", "1", "seed of the convolution's weights and of the gradient");
  }

  /** The largest differences from one BatchNorm2d on the whole batch. */
  record Result(double perWorkerY, double syncY, double syncDx, double syncDgamma,
      double perWorkerRunningVar, double syncRunningVar) {}

  public static void main(String[] args) {
    try {
      run(args, System.out);
    } catch (Flags.UsageException e) {
      System.err.println("error: " + e.getMessage() + " (run with --help for the options)");
      System.exit(2);
    }
  }

  static Result run(String[] args, PrintStream out) {
    Flags flags = flags();
    if (!flags.parse(args, out)) {
      return null;
    }
    int[] split = Arrays.stream(flags.string("split").split(",")).map(String::trim)
        .mapToInt(Integer::parseInt).toArray();
    int k = split.length;
    int total = Arrays.stream(split).sum();
    if (k < 1 || total < 2 || Arrays.stream(split).anyMatch(n -> n < 0)) {
      throw new Flags.UsageException("--split needs sizes >= 0 adding up to at least 2");
    }
    long seed = flags.longValue("seed");
    Mnist.Split images = Mnist.load().train().first(total);
    Conv2d conv1 = new Conv2d(1, 8, 3, 1, true, new Random(seed));
    Tensor x = conv1.forward(Tensor.of(Shape.of(total, 1, 28, 28), images.images()));
    int perImage = 8 * 28 * 28;
    SplittableRandom rnd = new SplittableRandom(seed);
    float[] dy = new float[x.data().length];
    for (int i = 0; i < dy.length; i++) {
      dy[i] = (float) rnd.nextGaussian();
    }

    BatchNorm2d whole = new BatchNorm2d(8);
    float[] yWhole = whole.forward(x).data();
    float[] dxWhole = whole.backward(Tensor.of(x.shape(), dy)).data();

    int[] start = new int[k + 1];
    for (int r = 0; r < k; r++) {
      start[r + 1] = start[r] + split[r];
    }
    Tensor[] xs = new Tensor[k];
    Tensor[] dys = new Tensor[k];
    for (int r = 0; r < k; r++) {
      Shape shape = Shape.of(split[r], 8, 28, 28);
      xs[r] = Tensor.of(shape, Arrays.copyOfRange(x.data(), start[r] * perImage,
          start[r + 1] * perImage));
      dys[r] = Tensor.of(shape, Arrays.copyOfRange(dy, start[r] * perImage,
          start[r + 1] * perImage));
    }

    // Plain data parallelism: each worker's own statistics. (A share of one image or none cannot
    // train alone: such workers are skipped here, and the synchronized run shows they need not be.)
    double perWorkerY = 0;
    double perWorkerRunningVar = 0;
    for (int r = 0; r < k; r++) {
      if (split[r] < 2) {
        continue;
      }
      BatchNorm2d own = new BatchNorm2d(8);
      perWorkerY = Math.max(perWorkerY, maxDiff(own.forward(xs[r]).data(), yWhole,
          start[r] * perImage));
      perWorkerRunningVar = Math.max(perWorkerRunningVar,
          maxDiff(own.runningVar(), whole.runningVar(), 0));
    }

    // Synchronized: one thread per worker, one exchange group.
    InProcessExchange group = InProcessExchange.create(k);
    BatchNorm2d[] replicas = new BatchNorm2d[k];
    float[][] ys = new float[k][];
    float[][] dxs = new float[k][];
    Thread[] threads = new Thread[k];
    RuntimeException[] failures = new RuntimeException[k];
    for (int r = 0; r < k; r++) {
      int rank = r;
      replicas[r] = new BatchNorm2d(8);
      threads[r] = new Thread(() -> {
        try {
          SyncBatchNorm bn = new SyncBatchNorm(replicas[rank], group.worker(rank));
          ys[rank] = bn.forward(xs[rank]).data();
          dxs[rank] = bn.backward(dys[rank]).data();
        } catch (RuntimeException e) {
          failures[rank] = e;
        }
      }, "worker-" + r);
      threads[r].start();
    }
    for (Thread t : threads) {
      try {
        t.join();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
    }
    for (RuntimeException e : failures) {
      if (e != null) {
        throw e;
      }
    }
    double syncY = 0;
    double syncDx = 0;
    double syncRunningVar = 0;
    double[] dgamma = new double[8];
    for (int r = 0; r < k; r++) {
      syncY = Math.max(syncY, maxDiff(ys[r], yWhole, start[r] * perImage));
      syncDx = Math.max(syncDx, maxDiff(dxs[r], dxWhole, start[r] * perImage));
      syncRunningVar = Math.max(syncRunningVar,
          maxDiff(replicas[r].runningVar(), whole.runningVar(), 0));
      for (int c = 0; c < 8; c++) {
        dgamma[c] += replicas[r].weightGrad()[c];
      }
    }
    double syncDgamma = 0;
    for (int c = 0; c < 8; c++) {
      syncDgamma = Math.max(syncDgamma, Math.abs(dgamma[c] - whole.weightGrad()[c]));
    }

    out.printf(Locale.ROOT, "%d MNIST images through conv1 (8 channels, 28 x 28), split over %d"
        + " workers as %s.%n", total, k, flags.string("split"));
    out.println("Largest difference from one BatchNorm2d on all the images:");
    out.printf(Locale.ROOT, "%-34s %12s %12s %12s %14s%n", "", "y", "dx", "dgamma",
        "running var");
    out.printf(Locale.ROOT, "%-34s %12.3g %12s %12s %14.3g%n",
        "per-worker BatchNorm2d", perWorkerY, "-", "-", perWorkerRunningVar);
    out.printf(Locale.ROOT, "%-34s %12.3g %12.3g %12.3g %14.3g%n",
        "SyncBatchNorm (InProcessExchange)", syncY, syncDx, syncDgamma, syncRunningVar);
    out.printf(Locale.ROOT, "(dgamma: the sum of the workers' shares, as the gradient all-reduce"
        + " would add them; |y| is about 1, |dgamma| about %.0f.)%n", maxAbs(whole.weightGrad()));
    return new Result(perWorkerY, syncY, syncDx, syncDgamma, perWorkerRunningVar, syncRunningVar);
  }

  private static double maxDiff(float[] part, float[] whole, int offset) {
    double worst = 0;
    for (int i = 0; i < part.length; i++) {
      worst = Math.max(worst, Math.abs(part[i] - whole[offset + i]));
    }
    return worst;
  }

  private static double maxAbs(float[] a) {
    double m = 0;
    for (float v : a) {
      m = Math.max(m, Math.abs(v));
    }
    return m;
  }
}
