package io.github.batchnorm4j;

import io.github.batchnorm4j.testing.KernelCalls;
import io.github.batchnorm4j.internal.KernelOps;
import io.github.batchnorm4j.testing.ReferenceBatchNorm;
import java.util.SplittableRandom;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Assume;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * Random shapes large enough for the Vector API kernels (the module properties keep tensors small,
 * where the scalar kernels run): every pass of both implementations against the float64 reference,
 * at an offset, on 1 to 3 threads. The shapes reach the kernels' special cases: one value per
 * plane (BatchNorm1d's (N, C)), planes shorter than a vector, short planes walked in whole rows,
 * several channel blocks and row segments, and lane and vector tails.
 */
class KernelProperties {

  record Case(String impl, int batch, int channels, int spatial, double offset, int threads,
      long seed) {
    @Override
    public String toString() {
      return impl + " (" + batch + ", " + channels + ", " + spatial + ") offset " + offset
          + " threads " + threads + " seed " + seed;
    }
  }

  @Provide
  Arbitrary<Case> cases() {
    Arbitrary<String> impl = Arbitraries.of("scalar", "vector");
    Arbitrary<Integer> spatial = Arbitraries.of(1, 1, 1, 2, 3, 5, 8, 13, 49, 64, 196);
    Arbitrary<Integer> channels = Arbitraries.integers().between(1, 150);
    Arbitrary<Integer> batch = Arbitraries.integers().between(2, 12000);
    Arbitrary<Double> offset = Arbitraries.of(0.0, 3.0, -40.0, 1e3);
    Arbitrary<Integer> threads = Arbitraries.integers().between(1, 3);
    return Combinators.combine(impl, batch, channels, spatial, offset, threads, Arbitraries.longs())
        .as(Case::new)
        // at most about 300,000 values, and enough for the Vector API kernels (4,096)
        .map(c -> new Case(c.impl(), (int) Math.max(2, Math.min(c.batch(),
            300_000L / ((long) c.channels() * c.spatial()))), c.channels(), c.spatial(),
            c.offset(), c.threads(), c.seed()))
        .filter(c -> (long) c.batch() * c.channels() * c.spatial() >= KernelOps.MIN_VECTOR_ELEMENTS);
  }

  @Property(tries = 60)
  void everyPassMatchesTheFloat64Reference(@ForAll("cases") Case k) {
    KernelOps ops = KernelParityTest.implementationOrNull(k.impl());
    Assume.that(ops != null);
    int n = k.batch();
    int c = k.channels();
    int s = k.spatial();
    int numel = n * c * s;
    SplittableRandom rnd = new SplittableRandom(k.seed());
    float[] x = BatchNormReferenceProperties.random(rnd, numel, 2, k.offset());
    float[] dy = BatchNormReferenceProperties.random(rnd, numel, 1, 0);
    float[] weight = BatchNormReferenceProperties.random(rnd, c, 1, 1);
    float[] bias = BatchNormReferenceProperties.random(rnd, c, 1, 0);
    double[] xd = ReferenceBatchNorm.toDouble(x);
    double[] dyd = ReferenceBatchNorm.toDouble(dy);
    double[] w = ReferenceBatchNorm.toDouble(weight);

    float[] y = new float[numel];
    float[] saveMean = new float[c];
    float[] saveInvStd = new float[c];
    float[] runningMean = new float[c];
    float[] runningVar = new float[c];
    java.util.Arrays.fill(runningVar, 1f);
    KernelCalls.forwardTraining(ops, x, y, n, c, s, weight, bias, runningMean, runningVar,
        0.5, 1e-5, saveMean, saveInvStd, k.threads());
    ReferenceBatchNorm.Forward ref = ReferenceBatchNorm.forwardTraining(xd, n, c, s, w,
        ReferenceBatchNorm.toDouble(bias), 1e-5);
    KernelParityTest.assertClose(y, ref.y(), 1e-6, k + ": y");

    float[] dx = new float[numel];
    float[] weightGrad = new float[c];
    float[] biasGrad = new float[c];
    KernelCalls.backwardTraining(ops, x, dy, dx, n, c, s, weight, saveMean, saveInvStd,
        weightGrad, biasGrad, k.threads());
    ReferenceBatchNorm.Backward back = ReferenceBatchNorm.backwardTraining(xd, dyd, n, c, s, w,
        1e-5);
    KernelParityTest.assertClose(dx, back.dx(), 2e-6, k + ": dx");
    KernelParityTest.assertClose(weightGrad, back.dWeight(), 2e-6, k + ": dgamma");
    KernelParityTest.assertClose(biasGrad, back.dBias(), 1e-6, k + ": dbeta");

    // Eval with the running statistics just updated (offset/2 and about (1 + var)/2).
    float[] yEval = new float[numel];
    KernelCalls.forwardInference(ops, x, yEval, n, c, s, weight, bias, runningMean,
        runningVar, 1e-5, k.threads());
    double[] rm = ReferenceBatchNorm.toDouble(runningMean);
    double[] rv = ReferenceBatchNorm.toDouble(runningVar);
    KernelParityTest.assertClose(yEval, ReferenceBatchNorm.normalize(xd, n, c, s, rm, rv, w,
        ReferenceBatchNorm.toDouble(bias), 1e-5), 1e-6, k + ": eval y");
    float[] dxEval = new float[numel];
    float[] weightGradEval = new float[c];
    float[] biasGradEval = new float[c];
    KernelCalls.backwardInference(ops, x, dy, dxEval, n, c, s, weight, runningMean,
        runningVar, 1e-5, weightGradEval, biasGradEval, k.threads());
    ReferenceBatchNorm.Backward backEval = ReferenceBatchNorm.backwardInference(xd, dyd, n, c, s,
        w, rm, rv, 1e-5);
    KernelParityTest.assertClose(dxEval, backEval.dx(), 1e-6, k + ": eval dx");
    KernelParityTest.assertClose(weightGradEval, backEval.dWeight(), 2e-6, k + ": eval dgamma");
    KernelParityTest.assertClose(biasGradEval, backEval.dBias(), 1e-6, k + ": eval dbeta");
  }
}
