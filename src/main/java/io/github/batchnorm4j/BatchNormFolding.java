package io.github.batchnorm4j;

/**
 * Folds an eval-mode batch norm into the convolution or linear layer before it, for inference: the
 * folded layer alone computes what the layer followed by the batch norm computed, and the batch
 * norm disappears. With per-output-channel scale s:
 * <pre>
 * s_c  = gamma_c / sqrt(runningVar_c + eps)
 * W'_c = W_c * s_c                                (every weight of output channel c)
 * b'_c = (b_c - runningMean_c) * s_c + beta_c     (b = 0 when the layer has no bias)
 * </pre>
 * Each value is computed in double and rounded to float once. A layer without bias gets one. A
 * fused activation of the batch norm is not folded: apply it after the folded layer. Folding
 * reproduces eval mode only (training normalizes with batch statistics), so it needs running
 * statistics.
 *
 * <p>The weight's output-channel dimension is given as a {@link Layout}:
 * {@link Layout#CHANNELS_FIRST} for dimension 0, as in PyTorch's {@code Conv1d/2d/3d} (out, in,
 * *kernel) and {@code Linear} (out, in), DL4J and ONNX; {@link Layout#CHANNELS_LAST} for the last
 * dimension, as in Keras and TensorFlow kernels (*kernel, in, out) and {@code Dense} (in, out).
 * (Transposed convolutions, whose output channels are dimension 1 in PyTorch, are not covered.)
 */
public final class BatchNormFolding {

  private BatchNormFolding() {}

  /**
   * A folded layer: the new weight (same shape as the original) and bias (length C).
   *
   * @param weight the folded weight, a new tensor
   * @param bias the folded bias, a new array
   */
  public record Folded(Tensor weight, float[] bias) {

    /**
     * Checks both components.
     *
     * @param weight the folded weight
     * @param bias the folded bias
     * @throws IllegalArgumentException if weight or bias is null
     */
    public Folded {
      if (weight == null || bias == null) {
        throw new IllegalArgumentException("weight and bias must not be null but "
            + (weight == null ? "weight" : "bias") + " is null");
      }
    }

    /**
     * {@return the weight's shape and the bias values, for example
     * {@code Folded[weight=Tensor(8, 3, 3, 3), bias=[0.1, -0.25, ...]]}} At most 8 bias values are
     * listed.
     */
    @Override
    public String toString() {
      StringBuilder sb = new StringBuilder("Folded[weight=").append(weight).append(", bias=[");
      for (int i = 0; i < bias.length && i < 8; i++) {
        sb.append(i > 0 ? ", " : "").append(bias[i]);
      }
      return sb.append(bias.length > 8 ? ", ... (" + bias.length + " values)]]" : "]]").toString();
    }
  }

  /**
   * Folds {@code bn} into a layer whose weight has its output channels in dimension 0 (PyTorch
   * convolutions and linear layers); see {@link #fold(Tensor, float[], BatchNorm, Layout)}.
   *
   * @param weight the layer's weight; not modified
   * @param bias the layer's bias, length C, or null for a layer without bias; not modified
   * @param bn the batch norm after the layer; not modified
   * @return the folded weight and bias, new
   */
  public static Folded fold(Tensor weight, float[] bias, BatchNorm bn) {
    return fold(weight, bias, bn, Layout.CHANNELS_FIRST);
  }

  /**
   * Folds an eval-mode {@link BatchNorm} (its running statistics, gamma and beta; 1 and 0 when not
   * affine) into the preceding layer.
   *
   * @param weight the layer's weight; not modified
   * @param bias the layer's bias, length C, or null for a layer without bias; not modified
   * @param bn the batch norm after the layer; not modified (its mode does not matter)
   * @param weightLayout where the weight's output-channel dimension is (see the class comment)
   * @return the folded weight and bias, new
   * @throws IllegalArgumentException if an argument is null, bn has no running statistics, or the
   *     weight's output-channel size or the bias length is not bn's C
   */
  public static Folded fold(Tensor weight, float[] bias, BatchNorm bn, Layout weightLayout) {
    if (bn == null) {
      throw new IllegalArgumentException("bn must not be null");
    }
    if (!bn.tracksRunningStats()) {
      throw new IllegalArgumentException("cannot fold " + bn + ": without running statistics its"
          + " eval mode normalizes with batch statistics, which depend on the input");
    }
    return fold(weight, bias, weightLayout, bn.weight(), bn.bias(), bn.runningMean(),
        bn.runningVar(), bn.eps());
  }

  /**
   * Folds a {@link FrozenBatchNorm2d} into the preceding layer; see
   * {@link #fold(Tensor, float[], BatchNorm, Layout)}.
   *
   * @param weight the layer's weight; not modified
   * @param bias the layer's bias, length C, or null for a layer without bias; not modified
   * @param bn the batch norm after the layer; not modified
   * @param weightLayout where the weight's output-channel dimension is (see the class comment)
   * @return the folded weight and bias, new
   */
  public static Folded fold(Tensor weight, float[] bias, FrozenBatchNorm2d bn, Layout weightLayout) {
    if (bn == null) {
      throw new IllegalArgumentException("bn must not be null");
    }
    return fold(weight, bias, weightLayout, bn.weight(), bn.bias(), bn.runningMean(),
        bn.runningVar(), bn.eps());
  }

  /**
   * Folds explicit batch-norm parameters into the preceding layer (see the class comment for the
   * formulas).
   *
   * @param weight the layer's weight, rank &gt;= 1; not modified
   * @param bias length C, or null for none; not modified
   * @param weightLayout where the weight's output-channel dimension is
   * @param gamma length C, or null for 1
   * @param beta length C, or null for 0
   * @param mean the running mean, length C
   * @param var the running variance, length C
   * @param eps finite and &gt; 0
   * @return the folded weight and bias, new
   * @throws IllegalArgumentException if a required argument is null, a length does not match the
   *     weight's output-channel size, or eps is not finite and &gt; 0
   */
  public static Folded fold(Tensor weight, float[] bias, Layout weightLayout, float[] gamma,
      float[] beta, float[] mean, float[] var, double eps) {
    if (weight == null || weightLayout == null) {
      throw new IllegalArgumentException("weight and weightLayout must not be null but "
          + (weight == null ? "weight" : "weightLayout") + " is null");
    }
    Shape shape = weight.shape();
    if (shape.rank() < 1) {
      throw new IllegalArgumentException("weight must have rank >= 1 but has shape " + shape);
    }
    int axis = weightLayout == Layout.CHANNELS_FIRST ? 0 : shape.rank() - 1;
    int channels = shape.dim(axis);
    if (mean == null || var == null) {
      throw new IllegalArgumentException("mean and var must not be null but "
          + (mean == null ? "mean" : "var") + " is null; weight shape " + shape);
    }
    checkLength("bias", bias, channels, shape, axis);
    checkLength("gamma", gamma, channels, shape, axis);
    checkLength("beta", beta, channels, shape, axis);
    checkLength("mean", mean, channels, shape, axis);
    checkLength("var", var, channels, shape, axis);
    if (!(eps > 0) || Double.isInfinite(eps)) {
      throw new IllegalArgumentException("eps must be finite and > 0 but is " + eps);
    }
    double[] scale = new double[channels];
    float[] foldedBias = new float[channels];
    for (int c = 0; c < channels; c++) {
      scale[c] = (gamma == null ? 1.0 : gamma[c]) / Math.sqrt(var[c] + eps);
      double b = bias == null ? 0.0 : bias[c];
      foldedBias[c] = (float) ((b - mean[c]) * scale[c] + (beta == null ? 0.0 : beta[c]));
    }
    float[] w = weight.data();
    float[] folded = new float[w.length];
    if (channels > 0) {
      if (weightLayout == Layout.CHANNELS_FIRST) {
        int perChannel = w.length / channels;
        for (int c = 0, i = 0; c < channels; c++) {
          for (int end = i + perChannel; i < end; i++) {
            folded[i] = (float) (w[i] * scale[c]);
          }
        }
      } else {
        for (int i = 0; i < w.length; i++) {
          folded[i] = (float) (w[i] * scale[i % channels]);
        }
      }
    }
    return new Folded(Tensor.of(shape, folded), foldedBias);
  }

  private static void checkLength(String name, float[] values, int channels, Shape shape, int axis) {
    if (values != null && values.length != channels) {
      throw new IllegalArgumentException(name + " has length " + values.length
          + " but the weight has " + channels + " output channels (dimension " + axis
          + "); weight shape " + shape);
    }
  }
}
