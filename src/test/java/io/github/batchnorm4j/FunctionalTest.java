package io.github.batchnorm4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The functional layer: same results as the modules, aliasing, and argument checks. */
class FunctionalTest {

  private final SplittableRandom rnd = new SplittableRandom(5);
  private final int n = 3;
  private final int c = 4;
  private final int s = 13;
  private final float[] x = BatchNormReferenceProperties.random(rnd, n * c * s, 2, 1);
  private final float[] dy = BatchNormReferenceProperties.random(rnd, n * c * s, 1, 0);
  private final float[] weight = {0.5f, 1, 1.5f, 2};
  private final float[] bias = {0, 0.1f, -0.2f, 0.3f};

  @Test
  void matchesTheModuleAndAllowsInPlaceOutputs() {
    BatchNorm1d bn = new BatchNorm1d(c);
    System.arraycopy(weight, 0, bn.weight(), 0, c);
    System.arraycopy(bias, 0, bn.bias(), 0, c);
    float[] yModule = bn.forward(Tensor.of(Shape.of(n, c, s), x)).data();
    float[] dxModule = bn.backward(Tensor.of(Shape.of(n, c, s), dy)).data();

    float[] rm = new float[c];
    float[] rv = {1, 1, 1, 1};
    float[] mean = new float[c];
    float[] invStd = new float[c];
    float[] inPlace = x.clone();
    BatchNormFunctional.forwardTraining(inPlace, inPlace, n, c, s, weight, bias, rm, rv, 0.1, 1e-5,
        mean, invStd);
    assertThat(inPlace).containsExactly(yModule);
    assertThat(rm).containsExactly(bn.runningMean());
    assertThat(rv).containsExactly(bn.runningVar());

    float[] wg = new float[c];
    float[] bg = new float[c];
    float[] grad = dy.clone();
    BatchNormFunctional.backwardTraining(x, grad, grad, n, c, s, weight, mean, invStd, wg, bg);
    assertThat(grad).containsExactly(dxModule);
    assertThat(wg).containsExactly(bn.weightGrad());
    assertThat(bg).containsExactly(bn.biasGrad());

    bn.eval();
    float[] yEval = bn.forward(Tensor.of(Shape.of(n, c, s), x)).data();
    float[] dxEval = bn.backward(Tensor.of(Shape.of(n, c, s), dy)).data();
    float[] y2 = new float[x.length];
    BatchNormFunctional.forwardInference(x, y2, n, c, s, weight, bias, rm, rv, 1e-5);
    assertThat(y2).containsExactly(yEval);
    float[] dx2 = x.clone(); // dx may overwrite x: x is read before each element is written
    BatchNormFunctional.backwardInference(dx2, dy, dx2, n, c, s, weight, rm, rv, 1e-5, null, null);
    assertThat(dx2).containsExactly(dxEval);
  }

  @Test
  void rejectsBadArgumentsBeforeWritingAnything() {
    float[] y = new float[x.length];
    float[] rm = new float[c];
    float[] rv = {1, 1, 1, 1};
    float[] mean = new float[c];
    float[] invStd = new float[c];
    assertThatThrownBy(() -> BatchNormFunctional.forwardTraining(x, new float[5], n, c, s, weight,
        bias, rm, rv, 0.1, 1e-5, mean, invStd))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("y has length 5 but batch * channels * spatial = 3 * 4 * 13 = 156");
    assertThatThrownBy(() -> BatchNormFunctional.forwardTraining(x, y, n, c, s, new float[3],
        bias, rm, rv, 0.1, 1e-5, mean, invStd))
        .hasMessage("weight has length 3 but there are 4 channels");
    assertThatThrownBy(() -> BatchNormFunctional.forwardTraining(x, y, n, c, s, weight, bias, rm,
        null, 0.1, 1e-5, mean, invStd))
        .hasMessageContaining("runningMean and runningVar must both be given or both be null");
    assertThatThrownBy(() -> BatchNormFunctional.forwardTraining(x, y, n, c, s, weight, bias, rm,
        rv, 1.5, 1e-5, mean, invStd))
        .hasMessage("factor must be in [0, 1] but is 1.5");
    assertThatThrownBy(() -> BatchNormFunctional.forwardTraining(x, y, n, c, s, weight, bias, rm,
        rv, 0.1, 0, mean, invStd))
        .hasMessage("eps must be finite and > 0 but is 0.0");
    assertThatThrownBy(() -> BatchNormFunctional.forwardTraining(x, y, n, c, s, weight, bias, rm,
        rv, 0.1, 1e-5, null, invStd))
        .hasMessage("saveMean must not be null");
    assertThatThrownBy(() -> BatchNormFunctional.forwardTraining(new float[c], new float[c], 1, c,
        1, weight, bias, rm, rv, 0.1, 1e-5, mean, invStd))
        .hasMessageContaining("expected more than 1 value per channel when training");
    assertThatThrownBy(() -> BatchNormFunctional.forwardTraining(x, y, n, c, s, weight, bias, rm,
        rv, 0.1, 1e-5, mean, invStd, 0))
        .hasMessage("threads must be >= 1 but is 0");
    assertThatThrownBy(() -> BatchNormFunctional.backwardTraining(x, dy, null, n, c, s, weight,
        mean, invStd, null, null))
        .hasMessage("dx must not be null");
    assertThatThrownBy(() -> BatchNormFunctional.backwardInference(x, dy, y, n, c, s, weight, rm,
        new float[2], 1e-5, null, null))
        .hasMessage("var has length 2 but there are 4 channels");
    assertThatThrownBy(() -> BatchNormFunctional.forwardInference(x, y, n, 0, s, weight, bias, rm,
        rv, 1e-5))
        .hasMessage("need batch >= 0, channels >= 1 and spatial >= 0 but got batch 3, channels 0,"
            + " spatial 13");
    assertThat(y).containsOnly(0f);
    assertThat(rm).containsOnly(0f);
    assertThat(rv).containsOnly(1f);
    assertThat(mean).containsOnly(0f);
  }
}
