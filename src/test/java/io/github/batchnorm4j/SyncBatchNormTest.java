package io.github.batchnorm4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.batchnorm4j.testing.ReferenceBatchNorm;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Synchronized batch norm over k in-process workers against one module on the concatenated batch
 * (the same module class, same hyperparameters, same parameters), step by step: y, dx, dgamma and
 * dbeta (summed over the workers, as the all-reduce of data-parallel training would), the running
 * statistics and numBatchesTracked, then an eval forward; and the global batch statistics against an
 * independent float64 computation.
 *
 * <p>Relative error of a tensor: max over elements of |a - b| / max(|b|, mean |b|), i.e. relative
 * to each element, floored at the tensor's mean magnitude so that values that cancel to almost
 * zero do not divide by zero. dx is measured against the size of its terms gamma * invStd * dy
 * (with two values per channel dx is 0 in exact arithmetic), and the summed parameter gradients
 * against the size of the workers' float32 shares (which may cancel). The bound is 1e-6.
 */
class SyncBatchNormTest {

  static final double TOLERANCE = 1e-6;

  /**
   * y's bound: without the Vector API, y is formed in float, within about one ulp of the exact
   * value on either side (docs/numerics.md), so two results differ by up to about four ulps of the
   * largest |y|, which can be five times the mean magnitude the errors are relative to.
   */
  static final double Y_TOLERANCE = 3e-6;

  // Daemon threads, shared by the tests and the properties; idle ones end after 60 s.
  private static final ExecutorService POOL = Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r, "sync-bn-worker");
    t.setDaemon(true);
    return t;
  });

  /** Runs body(rank) on k threads at once and returns the results in rank order. */
  static <T> List<T> onWorkers(int k, IntFunction<T> body) {
    List<CompletableFuture<T>> futures = new ArrayList<>();
    for (int r = 0; r < k; r++) {
      int rank = r;
      futures.add(CompletableFuture.supplyAsync(() -> body.apply(rank), POOL));
    }
    List<T> results = new ArrayList<>();
    for (CompletableFuture<T> f : futures) {
      results.add(f.join());
    }
    return results;
  }

  /**
   * One training step of every worker at once, worker r on rows [starts[r], starts[r + 1]) of the
   * concatenated batch: forward of x, backward of dy.
   *
   * @param dims the shape, dims[0] ignored (each worker's batch size replaces it)
   * @return the concatenated y and dx
   */
  static float[][] forwardBackwardOnWorkers(List<SyncBatchNorm> sync, int[] dims, int[] starts,
      float[] x, float[] dy) {
    int perSample = 1;
    for (int i = 1; i < dims.length; i++) {
      perSample *= dims[i];
    }
    int size = perSample;
    List<Tensor[]> local = onWorkers(sync.size(), r -> {
      Shape shape = Shape.of(withBatch(dims, starts[r + 1] - starts[r]));
      Tensor yr = sync.get(r).forward(Tensor.of(shape, rows(x, starts[r], starts[r + 1], size)));
      Tensor dxr = sync.get(r).backward(Tensor.of(shape,
          rows(dy, starts[r], starts[r + 1], size)));
      return new Tensor[] {yr, dxr};
    });
    float[] y = new float[x.length];
    float[] dx = new float[x.length];
    for (int r = 0; r < sync.size(); r++) {
      System.arraycopy(local.get(r)[0].data(), 0, y, starts[r] * size, local.get(r)[0].data().length);
      System.arraycopy(local.get(r)[1].data(), 0, dx, starts[r] * size, local.get(r)[1].data().length);
    }
    return new float[][] {y, dx};
  }

  static float[] random(SplittableRandom rnd, int n, double offset, double scale) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = (float) (offset + scale * rnd.nextGaussian());
    }
    return a;
  }

  static double relativeError(float[] actual, double[] expected) {
    return relativeError(actual, expected, 0);
  }

  /** As above, with the floor raised to at least {@code scale}. */
  static double relativeError(float[] actual, double[] expected, double scale) {
    assertThat(actual).hasSize(expected.length);
    double meanAbs = 0;
    for (double e : expected) {
      meanAbs += Math.abs(e);
    }
    meanAbs = Math.max(scale, meanAbs / Math.max(1, expected.length));
    double worst = 0;
    for (int i = 0; i < actual.length; i++) {
      double floor = Math.max(Math.abs(expected[i]), meanAbs);
      double err = floor == 0 ? Math.abs(actual[i]) : Math.abs(actual[i] - expected[i]) / floor;
      worst = Math.max(worst, err); // a NaN anywhere makes it NaN (Math.max keeps a NaN)
    }
    return worst;
  }

  /** The sum of the workers' shares (double) against the single module's float gradient. */
  static double relativeError(double[] sum, float[] expected, double scale) {
    double worst = 0;
    double[] exp = ReferenceBatchNorm.toDouble(expected);
    for (int i = 0; i < sum.length; i++) {
      double floor = Math.max(Math.abs(exp[i]), scale);
      double err = floor == 0 ? Math.abs(sum[i]) : Math.abs(sum[i] - exp[i]) / floor;
      worst = Math.max(worst, err); // a NaN anywhere makes it NaN
    }
    return worst;
  }

  static double relativeError(float[] actual, float[] expected) {
    return relativeError(actual, ReferenceBatchNorm.toDouble(expected));
  }

  /** Rows [from, to) of the sample axis of (N, C, S) data. */
  static float[] rows(float[] data, int from, int to, int perSample) {
    return Arrays.copyOfRange(data, from * perSample, to * perSample);
  }

  static BatchNorm build(int rank, int channels, double momentum, boolean affine,
      boolean cumulative) {
    var builder = switch (rank) {
      case 2, 3 -> BatchNorm1d.builder(channels);
      case 4 -> BatchNorm2d.builder(channels);
      default -> BatchNorm3d.builder(channels);
    };
    builder.affine(affine);
    if (cumulative) {
      builder.cumulativeMovingAverage();
    } else {
      builder.momentum(momentum);
    }
    return builder.build();
  }

  static int[] withBatch(int[] sampleShape, int n) {
    int[] dims = sampleShape.clone();
    dims[0] = n;
    return dims;
  }

  /** The worst relative error seen per quantity, for the report. */
  record Errors(double y, double dx, double dgamma, double dbeta, double running, double eval) {
    /** {@return the largest error as a fraction of its bound: below 1 passes} */
    double worst() {
      double others = Math.max(Math.max(dx, Math.max(dgamma, dbeta)), Math.max(running, eval));
      return Math.max(y / Y_TOLERANCE, others / TOLERANCE);
    }
  }

  /**
   * k workers with the given local batch sizes, 3 training steps (forward, backward) and one eval
   * forward, against one module on the concatenated batch.
   *
   * @param dims the shape with dims[0] ignored (replaced by each worker's batch size)
   */
  static Errors compare(int[] localBatches, int[] dims, double offset, long seed, double momentum,
      boolean affine, boolean cumulative) {
    int k = localBatches.length;
    int channels = dims[1];
    int perSample = 1;
    for (int i = 1; i < dims.length; i++) {
      perSample *= dims[i];
    }
    int total = Arrays.stream(localBatches).sum();
    int[] starts = new int[k + 1];
    for (int r = 0; r < k; r++) {
      starts[r + 1] = starts[r] + localBatches[r];
    }
    SplittableRandom rnd = new SplittableRandom(seed);
    BatchNorm single = build(dims.length, channels, momentum, affine, cumulative);
    List<BatchNorm> replicas = new ArrayList<>();
    InProcessExchange group = InProcessExchange.create(k, Duration.ofSeconds(30));
    List<SyncBatchNorm> sync = new ArrayList<>();
    float[] gamma = random(rnd, channels, 1, 0.3);
    float[] beta = random(rnd, channels, 0, 0.3);
    if (affine) {
      System.arraycopy(gamma, 0, single.weight(), 0, channels);
      System.arraycopy(beta, 0, single.bias(), 0, channels);
    }
    for (int r = 0; r < k; r++) {
      BatchNorm m = build(dims.length, channels, momentum, affine, cumulative);
      if (affine) {
        System.arraycopy(gamma, 0, m.weight(), 0, channels);
        System.arraycopy(beta, 0, m.bias(), 0, channels);
      }
      replicas.add(m);
      sync.add(new SyncBatchNorm(m, group.worker(r)));
    }
    double ey = 0, edx = 0, eg = 0, eb = 0, er = 0, ee = 0;
    for (int step = 0; step < 4; step++) {
      boolean eval = step == 3;
      if (eval) {
        single.eval();
        replicas.forEach(BatchNorm::eval);
      }
      // A training loop zeroes the gradients each step. (Accumulated over steps, float rounding
      // of one step's gradient, 1 ulp of it, can be large next to a sum that cancels.)
      single.zeroGrad();
      replicas.forEach(BatchNorm::zeroGrad);
      float[] x = random(rnd, total * perSample, offset, 1 + 0.5 * step);
      float[] dy = random(rnd, total * perSample, 0.1, 1);
      Tensor xs = Tensor.of(Shape.of(withBatch(dims, total)), x);
      Tensor ys = single.forward(xs);
      Tensor dxs = single.backward(Tensor.of(xs.shape(), dy));
      float[][] yAndDx = forwardBackwardOnWorkers(sync, dims, starts, x, dy);
      float[] y = yAndDx[0];
      float[] dx = yAndDx[1];
      if (eval) {
        ee = Math.max(ee, relativeError(y, ys.data()));
      } else {
        ey = Math.max(ey, relativeError(y, ys.data()));
      }
      edx = Math.max(edx, relativeError(dx, ReferenceBatchNorm.toDouble(dxs.data()),
          termScale(x, dy, total, channels, perSample / channels, eval ? null : gamma, affine)));
      if (affine) {
        double[] dgamma = new double[channels];
        double[] dbeta = new double[channels];
        double gammaShares = 0;
        double betaShares = 0;
        for (BatchNorm m : replicas) {
          for (int c = 0; c < channels; c++) {
            dgamma[c] += m.weightGrad()[c];
            dbeta[c] += m.biasGrad()[c];
            gammaShares += Math.abs(m.weightGrad()[c]) / channels;
            betaShares += Math.abs(m.biasGrad()[c]) / channels;
          }
        }
        // The all-reduced sum of float32 shares: its rounding is relative to the shares, which
        // may cancel (as with PyTorch DDP's float32 gradients), so the floor is their size.
        eg = Math.max(eg, relativeError(dgamma, single.weightGrad(), gammaShares));
        eb = Math.max(eb, relativeError(dbeta, single.biasGrad(), betaShares));
      }
      for (BatchNorm m : replicas) {
        er = Math.max(er, relativeError(m.runningMean(), single.runningMean()));
        er = Math.max(er, relativeError(m.runningVar(), single.runningVar()));
        assertThat(m.numBatchesTracked()).isEqualTo(single.numBatchesTracked());
        // Every replica holds the same running statistics, bit for bit.
        assertThat(m.runningMean()).containsExactly(replicas.get(0).runningMean());
        assertThat(m.runningVar()).containsExactly(replicas.get(0).runningVar());
      }
    }
    return new Errors(ey, edx, eg, eb, er, ee);
  }

  /**
   * The mean size of gamma * invStd * dy, the terms dx is made of. dx itself can cancel to nothing
   * (with two values per channel it is exactly 0 in exact arithmetic, so both sides are rounding
   * noise), so its error is measured relative to its terms.
   */
  static double termScale(float[] x, float[] dy, int n, int c, int s, float[] gamma,
      boolean affine) {
    ReferenceBatchNorm.Stats st = ReferenceBatchNorm.stats(ReferenceBatchNorm.toDouble(x), n, c, s);
    double sum = 0;
    for (int b = 0; b < n; b++) {
      for (int ch = 0; ch < c; ch++) {
        double g = affine && gamma != null ? Math.abs(gamma[ch]) : 1;
        double invStd = 1 / Math.sqrt(st.biasedVar()[ch] + 1e-5);
        for (int i = 0; i < s; i++) {
          sum += g * invStd * Math.abs(dy[(b * c + ch) * s + i]);
        }
      }
    }
    return sum / Math.max(1, x.length);
  }

  @ParameterizedTest(name = "k = {0}, batches {1}, offset {2}")
  @CsvSource(delimiter = ';', value = {
      "1; 6; 0", "1; 6; 1e4",
      "2; 3 3; 0", "2; 5 1; 1e4", "2; 0 6; 0", "2; 1 1; 1e4",
      "3; 4 0 2; 0", "3; 4 0 2; 1e4", "3; 1 2 7; 0", "3; 0 0 2; 1e4",
      "4; 2 2 2 2; 0", "4; 3 0 1 5; 1e4", "4; 0 3 0 1; 0", "4; 1 1 1 1; 1e4"})
  void equalsOneModuleOnTheConcatenatedBatch(int k, String batches, double offset) {
    int[] local = Arrays.stream(batches.trim().split(" +")).mapToInt(Integer::parseInt).toArray();
    assertThat(local).hasSize(k);
    double worst = 0;
    for (int[] dims : new int[][] {{0, 3, 5, 7}, {0, 5}, {0, 4, 9}, {0, 2, 3, 2, 4}}) {
      Errors e = compare(local, dims, offset, 17 * k + dims.length, 0.1, true, false);
      worst = Math.max(worst, e.worst());
      assertThat(e.worst()).as("%s for shape %s", e, Arrays.toString(dims)).isLessThan(1.0);
    }
    System.out.printf("SYNC-EQUALITY k=%d batches=[%s] offset=%s worst error / bound %.3g%n", k,
        batches, offset, worst);
  }

  @Test
  void withoutAffineAndWithTheCumulativeAverage() {
    Errors e = compare(new int[] {2, 0, 3}, new int[] {0, 4, 6, 6}, 1e4, 5, 0.1, false, true);
    assertThat(e.worst()).as(e.toString()).isLessThan(1.0);
    e = compare(new int[] {3, 1}, new int[] {0, 4, 6}, 0, 6, 0.9, true, false);
    assertThat(e.worst()).as(e.toString()).isLessThan(1.0);
  }

  /** The comparison fails when a worker's share is given to the wrong rows (the test can fail). */
  @Test
  void theComparisonDetectsAWrongResult() {
    float[] a = {1, 2, 3};
    assertThat(relativeError(a, new double[] {1, 2, 3})).isZero();
    assertThat(relativeError(a, new double[] {1, 2, 3.0001})).isGreaterThan(TOLERANCE);
    assertThat(relativeError(a, new double[] {1, 2, Double.NaN})).isNaN();
    assertThat(relativeError(new float[] {Float.NaN, 2, 3}, new double[] {1, 2, 3})).isNaN();
    assertThat(relativeError(new float[] {1, Float.NaN, 3}, new double[] {1, 2, 3})).isNaN();
    assertThat(relativeError(new double[] {Double.NaN, 2, 3}, a, 1)).isNaN();
    assertThat(relativeError(new double[] {1, 2, 3.01}, a, 1)).isGreaterThan(TOLERANCE);
  }

  /** Global statistics against a two-pass float64 computation over the concatenated data. */
  @Test
  void runningStatisticsAreTheGlobalFloat64Statistics() {
    int[] local = {3, 0, 5};
    int c = 3;
    int s = 10;
    SplittableRandom rnd = new SplittableRandom(11);
    float[] x = random(rnd, 8 * c * s, 1e4, 2);
    double[] ref = ReferenceBatchNorm.toDouble(x);
    ReferenceBatchNorm.Stats stats = ReferenceBatchNorm.stats(ref, 8, c, s);
    InProcessExchange group = InProcessExchange.create(3);
    List<BatchNorm1d> modules = onWorkers(3, r -> {
      BatchNorm1d m = BatchNorm1d.builder(c).momentum(1.0).build();
      int from = r == 0 ? 0 : r == 1 ? 3 : 3;
      new SyncBatchNorm(m, group.worker(r)).forward(
          Tensor.of(Shape.of(local[r], c, s), rows(x, from, from + local[r], c * s)));
      return m;
    });
    for (BatchNorm1d m : modules) {
      assertThat(relativeError(m.runningMean(), stats.mean())).isLessThan(1e-7);
      assertThat(relativeError(m.runningVar(), stats.unbiasedVar())).isLessThan(1e-6);
    }
  }

  /** Merging is by rank: the result has the same bits whatever order the workers arrive in. */
  @Test
  void sameBitsWhateverTheArrivalOrder() {
    int k = 4;
    int[] local = {3, 1, 0, 4};
    int c = 3;
    int s = 6;
    SplittableRandom rnd = new SplittableRandom(3);
    float[] x = random(rnd, 8 * c * s, 1e4, 1);
    float[] dy = random(rnd, 8 * c * s, 0, 1);
    int[][] orders = {{0, 1, 2, 3}, {3, 2, 1, 0}, {2, 0, 3, 1}, {1, 3, 0, 2}};
    String first = null;
    for (int[] order : orders) {
      InProcessExchange group = InProcessExchange.create(k);
      int[] position = new int[k];
      for (int i = 0; i < k; i++) {
        position[order[i]] = i;
      }
      List<String> results = onWorkers(k, r -> {
        StatisticsExchange inner = group.worker(r);
        StatisticsExchange delayed = new StatisticsExchange() {
          @Override
          public int rank() {
            return r;
          }

          @Override
          public int worldSize() {
            return k;
          }

          @Override
          public double[][] allGather(double[] contribution) {
            try {
              Thread.sleep(30L * position[r]); // arrive in the given order
            } catch (InterruptedException e) {
              throw new IllegalStateException(e);
            }
            return inner.allGather(contribution);
          }
        };
        BatchNorm2d m = new BatchNorm2d(c);
        SyncBatchNorm bn = new SyncBatchNorm(m, delayed);
        int from = Arrays.stream(local, 0, r).sum();
        Shape shape = Shape.of(local[r], c, 2, 3);
        Tensor y = bn.forward(Tensor.of(shape, rows(x, from, from + local[r], c * s)));
        Tensor dx = bn.backward(Tensor.of(shape, rows(dy, from, from + local[r], c * s)));
        return Arrays.toString(y.data()) + Arrays.toString(dx.data())
            + Arrays.toString(m.weightGrad()) + Arrays.toString(m.biasGrad())
            + Arrays.toString(m.runningMean()) + Arrays.toString(m.runningVar());
      });
      String all = String.join("|", results);
      if (first == null) {
        first = all;
      } else {
        assertThat(all).as("order %s", Arrays.toString(order)).isEqualTo(first);
      }
    }
    // The order of merging does change the bits, so the test above could fail: merge the same
    // parts in two orders.
    ChannelMoments[] parts = new ChannelMoments[k];
    for (int r = 0, from = 0; r < k; from += local[r], r++) {
      parts[r] = ChannelMoments.ofBatch(
          Tensor.of(Shape.of(local[r], c, s), rows(x, from, from + local[r], c * s)));
    }
    ChannelMoments forward = ChannelMoments.mergeInOrder(List.of(parts));
    ChannelMoments backward = ChannelMoments.mergeInOrder(
        List.of(parts[3], parts[2], parts[1], parts[0]));
    assertThat(forward).isNotEqualTo(backward);
  }

  // ---------------------------------------------------------------------------------------------
  // Bad input: a clear message on every worker, and no state changed anywhere.

  static List<Object> state(BatchNorm m) {
    return List.of(String.valueOf(Arrays.toString(m.weight())), Arrays.toString(m.bias()),
        String.valueOf(Arrays.toString(m.weightGrad())), String.valueOf(Arrays.toString(m.biasGrad())),
        String.valueOf(Arrays.toString(m.runningMean())), String.valueOf(Arrays.toString(m.runningVar())),
        m.numBatchesTracked(), m.isTraining());
  }

  /** Runs body on k workers and returns what each threw (null if nothing). */
  static List<Throwable> failures(int k, IntFunction<Runnable> body) {
    return onWorkers(k, r -> {
      try {
        body.apply(r).run();
        return null;
      } catch (RuntimeException e) {
        return e;
      }
    });
  }

  static Tensor filled(Shape shape, float value) {
    float[] a = new float[shape.numel()];
    Arrays.fill(a, value);
    return Tensor.of(shape, a);
  }

  @Test
  void workersThatDisagreeOnTheChannelCountFailAlikeAndChangeNothing() {
    InProcessExchange group = InProcessExchange.create(2);
    BatchNorm2d[] m = {new BatchNorm2d(3), new BatchNorm2d(4)};
    List<Object> before0 = state(m[0]);
    List<Object> before1 = state(m[1]);
    Tensor[] outs = {filled(Shape.of(2, 3, 2, 2), 7), filled(Shape.of(2, 4, 2, 2), 7)};
    List<Throwable> thrown = failures(2, r -> () -> new SyncBatchNorm(m[r], group.worker(r))
        .forward(filled(outs[r].shape(), r + 1), outs[r]));
    assertThat(thrown.get(0)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("rank 1 has 4 channels but this worker's BatchNorm2d has 3")
        .hasMessageContaining("input shape (2, 3, 2, 2)");
    assertThat(thrown.get(1)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("rank 0 has 3 channels but this worker's BatchNorm2d has 4");
    assertThat(state(m[0])).isEqualTo(before0);
    assertThat(state(m[1])).isEqualTo(before1);
    assertThat(outs[0].data()).containsOnly(7f);
    assertThat(outs[1].data()).containsOnly(7f);
  }

  @Test
  void workersThatDisagreeOnTheConfigurationFailAlike() {
    InProcessExchange group = InProcessExchange.create(2);
    BatchNorm[] m = {new BatchNorm2d(3), BatchNorm2d.builder(3).momentum(0.2).build()};
    List<Object> before0 = state(m[0]);
    List<Throwable> thrown = failures(2, r -> () -> new SyncBatchNorm(m[r], group.worker(r))
        .forward(filled(Shape.of(2, 3, 2, 2), r)));
    assertThat(thrown).allSatisfy(t -> assertThat(t).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("differs in momentum"));
    assertThat(state(m[0])).isEqualTo(before0);
  }

  @Test
  void aWorkerInEvalModeWhileTheOthersTrainMakesTheirExchangeFail() {
    InProcessExchange group = InProcessExchange.create(2, Duration.ofMillis(300));
    BatchNorm2d[] m = {new BatchNorm2d(3), new BatchNorm2d(3)};
    m[1].eval();
    List<Object> before0 = state(m[0]);
    List<Object> before1 = state(m[1]);
    List<Throwable> thrown = failures(2, r -> () -> new SyncBatchNorm(m[r], group.worker(r))
        .forward(filled(Shape.of(2, 3, 2, 2), r)));
    assertThat(thrown.get(0)).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("exchange failed on rank 0 of 2")
        .hasMessageContaining("rank(s) [1] did not arrive");
    assertThat(thrown.get(1)).isNull(); // eval mode exchanges nothing
    assertThat(state(m[0])).isEqualTo(before0);
    assertThat(state(m[1])).isEqualTo(before1);
    assertThat(group.isBroken()).isTrue();
  }

  @Test
  void aRejectedLocalBatchFailsEveryWorkerAndChangesNothing() {
    InProcessExchange group = InProcessExchange.create(3);
    BatchNorm1d[] m = {new BatchNorm1d(2), new BatchNorm1d(2), new BatchNorm1d(2)};
    List<List<Object>> before = Arrays.stream(m).map(SyncBatchNormTest::state).toList();
    List<Throwable> thrown = failures(3, r -> () -> new SyncBatchNorm(m[r], group.worker(r))
        .forward(r == 1 ? filled(Shape.of(4, 3), 1) : filled(Shape.of(4, 2), r)));
    assertThat(thrown.get(1)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("input has 3 channels but BatchNorm1d was built for 2; input shape (4, 3)");
    assertThat(thrown.get(0)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("rank 1 rejected its input");
    assertThat(thrown.get(2)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("rank 1 rejected its input");
    for (int r = 0; r < 3; r++) {
      assertThat(state(m[r])).isEqualTo(before.get(r));
    }
  }

  @Test
  void oneValuePerChannelIsJudgedOnTheGlobalCount() {
    // One value on one worker and none on the other: one value per channel globally, rejected.
    InProcessExchange group = InProcessExchange.create(2);
    BatchNorm2d[] m = {new BatchNorm2d(2), new BatchNorm2d(2)};
    List<Object> before0 = state(m[0]);
    List<Throwable> thrown = failures(2, r -> () -> new SyncBatchNorm(m[r], group.worker(r))
        .forward(filled(Shape.of(r == 0 ? 1 : 0, 2, 1, 1), 3)));
    assertThat(thrown).allSatisfy(t -> assertThat(t).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("expected more than 1 value per channel when training")
        .hasMessageContaining("hold 1 value(s) per channel in all"));
    assertThat(state(m[0])).isEqualTo(before0);
    // One value on each of two workers: two values per channel, accepted, though neither worker
    // alone could train.
    InProcessExchange pair = InProcessExchange.create(2);
    List<Throwable> none = failures(2, r -> () -> new SyncBatchNorm(m[r], pair.worker(r))
        .forward(filled(Shape.of(1, 2, 1, 1), r)));
    assertThat(none).containsOnlyNulls();
    assertThat(m[0].runningMean()).containsExactly(0.05f, 0.05f);
    assertThat(m[1].runningMean()).containsExactly(0.05f, 0.05f);
  }

  @Test
  void aFailingExchangeChangesNothing() {
    BatchNorm3d m = new BatchNorm3d(2);
    List<Object> before = state(m);
    StatisticsExchange broken = new StatisticsExchange() {
      @Override
      public int rank() {
        return 0;
      }

      @Override
      public int worldSize() {
        return 2;
      }

      @Override
      public double[][] allGather(double[] contribution) {
        throw new IllegalStateException("connection reset");
      }
    };
    Tensor out = filled(Shape.of(2, 2, 2, 2, 2), 5);
    assertThatThrownBy(() -> new SyncBatchNorm(m, broken).forward(filled(out.shape(), 1), out))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("the exchange failed on rank 0 of 2 (connection reset)");
    assertThat(state(m)).isEqualTo(before);
    assertThat(out.data()).containsOnly(5f);
  }

  @Test
  void aBackwardWithTheWrongShapeFailsEveryWorkerAndChangesNoGradient() {
    InProcessExchange group = InProcessExchange.create(2);
    BatchNorm2d[] m = {new BatchNorm2d(2), new BatchNorm2d(2)};
    SyncBatchNorm[] bn = {new SyncBatchNorm(m[0], group.worker(0)),
        new SyncBatchNorm(m[1], group.worker(1))};
    SplittableRandom rnd = new SplittableRandom(4);
    Tensor[] x = {Tensor.of(Shape.of(2, 2, 3, 3), random(rnd, 36, 0, 1)),
        Tensor.of(Shape.of(3, 2, 3, 3), random(rnd, 54, 0, 1))};
    onWorkers(2, r -> bn[r].forward(x[r]));
    List<List<Object>> before = List.of(state(m[0]), state(m[1]));
    List<Throwable> thrown = failures(2, r -> () -> bn[r].backward(
        r == 0 ? filled(Shape.of(2, 2, 3, 2), 1) : filled(x[1].shape(), 1)));
    assertThat(thrown.get(0)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("gradOutput has shape (2, 2, 3, 2) but the input of the last forward"
            + " had shape (2, 2, 3, 3)");
    assertThat(thrown.get(1)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("rank 0 rejected its input");
    assertThat(List.of(state(m[0]), state(m[1]))).isEqualTo(before);
    // The forward is still there: a correct backward works afterwards.
    assertThat(failures(2, r -> () -> bn[r].backward(filled(x[r].shape(), 1)))).containsOnlyNulls();
  }

  @Test
  void workersOutOfStepAreReported() {
    InProcessExchange group = InProcessExchange.create(2);
    BatchNorm2d[] m = {new BatchNorm2d(2), new BatchNorm2d(2)};
    SyncBatchNorm[] bn = {new SyncBatchNorm(m[0], group.worker(0)),
        new SyncBatchNorm(m[1], group.worker(1))};
    Shape shape = Shape.of(2, 2, 2, 2);
    SplittableRandom rnd = new SplittableRandom(9);
    Tensor x = Tensor.of(shape, random(rnd, 16, 0, 1));
    onWorkers(2, r -> bn[r].forward(x));
    List<Object> before = state(m[1]);
    // Worker 0 goes on to backward, worker 1 to the next forward.
    List<Throwable> thrown = failures(2, r -> () -> {
      if (r == 0) {
        bn[0].backward(filled(shape, 1));
      } else {
        bn[1].forward(x);
      }
    });
    assertThat(thrown.get(0)).hasMessageContaining("rank 1 sent a forward message while this worker"
        + " is in its backward; the workers are out of step");
    assertThat(thrown.get(1)).hasMessageContaining("rank 0 sent a backward message");
    assertThat(state(m[1])).isEqualTo(before);
  }

  @Test
  void evalModeExchangesNothing() {
    StatisticsExchange refuses = new StatisticsExchange() {
      @Override
      public int rank() {
        return 0;
      }

      @Override
      public int worldSize() {
        return 3;
      }

      @Override
      public double[][] allGather(double[] contribution) {
        throw new AssertionError("eval mode must not exchange");
      }
    };
    BatchNorm2d m = new BatchNorm2d(2);
    m.eval();
    SyncBatchNorm bn = new SyncBatchNorm(m, refuses);
    Tensor x = filled(Shape.of(1, 2, 1, 1), 2);
    Tensor y = bn.forward(x);
    assertThat(y.data()).containsExactly(new BatchNorm2d(2).eval().forward(x).data());
    assertThat(bn.backward(filled(x.shape(), 1)).data()).hasSize(2);
  }

  /** As BatchNorm: a mode switch since the forward, even one switched back, refuses the backward. */
  @ParameterizedTest(name = "switched back {0}")
  @ValueSource(booleans = {false, true})
  void backwardAfterAModeSwitchIsRefusedAsBatchNormRefusesIt(boolean back) {
    BatchNorm2d m = new BatchNorm2d(2);
    SyncBatchNorm bn = new SyncBatchNorm(m, InProcessExchange.create(1).worker(0));
    Tensor x = Tensor.of(Shape.of(2, 2, 1, 1), new float[] {1, 2, 3, 5});
    bn.forward(x);
    m.eval();
    if (back) {
      m.train();
    }
    List<Object> before = state(m);
    assertThatThrownBy(() -> bn.backward(filled(x.shape(), 1)))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining(back ? "mode changed from training to eval and back"
            : "mode changed from training to eval since");
    assertThat(state(m)).isEqualTo(before);
    BatchNorm2d plain = new BatchNorm2d(2);
    plain.forward(x);
    plain.eval();
    if (back) {
      plain.train();
    }
    assertThatThrownBy(() -> plain.backward(filled(x.shape(), 1)))
        .isInstanceOf(IllegalStateException.class);
  }

  /** dx written over x would make a second backward of the same forward read dx as x. */
  @Test
  void gradInputMustNotBeTheForwardsInput() {
    BatchNorm2d m = new BatchNorm2d(2);
    SyncBatchNorm bn = new SyncBatchNorm(m, InProcessExchange.create(1).worker(0));
    Tensor x = Tensor.of(Shape.of(2, 2, 1, 1), new float[] {1, 2, 3, 5});
    bn.forward(x);
    List<Object> before = state(m);
    float[] xBefore = x.data().clone();
    assertThatThrownBy(() -> bn.backward(filled(x.shape(), 1), x))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("gradInput must not share its array with the input of the last"
            + " forward; input shape (2, 2, 1, 1)");
    assertThat(state(m)).isEqualTo(before);
    assertThat(x.data()).containsExactly(xBefore);
    assertThat(bn.backward(filled(x.shape(), 1)).data()).hasSize(4); // still available
  }

  /**
   * As BatchNorm's, the counter stops at Long.MAX_VALUE (it used to wrap negative and throw after
   * the running statistics had changed), and the cumulative average's factor stays positive.
   */
  @ParameterizedTest(name = "cumulative {0}")
  @ValueSource(booleans = {false, true})
  void theBatchCounterSaturatesAsBatchNorms(boolean cumulative) {
    Tensor x = Tensor.of(Shape.of(2, 2, 1, 1), new float[] {1, 2, 3, 5});
    BatchNorm2d plain = cumulative ? BatchNorm2d.builder(2).cumulativeMovingAverage().build()
        : new BatchNorm2d(2);
    BatchNorm2d m = cumulative ? BatchNorm2d.builder(2).cumulativeMovingAverage().build()
        : new BatchNorm2d(2);
    plain.setNumBatchesTracked(Long.MAX_VALUE);
    m.setNumBatchesTracked(Long.MAX_VALUE);
    plain.forward(x);
    new SyncBatchNorm(m, InProcessExchange.create(1).worker(0)).forward(x);
    assertThat(m.numBatchesTracked()).isEqualTo(Long.MAX_VALUE);
    assertThat(m.runningMean()).containsExactly(plain.runningMean());
    assertThat(m.runningVar()).containsExactly(plain.runningVar());
    assertThat(m.runningMean()[0]).isPositive(); // the batch mean of channel 0 is 2
  }

  /**
   * A timeout too long for a long of nanoseconds is taken as that long (it overflowed), also by a
   * worker that waits for a late one.
   */
  @Test
  void anExchangeTakesAnyTimeout() {
    InProcessExchange forever = InProcessExchange.create(2,
        java.time.temporal.ChronoUnit.FOREVER.getDuration());
    Tensor x = Tensor.of(Shape.of(2, 2, 1, 1), new float[] {1, 2, 3, 5});
    List<Tensor> y = onWorkers(2, r -> {
      if (r == 1) {
        try {
          Thread.sleep(50); // rank 0 waits in the exchange meanwhile
        } catch (InterruptedException e) {
          throw new AssertionError(e);
        }
      }
      return new SyncBatchNorm(new BatchNorm2d(2), forever.worker(r)).forward(x);
    });
    Tensor both = Tensor.of(Shape.of(4, 2, 1, 1), new float[] {1, 2, 3, 5, 1, 2, 3, 5});
    float[] expected = new BatchNorm2d(2).forward(both).data();
    io.github.batchnorm4j.testing.TestData.assertClose("rank 0's y", y.get(0).data(),
        ReferenceBatchNorm.toDouble(Arrays.copyOf(expected, 4)), 1e-6);
  }

  @Test
  void constructorChecks() {
    StatisticsExchange one = InProcessExchange.create(1).worker(0);
    assertThatThrownBy(() -> new SyncBatchNorm(null, one))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("module is null");
    assertThatThrownBy(() -> new SyncBatchNorm(
        BatchNorm2d.builder(2).layout(Layout.CHANNELS_LAST).build(), one))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("layout CHANNELS_LAST");
    assertThatThrownBy(() -> InProcessExchange.create(0))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("workers must be >= 1");
    assertThatThrownBy(() -> InProcessExchange.create(2).worker(2))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("rank must be in [0, 2) but is 2");
  }
}
