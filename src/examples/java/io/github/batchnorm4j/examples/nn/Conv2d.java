package io.github.batchnorm4j.examples.nn;

import io.github.batchnorm4j.Shape;
import io.github.batchnorm4j.Tensor;
import java.util.List;
import java.util.Random;

/**
 * A 2D convolution with a square kernel, stride 1 and zero padding, like
 * {@code torch.nn.Conv2d(in, out, k, padding=p)}.
 *
 * <p>For input (N, Cin, H, W) the output is (N, Cout, H + 2p - k + 1, W + 2p - k + 1) with
 * <pre>
 * y[n, co, oy, ox] = bias[co] + sum over ci, ky, kx of
 *                    weight[co, ci, ky, kx] * x[n, ci, oy + ky - p, ox + kx - p]
 * </pre>
 * (out-of-range x counts as 0).
 *
 * <h2>How it is computed (im2col)</h2>
 * For each image, "im2col" copies every k x k input patch into a column of a matrix
 * {@code cols} with K = Cin * k * k rows and one column per output position. The convolution is
 * then one matrix product, {@code y = weight (Cout x K) * cols (K x positions) + bias}, whose inner
 * loop runs over contiguous memory and so is fast in plain Java. The backward pass reuses the same
 * matrix: {@code dWeight += dy * cols^T}, and dx is {@code weight^T * dy} scattered back to the
 * patches ("col2im"). Images are processed in parallel.
 */
public final class Conv2d implements Layer {

  private final int inChannels;
  private final int outChannels;
  private final int kernel;
  private final int padding;
  private final boolean hasBias;
  private final Param weight; // (Cout, Cin, k, k) flattened; row co is the K weights of filter co
  private final Param bias; // null when built without bias

  /**
   * When false, backward skips dL/dx: the first layer of a network does not need the gradient with
   * respect to the pixels, and it is the most expensive part of its backward pass.
   */
  private boolean computeInputGradient = true;

  // Saved by forward for backward.
  private Shape inputShape;
  private float[] cols; // per image n: K rows of positions, index (n * K + r) * positions + s

  /**
   * Creates a convolution initialised as PyTorch does by default: weights and bias uniform in
   * (-1/sqrt(fanIn), 1/sqrt(fanIn)) with fanIn = Cin * k * k.
   *
   * @param random the source of the initial weights, so that two networks can start identically
   */
  public Conv2d(int inChannels, int outChannels, int kernel, int padding, boolean hasBias,
      Random random) {
    if (inChannels < 1 || outChannels < 1 || kernel < 1 || padding < 0) {
      throw new IllegalArgumentException("bad Conv2d(" + inChannels + ", " + outChannels + ", "
          + kernel + ", padding " + padding + ")");
    }
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernel = kernel;
    this.padding = padding;
    this.hasBias = hasBias;
    int fanIn = inChannels * kernel * kernel;
    double bound = 1 / Math.sqrt(fanIn);
    this.weight = Param.of("conv.weight", Init.uniform(outChannels * fanIn, bound, random));
    this.bias = hasBias ? Param.of("conv.bias", Init.uniform(outChannels, bound, random)) : null;
  }

  /** Skips the input gradient (see the field); backward then returns null. */
  public Conv2d withoutInputGradient() {
    computeInputGradient = false;
    return this;
  }

  public Param weight() {
    return weight;
  }

  public int inChannels() {
    return inChannels;
  }

  public int outChannels() {
    return outChannels;
  }

  /** The bias parameter, or null when built without a bias. */
  public Param bias() {
    return bias;
  }

  @Override
  public List<Param> params() {
    return hasBias ? List.of(weight, bias) : List.of(weight);
  }

  private int outSize(int inSize) {
    return inSize + 2 * padding - kernel + 1;
  }

  @Override
  public Tensor forward(Tensor x) {
    Shape s = x.shape();
    if (s.rank() != 4 || s.dim(1) != inChannels) {
      throw new IllegalArgumentException("Conv2d expects (N, " + inChannels + ", H, W) but got " + s);
    }
    int n = s.dim(0);
    int h = s.dim(2);
    int w = s.dim(3);
    int oh = outSize(h);
    int ow = outSize(w);
    int positions = oh * ow;
    int k = inChannels * kernel * kernel;
    inputShape = s;
    if (cols == null || cols.length != n * k * positions) {
      cols = new float[n * k * positions];
    }
    float[] xs = x.data();
    float[] colsRef = cols;
    Tensor out = Tensor.zeros(Shape.of(n, outChannels, oh, ow));
    float[] ys = out.data();
    float[] wv = weight.value();
    Parallel.forEach(n, (long) outChannels * k * positions, img -> {
      im2col(xs, img, h, w, oh, ow, colsRef, img * k * positions);
      int colBase = img * k * positions;
      for (int co = 0; co < outChannels; co++) {
        int yBase = (img * outChannels + co) * positions;
        float b = hasBias ? bias.value()[co] : 0f;
        for (int i = 0; i < positions; i++) {
          ys[yBase + i] = b;
        }
        // y_row += sum_r w[co, r] * cols_row_r. Four rows per pass: the output row is read and
        // written a quarter as often; each element still adds the terms in the order r = 0, 1, ...
        int r = 0;
        for (; r + 3 < k; r += 4) {
          float a0 = wv[co * k + r];
          float a1 = wv[co * k + r + 1];
          float a2 = wv[co * k + r + 2];
          float a3 = wv[co * k + r + 3];
          int c0 = colBase + r * positions;
          int c1 = c0 + positions;
          int c2 = c1 + positions;
          int c3 = c2 + positions;
          for (int i = 0; i < positions; i++) {
            float y = ys[yBase + i];
            y += a0 * colsRef[c0 + i];
            y += a1 * colsRef[c1 + i];
            y += a2 * colsRef[c2 + i];
            y += a3 * colsRef[c3 + i];
            ys[yBase + i] = y;
          }
        }
        for (; r < k; r++) {
          float a = wv[co * k + r];
          int cBase = colBase + r * positions;
          for (int i = 0; i < positions; i++) {
            ys[yBase + i] += a * colsRef[cBase + i];
          }
        }
      }
    });
    return out;
  }

  /** Copies the k x k patches of image {@code img} into K rows of {@code oh * ow} columns. */
  private void im2col(float[] xs, int img, int h, int w, int oh, int ow, float[] dst, int dstBase) {
    int positions = oh * ow;
    for (int ci = 0; ci < inChannels; ci++) {
      int plane = (img * inChannels + ci) * h * w;
      for (int ky = 0; ky < kernel; ky++) {
        for (int kx = 0; kx < kernel; kx++) {
          int row = dstBase + ((ci * kernel + ky) * kernel + kx) * positions;
          for (int oy = 0; oy < oh; oy++) {
            int iy = oy + ky - padding;
            int rowStart = row + oy * ow;
            if (iy < 0 || iy >= h) {
              java.util.Arrays.fill(dst, rowStart, rowStart + ow, 0f);
              continue;
            }
            for (int ox = 0; ox < ow; ox++) {
              int ix = ox + kx - padding;
              dst[rowStart + ox] = (ix >= 0 && ix < w) ? xs[plane + iy * w + ix] : 0f;
            }
          }
        }
      }
    }
  }

  @Override
  public Tensor backward(Tensor gradOutput) {
    if (inputShape == null) {
      throw new IllegalStateException("Conv2d.backward called before forward");
    }
    int n = inputShape.dim(0);
    int h = inputShape.dim(2);
    int w = inputShape.dim(3);
    int oh = outSize(h);
    int ow = outSize(w);
    if (!gradOutput.shape().equals(Shape.of(n, outChannels, oh, ow))) {
      throw new IllegalArgumentException("gradOutput has shape " + gradOutput.shape()
          + " but the output was " + Shape.of(n, outChannels, oh, ow));
    }
    int positions = oh * ow;
    int k = inChannels * kernel * kernel;
    float[] dys = gradOutput.data();
    float[] colsRef = cols;
    float[] dw = weight.grad();
    float[] wv = weight.value();

    // dWeight[co, r] = sum over images and positions of dy[n, co, s] * cols[n, r, s]; dBias = sum dy.
    // Parallel over filters: each filter's sums are its own, and each runs in a fixed order.
    Parallel.forEach(outChannels, (long) n * k * positions, co -> {
      double biasSum = 0;
      double[] rowSums = new double[k];
      for (int img = 0; img < n; img++) {
        int dyBase = (img * outChannels + co) * positions;
        for (int i = 0; i < positions; i++) {
          biasSum += dys[dyBase + i];
        }
        int r = 0;
        for (; r + 3 < k; r += 4) {
          dot4(dys, dyBase, colsRef, (img * k + r) * positions, positions, rowSums, r);
        }
        for (; r < k; r++) {
          rowSums[r] += dot(dys, dyBase, colsRef, (img * k + r) * positions, positions);
        }
      }
      for (int r = 0; r < k; r++) {
        dw[co * k + r] += (float) rowSums[r];
      }
      if (hasBias) {
        bias.grad()[co] += (float) biasSum;
      }
    });

    if (!computeInputGradient) {
      return null;
    }
    // dx: every output position sends weight * dy back to the input pixels of its patch (col2im,
    // fused with the product weight^T * dy so that no dcols matrix is needed).
    Tensor gradInput = Tensor.zeros(inputShape);
    float[] dxs = gradInput.data();
    Parallel.forEach(n, (long) outChannels * k * positions, img -> {
      for (int ci = 0; ci < inChannels; ci++) {
        int plane = (img * inChannels + ci) * h * w;
        for (int ky = 0; ky < kernel; ky++) {
          for (int kx = 0; kx < kernel; kx++) {
            int r = (ci * kernel + ky) * kernel + kx;
            // the output columns whose input column ix = ox + kx - padding is inside the image
            int oxFrom = Math.max(0, padding - kx);
            int oxTo = Math.min(ow, w + padding - kx);
            // Four filters per pass, as in forward; each dx element still receives the filters'
            // terms in the order co = 0, 1, ...
            int co = 0;
            for (; co + 3 < outChannels; co += 4) {
              float a0 = wv[co * k + r];
              float a1 = wv[(co + 1) * k + r];
              float a2 = wv[(co + 2) * k + r];
              float a3 = wv[(co + 3) * k + r];
              int p0 = (img * outChannels + co) * positions;
              for (int oy = 0; oy < oh; oy++) {
                int iy = oy + ky - padding;
                if (iy < 0 || iy >= h) {
                  continue;
                }
                int dxRow = plane + iy * w + kx - padding;
                int d0 = p0 + oy * ow;
                int d1 = d0 + positions;
                int d2 = d1 + positions;
                int d3 = d2 + positions;
                for (int ox = oxFrom; ox < oxTo; ox++) {
                  float d = dxs[dxRow + ox];
                  d += a0 * dys[d0 + ox];
                  d += a1 * dys[d1 + ox];
                  d += a2 * dys[d2 + ox];
                  d += a3 * dys[d3 + ox];
                  dxs[dxRow + ox] = d;
                }
              }
            }
            for (; co < outChannels; co++) {
              float a = wv[co * k + r];
              int dyPlane = (img * outChannels + co) * positions;
              for (int oy = 0; oy < oh; oy++) {
                int iy = oy + ky - padding;
                if (iy < 0 || iy >= h) {
                  continue;
                }
                int dxRow = plane + iy * w + kx - padding;
                int dyRow = dyPlane + oy * ow;
                for (int ox = oxFrom; ox < oxTo; ox++) {
                  dxs[dxRow + ox] += a * dys[dyRow + ox];
                }
              }
            }
          }
        }
      }
    });
    return gradInput;
  }

  /** A dot product with four partial sums, which the CPU can add in parallel. */
  private static double dot(float[] a, int aBase, float[] b, int bBase, int length) {
    float s0 = 0;
    float s1 = 0;
    float s2 = 0;
    float s3 = 0;
    int i = 0;
    for (; i + 3 < length; i += 4) {
      s0 += a[aBase + i] * b[bBase + i];
      s1 += a[aBase + i + 1] * b[bBase + i + 1];
      s2 += a[aBase + i + 2] * b[bBase + i + 2];
      s3 += a[aBase + i + 3] * b[bBase + i + 3];
    }
    for (; i < length; i++) {
      s0 += a[aBase + i] * b[bBase + i];
    }
    return (double) s0 + s1 + s2 + s3;
  }

  /**
   * Four dot products of {@code a} with the consecutive rows of {@code b} starting at
   * {@code bBase}, added into {@code sums[r..r+3]}: one pass over {@code a} instead of four. Each
   * is computed exactly as {@link #dot} computes it, so the results are the same.
   */
  private static void dot4(float[] a, int aBase, float[] b, int bBase, int length, double[] sums,
      int r) {
    int b1 = bBase + length;
    int b2 = b1 + length;
    int b3 = b2 + length;
    float p00 = 0, p01 = 0, p02 = 0, p03 = 0;
    float p10 = 0, p11 = 0, p12 = 0, p13 = 0;
    float p20 = 0, p21 = 0, p22 = 0, p23 = 0;
    float p30 = 0, p31 = 0, p32 = 0, p33 = 0;
    int i = 0;
    for (; i + 3 < length; i += 4) {
      float x0 = a[aBase + i];
      float x1 = a[aBase + i + 1];
      float x2 = a[aBase + i + 2];
      float x3 = a[aBase + i + 3];
      p00 += x0 * b[bBase + i];
      p01 += x1 * b[bBase + i + 1];
      p02 += x2 * b[bBase + i + 2];
      p03 += x3 * b[bBase + i + 3];
      p10 += x0 * b[b1 + i];
      p11 += x1 * b[b1 + i + 1];
      p12 += x2 * b[b1 + i + 2];
      p13 += x3 * b[b1 + i + 3];
      p20 += x0 * b[b2 + i];
      p21 += x1 * b[b2 + i + 1];
      p22 += x2 * b[b2 + i + 2];
      p23 += x3 * b[b2 + i + 3];
      p30 += x0 * b[b3 + i];
      p31 += x1 * b[b3 + i + 1];
      p32 += x2 * b[b3 + i + 2];
      p33 += x3 * b[b3 + i + 3];
    }
    for (; i < length; i++) {
      float x = a[aBase + i];
      p00 += x * b[bBase + i];
      p10 += x * b[b1 + i];
      p20 += x * b[b2 + i];
      p30 += x * b[b3 + i];
    }
    sums[r] += (double) p00 + p01 + p02 + p03;
    sums[r + 1] += (double) p10 + p11 + p12 + p13;
    sums[r + 2] += (double) p20 + p21 + p22 + p23;
    sums[r + 3] += (double) p30 + p31 + p32 + p33;
  }

  @Override
  public String toString() {
    return "Conv2d(" + inChannels + ", " + outChannels + ", kernel_size=" + kernel + ", padding="
        + padding + ", bias=" + hasBias + ")";
  }
}
