package io.github.batchnorm4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.batchnorm4j.testing.TestData;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The functional layer: same results as the modules, aliasing, and argument checks. */
class FunctionalTest {

  private final SplittableRandom rnd = TestData.rng(5);
  private final int n = 3;
  private final int c = 4;
  private final int s = 13;
  private final Shape shape = Shape.of(n, c, s);
  private final BatchNormOptions options = BatchNormOptions.defaults();
  private final float[] x = TestData.gaussian(rnd, n * c * s, 2, 1);
  private final float[] dy = TestData.gaussian(rnd, n * c * s, 1, 0);
  private final float[] weight = {0.5f, 1, 1.5f, 2};
  private final float[] bias = {0, 0.1f, -0.2f, 0.3f};
  private final AffineParameters affine = new AffineParameters(weight, bias);

  @Test
  void matchesTheModuleAndAllowsInPlaceOutputs() {
    BatchNorm1d bn = new BatchNorm1d(c);
    System.arraycopy(weight, 0, bn.weight(), 0, c);
    System.arraycopy(bias, 0, bn.bias(), 0, c);
    float[] yModule = bn.forward(Tensor.of(shape, x)).data();
    float[] dxModule = bn.backward(Tensor.of(shape, dy)).data();

    ChannelStatistics running = new ChannelStatistics(new float[c], new float[] {1, 1, 1, 1});
    BatchStatistics saved = new BatchStatistics(new float[c], new float[c]);
    float[] inPlace = x.clone();
    BatchNormFunctional.forwardTraining(options, shape, inPlace, inPlace, affine, running, 0.1,
        saved);
    assertThat(inPlace).containsExactly(yModule);
    assertThat(running.mean()).containsExactly(bn.runningMean());
    assertThat(running.var()).containsExactly(bn.runningVar());

    ParameterGradients grads = new ParameterGradients(new float[c], new float[c]);
    float[] grad = dy.clone();
    BatchNormFunctional.backwardTraining(options, shape, x, null, grad, grad, affine, saved, grads);
    assertThat(grad).containsExactly(dxModule);
    assertThat(grads.weightGrad()).containsExactly(bn.weightGrad());
    assertThat(grads.biasGrad()).containsExactly(bn.biasGrad());

    bn.eval();
    float[] yEval = bn.forward(Tensor.of(shape, x)).data();
    float[] dxEval = bn.backward(Tensor.of(shape, dy)).data();
    float[] y2 = new float[x.length];
    BatchNormFunctional.forwardInference(options, shape, x, y2, affine, running);
    assertThat(y2).containsExactly(yEval);
    float[] dx2 = x.clone(); // dx may overwrite x: x is read before each element is written
    BatchNormFunctional.backwardInference(options, shape, dx2, null, dy, dx2, affine, running,
        null);
    assertThat(dx2).containsExactly(dxEval);
  }

  @Test
  void rejectsBadArgumentsBeforeWritingAnything() {
    float[] y = new float[x.length];
    float[] rm = new float[c];
    float[] rv = {1, 1, 1, 1};
    ChannelStatistics running = new ChannelStatistics(rm, rv);
    float[] mean = new float[c];
    BatchStatistics saved = new BatchStatistics(mean, new float[c]);
    assertThatThrownBy(() -> BatchNormFunctional.forwardTraining(options, shape, x, new float[5],
        affine, running, 0.1, saved))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("y has length 5 but shape (3, 4, 13) has 156 elements");
    assertThatThrownBy(() -> BatchNormFunctional.forwardTraining(options, shape, x, y,
        new AffineParameters(new float[3], null), running, 0.1, saved))
        .hasMessage("affine.weight has length 3 but there are 4 channels; data shape (3, 4, 13)");
    assertThatThrownBy(() -> new ChannelStatistics(rm, null))
        .hasMessage("var must not be null");
    assertThatThrownBy(() -> new ChannelStatistics(rm, new float[3]))
        .hasMessage("mean has length 4 but var has length 3; they must have one value per channel"
            + " each");
    assertThatThrownBy(() -> BatchNormFunctional.forwardTraining(options, shape, x, y, affine,
        running, 1.5, saved))
        .hasMessage("momentum must be in [0, 1] but is 1.5");
    assertThatThrownBy(() -> options.withEps(0))
        .hasMessage("eps must be finite and > 0 but is 0.0");
    assertThatThrownBy(() -> BatchNormFunctional.forwardTraining(options, shape, x, y, affine,
        running, 0.1, null))
        .hasMessage("saved must not be null; input shape (3, 4, 13)");
    assertThatThrownBy(() -> BatchNormFunctional.forwardTraining(options, Shape.of(1, c, 1),
        new float[c], new float[c], affine, running, 0.1, saved))
        .hasMessageContaining("expected more than 1 value per channel when training");
    assertThatThrownBy(() -> options.withThreads(-1))
        .hasMessage("threads must be >= 1, or 0 (AUTO_THREADS) for the automatic default, but is"
            + " -1");
    assertThatThrownBy(() -> BatchNormFunctional.backwardTraining(options, shape, x, null, dy, null,
        affine, saved, null))
        .hasMessage("dx must not be null; input shape (3, 4, 13)");
    assertThatThrownBy(() -> BatchNormFunctional.backwardInference(options, shape, x, null, dy, y,
        affine, new ChannelStatistics(new float[2], new float[2]), null))
        .hasMessage("statistics.mean has length 2 but there are 4 channels; data shape (3, 4, 13)");
    assertThatThrownBy(() -> BatchNormFunctional.forwardInference(options, Shape.of(3, 0, 13),
        new float[0], new float[0], null, running))
        .hasMessage("shape must have at least 1 channel but (3, 0, 13) has 0 on the channel axis of"
            + " layout CHANNELS_FIRST");
    assertThatThrownBy(() -> BatchNormFunctional.forwardInference(options, Shape.of(12), x, y,
        null, running))
        .hasMessage("shape must have rank >= 2, (N, C, *spatial) or (N, *spatial, C), but is (12)");
    assertThatThrownBy(() -> BatchNormFunctional.backwardTraining(
        options.withActivation(Activation.RELU), shape, x, null, dy, y, affine, saved, null))
        .hasMessage("y (the forward's output, the ReLU's mask) must not be null; input shape"
            + " (3, 4, 13)");
    assertThat(y).containsOnly(0f);
    assertThat(rm).containsOnly(0f);
    assertThat(rv).containsOnly(1f);
    assertThat(mean).containsOnly(0f);
  }
}
