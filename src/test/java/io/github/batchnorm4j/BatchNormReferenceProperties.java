package io.github.batchnorm4j;

import static io.github.batchnorm4j.testing.TestData.assertClose;
import static io.github.batchnorm4j.testing.TestData.maxAbs;
import static io.github.batchnorm4j.testing.TestData.tolerance;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.batchnorm4j.testing.ReferenceBatchNorm;
import io.github.batchnorm4j.testing.ReferenceModule;
import io.github.batchnorm4j.testing.TestData;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * Random shapes, hyperparameters and multi-step sequences (training steps with an SGD update of
 * gamma and beta, then eval steps), compared step by step with the float64 {@link ReferenceModule}.
 */
class BatchNormReferenceProperties {

  record Config(int rank, int[] dims, double eps, Double momentum, boolean affine, boolean track,
      int trainSteps, int evalSteps, double scale, double offset, long seed, int threads) {
    @Override
    public String toString() {
      return "rank " + rank + " shape " + Arrays.toString(dims) + " eps " + eps + " momentum "
          + momentum + " affine " + affine + " track " + track + " steps " + trainSteps + "+"
          + evalSteps + " scale " + scale + " offset " + offset + " seed " + seed + " threads "
          + threads;
    }
  }

  @Provide
  Arbitrary<Config> configs() {
    Arbitrary<Integer> rank = Arbitraries.of(2, 3, 4, 5);
    Arbitrary<Integer> n = Arbitraries.integers().between(1, 6);
    Arbitrary<Integer> c = Arbitraries.integers().between(1, 9);
    Arbitrary<int[]> spatial = Arbitraries.of(
            Arrays.stream(TestData.AWKWARD_SIZES).boxed().toArray(Integer[]::new)).list().ofSize(3)
        .map(l -> l.stream().mapToInt(Integer::intValue).toArray());
    Arbitrary<Double> eps = Arbitraries.of(1e-5, 1e-3, 0.1, 1e-8);
    Arbitrary<Double> momentum = Arbitraries.of(0.1, 0.0, 1.0, 0.3, 0.01).injectNull(0.25);
    Arbitrary<Boolean> bool = Arbitraries.of(true, true, false);
    Arbitrary<Integer> steps = Arbitraries.integers().between(1, 4);
    Arbitrary<Double> scale = Arbitraries.of(1.0, 0.01, 3.0, 100.0);
    Arbitrary<Double> offset = Arbitraries.of(0.0, 1.0, -3.0, 50.0);
    Arbitrary<Long> seed = Arbitraries.longs();
    Arbitrary<Integer> threads = Arbitraries.of(1, 2, 3);
    return Combinators.combine(
            Combinators.combine(rank, n, c, spatial).as(BatchNormReferenceProperties::dims),
            eps, momentum, bool, bool, steps, Combinators.combine(scale, offset, seed, threads)
                .as(List::of))
        .as((dims, e, mo, aff, tr, st, rest) -> new Config(dims.length, dims, e, mo, aff, tr, st,
            2, (Double) rest.get(0), (Double) rest.get(1), (Long) rest.get(2),
            (Integer) rest.get(3)));
  }

  private static int[] dims(int rank, int n, int c, int[] spatialChoices) {
    int[] dims = new int[rank];
    dims[0] = n;
    dims[1] = c;
    for (int i = 2; i < rank; i++) {
      dims[i] = spatialChoices[i - 2];
    }
    // Keep the tensor small enough for hundreds of tries, but let 207 through in one dimension.
    long numel = 1;
    for (int d : dims) {
      numel *= d;
    }
    for (int i = rank - 1; i >= 2 && numel > 60_000; i--) {
      numel /= dims[i];
      dims[i] = 1;
    }
    // Training needs more than one value per channel.
    long m = numel / c;
    if (m == 1) {
      dims[0] = 2;
    }
    return dims;
  }

  static BatchNorm build(Config cfg) {
    int channels = cfg.dims()[1];
    BatchNorm.Builder<? extends BatchNorm> b = switch (cfg.rank()) {
      case 2, 3 -> BatchNorm1d.builder(channels);
      case 4 -> BatchNorm2d.builder(channels);
      default -> BatchNorm3d.builder(channels);
    };
    b.eps(cfg.eps()).affine(cfg.affine()).trackRunningStats(cfg.track()).threads(cfg.threads());
    if (cfg.momentum() == null) {
      b.cumulativeMovingAverage();
    } else {
      b.momentum(cfg.momentum());
    }
    return b.build();
  }

  @Property(tries = 300)
  void matchesFloat64ReferenceOverMultiStepSequences(@ForAll("configs") Config cfg) {
    SplittableRandom rnd = TestData.rng(cfg.seed());
    Shape shape = Shape.of(cfg.dims());
    int n = cfg.dims()[0];
    int c = cfg.dims()[1];
    int s = shape.numel() / Math.max(1, n * c);
    BatchNorm bn = build(cfg);
    ReferenceModule ref = new ReferenceModule(c, cfg.eps(), cfg.momentum(), cfg.affine(), cfg.track());
    if (cfg.affine()) {
      System.arraycopy(TestData.uniform(rnd, c, 0.5, 1.5), 0, bn.weight(), 0, c);
      System.arraycopy(TestData.gaussian(rnd, c, 0.5, 0), 0, bn.bias(), 0, c);
    }
    float lr = 0.1f;
    for (int step = 0; step < cfg.trainSteps() + cfg.evalSteps(); step++) {
      boolean training = step < cfg.trainSteps();
      if (training) {
        bn.train();
      } else {
        bn.eval();
      }
      ref.training = training;
      // The reference starts every step from our float32 state, as PyTorch's would: the state is
      // stored in float32, so a float64 chain would drift from any float32 implementation (an eval
      // step with offset 50 and scale 0.01 amplifies the float rounding of the running mean 1e4 times).
      // The accumulated gradients too: an eval step with offset 50 adds thousands to dgamma, whose
      // float32 rounding (1e-4) stays in the sum after later steps bring it back near 0.
      if (cfg.affine()) {
        ref.weight = ReferenceBatchNorm.toDouble(bn.weight());
        ref.bias = ReferenceBatchNorm.toDouble(bn.bias());
        ref.weightGrad = ReferenceBatchNorm.toDouble(bn.weightGrad());
        ref.biasGrad = ReferenceBatchNorm.toDouble(bn.biasGrad());
      }
      if (cfg.track()) {
        ref.runningMean = ReferenceBatchNorm.toDouble(bn.runningMean());
        ref.runningVar = ReferenceBatchNorm.toDouble(bn.runningVar());
      }
      float[] x = TestData.gaussian(rnd, shape.numel(), cfg.scale(), cfg.offset());
      float[] dy = TestData.gaussian(rnd, shape.numel(), 1, 0);
      String where = cfg + ", step " + step + (training ? " (train)" : " (eval)");

      Tensor y = bn.forward(Tensor.of(shape, x));
      double[] yRef = ref.forward(ReferenceBatchNorm.toDouble(x), n, s);
      // A training step's y goes through statistics of m values; an eval step's through none.
      long reduced = training ? (long) n * s : 1;
      assertClose(where + ", y", y.data(), yRef, tolerance(maxAbs(yRef) + 1, reduced));

      if (cfg.track()) {
        assertThat(bn.numBatchesTracked()).as(where).isEqualTo(ref.numBatchesTracked);
        assertEachClose(where + ", runningMean", bn.runningMean(), ref.runningMean,
            cfg.scale() + Math.abs(cfg.offset()), reduced);
        assertEachClose(where + ", runningVar", bn.runningVar(), ref.runningVar,
            cfg.scale() * cfg.scale() + 1, reduced);
      }

      Tensor dx = bn.backward(Tensor.of(shape, dy));
      double[] dxRef = ref.backward(ReferenceBatchNorm.toDouble(dy));
      assertClose(where + ", dx", dx.data(), dxRef, gradInputTolerance(ref, dy, dxRef, reduced));
      if (cfg.affine()) {
        // A sum of m terms of unit scale whose signs vary grows like sqrt(m).
        double gradScale = Math.sqrt(n * (double) s) + 1;
        long m = (long) n * s;
        assertEachClose(where + ", weightGrad", bn.weightGrad(), ref.weightGrad, gradScale, m);
        assertEachClose(where + ", biasGrad", bn.biasGrad(), ref.biasGrad, gradScale, m);
        for (int i = 0; i < c; i++) { // a plain SGD step, so later steps see changed parameters
          bn.weight()[i] -= lr * bn.weightGrad()[i] / (n * s);
          bn.bias()[i] -= lr * bn.biasGrad()[i] / (n * s);
        }
      }
    }
  }

  /**
   * dx is a difference of terms of size |gamma * invStd * dy|; when eps is tiny next to a small
   * variance and m is small (m = 2 makes dx proportional to eps / (var + eps)), those terms are much
   * larger than dx itself and any float32 implementation (PyTorch's included, which saves invStd as
   * float32) is off by a few float32 roundings of the terms. The magnitude is the terms' or dx's
   * own (of unit scale at least), whichever is larger.
   */
  static double gradInputTolerance(ReferenceModule ref, float[] dy, double[] dxRef,
      long reduced) {
    double termScale = ref.maxScaleOfLastForward() * maxAbs(dy);
    return tolerance(Math.max(termScale, maxAbs(dxRef) + 1), reduced);
  }

  /**
   * Each value within the tolerance for its own magnitude plus {@code floorScale}, the magnitude
   * of the terms it is made of (a value near 0 can be a difference of large terms).
   */
  static void assertEachClose(String what, float[] actual, double[] expected, double floorScale,
      long reduced) {
    for (int i = 0; i < actual.length; i++) {
      double tol = tolerance(Math.abs(expected[i]) + floorScale, reduced);
      assertThat((double) actual[i]).as(what + "[" + i + "]").isCloseTo(expected[i],
          org.assertj.core.data.Offset.offset(tol));
    }
  }
}
