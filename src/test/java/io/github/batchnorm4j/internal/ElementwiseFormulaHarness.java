package io.github.batchnorm4j.internal;

import java.util.SplittableRandom;

/**
 * Why the scalar kernels use the formulas they use (docs/numerics.md, sections 2 and 3): the
 * largest error against float64 of candidate float formulas for y and dx, on tensors of the kind
 * of the accuracy table (4 channels of 1768 values, gamma in [0.5, 1.5), beta ~ N(0, 0.25)), 300
 * seeds per input, and how often each is worse than PyTorch's float formula. Not a test: a
 * measurement to rerun when the formulas change. Run with
 *
 * <pre>./mvnw -q test-compile exec:java -Dexec.mainClass=io.github.batchnorm4j.internal.ElementwiseFormulaHarness</pre>
 *
 * <p>The pivot and y's formula ({@code affine}) are {@link ScalarKernels}' own methods; dx repeats
 * ScalarKernels.backwardDx's formula inline.
 */
public final class ElementwiseFormulaHarness {

  private ElementwiseFormulaHarness() {}

  public static void main(String[] args) {
    System.out.println("y: largest error per tensor, mean over seeds; worse = seeds where the"
        + " formula's largest error exceeds PyTorch's");
    double[][] inputs = {{0, 1}, {1e4, 1}, {3, 2}, {1, 1}, {-5, 0.5}};
    for (double[] input : inputs) {
      yRow(input[0], input[1], 300);
    }
    System.out.println();
    System.out.println("dx: largest error over 2000 channels of m values, N(offset, 1) data");
    for (int m : new int[] {2, 3, 16, 1768}) {
      for (double offset : new double[] {0, 1e4}) {
        dxRow(m, offset);
      }
    }
  }

  private static void yRow(double offset, double spread, int seeds) {
    String[] names = {"fma(d,aHi,fma(d,aLo,b))", "fma(d,aHi,bHi)+fma(d,aLo,bLo)",
      "two-sum, rounded once", "affine: fma(d,aHi,bHi+fma(d,aLo,bLo))", "PyTorch fma(x,alpha,shift)"};
    final int torch = names.length - 1;
    double[] sum = new double[names.length];
    double[] largestRatio = new double[names.length];
    int[] worse = new int[names.length];
    for (int seed = 0; seed < seeds; seed++) {
      SplittableRandom rnd = new SplittableRandom(seed);
      double[] err = new double[names.length];
      for (int ch = 0; ch < 4; ch++) {
        int m = 1768;
        float[] x = new float[m];
        for (int i = 0; i < m; i++) {
          x[i] = (float) (offset + rnd.nextGaussian() * spread);
        }
        double gamma = (float) (0.5 + rnd.nextDouble());
        double beta = (float) (0.5 * rnd.nextGaussian());
        double[] moments = meanAndVariance(x);
        double mean = moments[0];
        double invStd = 1 / Math.sqrt(moments[1] + 1e-5);
        double alpha = gamma * invStd;
        float p = ScalarKernels.pivot(mean, alpha);
        float aHi = (float) alpha;
        float aLo = ScalarKernels.low(alpha);
        double b = beta + (p - mean) * alpha;
        float bHi = (float) b;
        float bLo = ScalarKernels.low(b);
        float alphaT = (float) gamma * (float) invStd; // PyTorch: float invstd, weight, shift
        float shiftT = (float) beta - (float) mean * alphaT;
        for (float v : x) {
          double exact = (v - mean) * alpha + beta;
          float d = v - p;
          float[] got = {Math.fma(d, aHi, Math.fma(d, aLo, bHi)),
              Math.fma(d, aHi, bHi) + Math.fma(d, aLo, bLo), roundedOnce(d, aHi, aLo, bHi, bLo),
              ScalarKernels.affine(d, aHi, aLo, bHi, bLo), Math.fma(v, alphaT, shiftT)};
          for (int k = 0; k < names.length; k++) {
            err[k] = Math.max(err[k], Math.abs(got[k] - exact));
          }
        }
      }
      for (int k = 0; k < names.length; k++) {
        sum[k] += err[k];
        largestRatio[k] = Math.max(largestRatio[k], err[k] / err[torch]);
        if (err[k] > err[torch]) {
          worse[k]++;
        }
      }
    }
    System.out.printf("x = %g + %g N(0,1):%n", offset, spread);
    for (int k = 0; k < names.length; k++) {
      System.out.printf("  %-38s mean largest error %.3e  worse than PyTorch in %3d of %d"
          + " (at most %.2f times)%n", names[k], sum[k] / seeds, worse[k], seeds, largestRatio[k]);
    }
  }

  /**
   * {@code d * (aHi + aLo) + (bHi + bLo)} rounded about once, in 13 float operations: {@code d aHi
   * = p + pe} exactly (an fma gives the product's error), {@code p + bHi = t + te} exactly (Knuth's
   * two-sum), and the small terms are added to t last. The scalar kernels' form until 2026-12.
   */
  private static float roundedOnce(float d, float aHi, float aLo, float bHi, float bLo) {
    float prod = d * aHi;
    float prodErr = Math.fma(d, aHi, -prod);
    float t = prod + bHi;
    float z = t - prod;
    float sumErr = (prod - (t - z)) + (bHi - z);
    return t + (sumErr + prodErr + Math.fma(d, aLo, bLo));
  }

  private static void dxRow(int m, double offset) {
    SplittableRandom rnd = new SplittableRandom(7);
    double ours = 0;
    double torch = 0;
    double largest = 0;
    for (int ch = 0; ch < 2000; ch++) {
      float[] x = new float[m];
      float[] g = new float[m];
      for (int i = 0; i < m; i++) {
        x[i] = (float) (offset + rnd.nextGaussian());
        g[i] = (float) rnd.nextGaussian();
      }
      double gamma = (float) (0.5 + rnd.nextDouble());
      double[] moments = meanAndVariance(x);
      double mean = moments[0];
      double invStd = (float) (1 / Math.sqrt(moments[1] + 1e-5)); // the saved float invStd
      double sumG = 0;
      double sumGc = 0;
      for (int i = 0; i < m; i++) {
        sumG += g[i];
        sumGc += g[i] * (x[i] - mean);
      }
      double meanDy = sumG / m;
      double k = sumGc * invStd * invStd / m;
      double s = gamma * invStd;
      // ScalarKernels.backwardDx
      float p = ScalarKernels.pivot(mean, s);
      double slope = -s * k;
      float sHi = (float) s;
      float sLo = ScalarKernels.low(s);
      float tHi = (float) slope;
      float tLo = ScalarKernels.low(slope);
      float u = (float) (-s * (meanDy + (p - mean) * k));
      // PyTorch's float formula
      float meanF = (float) mean;
      float meanDyF = (float) meanDy;
      float kF = (float) k;
      float sF = (float) s;
      for (int i = 0; i < m; i++) {
        double exact = s * (g[i] - meanDy - (x[i] - mean) * k);
        largest = Math.max(largest, Math.abs(exact));
        float c = x[i] - p;
        float dx = Math.fma(g[i], sHi, Math.fma(g[i], sLo, Math.fma(c, tHi, Math.fma(c, tLo, u))));
        float dxT = (g[i] - meanDyF - (x[i] - meanF) * kF) * sF;
        ours = Math.max(ours, Math.abs(dx - exact));
        torch = Math.max(torch, Math.abs(dxT - exact));
      }
    }
    System.out.printf("  m = %4d, offset %-6g max|dx| %8.3f  ours %.3e  PyTorch's formula %.3e%n", m,
        offset, largest, ours, torch);
  }

  /** {@return the mean and the biased variance of x, two passes in double} */
  private static double[] meanAndVariance(float[] x) {
    double mean = 0;
    for (float v : x) {
      mean += v;
    }
    mean /= x.length;
    double var = 0;
    for (float v : x) {
      var += (v - mean) * (v - mean);
    }
    return new double[] {mean, var / x.length};
  }
}
