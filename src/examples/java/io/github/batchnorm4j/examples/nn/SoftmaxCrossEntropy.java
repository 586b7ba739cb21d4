package io.github.batchnorm4j.examples.nn;

import io.github.batchnorm4j.Tensor;

/**
 * Softmax followed by the cross-entropy loss, averaged over the batch, like
 * {@code torch.nn.CrossEntropyLoss()}:
 * <pre>
 * p[n, k] = exp(z[n, k]) / sum_j exp(z[n, j])      loss = -(1/N) sum_n log p[n, label_n]
 * dloss/dz[n, k] = (p[n, k] - [k == label_n]) / N
 * </pre>
 * Computed in double with the largest logit subtracted first, so large logits cannot overflow.
 */
public final class SoftmaxCrossEntropy {

  private SoftmaxCrossEntropy() {}

  /** The loss and its gradient with respect to the logits. */
  public record Result(double loss, Tensor gradLogits) {}

  /**
   * @param logits (N, K) scores
   * @param labels N class indices in [0, K)
   */
  public static Result compute(Tensor logits, int[] labels) {
    int n = logits.shape().dim(0);
    int classes = logits.shape().dim(1);
    if (labels.length != n) {
      throw new IllegalArgumentException(
          labels.length + " labels for a batch of " + n + " (logits " + logits.shape() + ")");
    }
    float[] z = logits.data();
    Tensor grad = Tensor.zeros(logits.shape());
    float[] g = grad.data();
    double total = 0;
    double[] p = new double[classes];
    for (int s = 0; s < n; s++) {
      int row = s * classes;
      double max = Double.NEGATIVE_INFINITY;
      for (int k = 0; k < classes; k++) {
        max = Math.max(max, z[row + k]);
      }
      double sum = 0;
      for (int k = 0; k < classes; k++) {
        p[k] = Math.exp(z[row + k] - max);
        sum += p[k];
      }
      int label = labels[s];
      if (label < 0 || label >= classes) {
        throw new IllegalArgumentException("label " + label + " is outside [0, " + classes + ")");
      }
      // -log p[label] = log(sum) - (z[label] - max)
      total += Math.log(sum) - (z[row + label] - max);
      for (int k = 0; k < classes; k++) {
        g[row + k] = (float) ((p[k] / sum - (k == label ? 1 : 0)) / n);
      }
    }
    return new Result(total / n, grad);
  }

  /** Returns the index of the largest logit of each sample, the predicted class. */
  public static int[] argmax(Tensor logits) {
    int n = logits.shape().dim(0);
    int classes = logits.shape().dim(1);
    float[] z = logits.data();
    int[] predicted = new int[n];
    for (int s = 0; s < n; s++) {
      int best = 0;
      for (int k = 1; k < classes; k++) {
        if (z[s * classes + k] > z[s * classes + best]) {
          best = k;
        }
      }
      predicted[s] = best;
    }
    return predicted;
  }
}
