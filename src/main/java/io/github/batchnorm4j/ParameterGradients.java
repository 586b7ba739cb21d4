package io.github.batchnorm4j;

/**
 * Where a backward ADDS the parameter gradients dL/dgamma and dL/dbeta, per channel, as PyTorch
 * accumulates {@code .grad}. Either may be null to skip it. The arrays are referenced, not copied.
 *
 * @param weightGrad dL/dgamma is added here, one value per channel, or null
 * @param biasGrad dL/dbeta is added here, one value per channel, or null
 */
public record ParameterGradients(float[] weightGrad, float[] biasGrad) {

  /** No parameter gradients: a backward computes dx only. */
  public static final ParameterGradients NONE = new ParameterGradients(null, null);

  /**
   * Checks that the two arrays, when both given, have the same length.
   *
   * @param weightGrad where dL/dgamma is added, or null
   * @param biasGrad where dL/dbeta is added, or null
   * @throws IllegalArgumentException if they differ
   */
  public ParameterGradients {
    if (weightGrad != null && biasGrad != null) {
      Checks.samePair("weightGrad", weightGrad, "biasGrad", biasGrad);
    }
  }
}
