package io.github.batchnorm4j.testing;

import io.github.batchnorm4j.Activation;
import io.github.batchnorm4j.BatchNorm2d;
import io.github.batchnorm4j.FrozenBatchNorm2d;
import io.github.batchnorm4j.Layout;
import io.github.batchnorm4j.Shape;
import io.github.batchnorm4j.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * Every module variant as one forward + backward step on (n, 16, 24, 24) data (or its channels-last
 * twin), for the zero-allocation checks: channels-first and channels-last, with and without the
 * fused ReLU, with the unbiased and the biased running variance, in training and in eval mode;
 * and FrozenBatchNorm2d. 20 steps in all.
 */
public final class VariantSteps {

  /** A named step. */
  public record Step(String name, Runnable call) {}

  private VariantSteps() {}

  /**
   * The steps, each with its own module and output tensors.
   *
   * @param n the batch size
   * @param threadCount the modules' {@code threads(...)}
   * @return the 20 steps
   */
  public static List<Step> all(int n, int threadCount) {
    Shape nchw = Shape.of(n, 16, 24, 24);
    Shape nhwc = Shape.of(n, 24, 24, 16);
    float[] x = TestData.gaussian(TestData.rng(3), nchw.numel(), 1, 0.5);
    float[] dy = TestData.gaussian(TestData.rng(4), nchw.numel(), 1, 0);
    List<Step> steps = new ArrayList<>();
    for (Layout layout : Layout.values()) {
      Shape shape = layout == Layout.CHANNELS_FIRST ? nchw : nhwc;
      Tensor xs = Tensor.of(shape, x);
      Tensor dys = Tensor.of(shape, dy);
      for (Activation activation : Activation.values()) {
        for (boolean unbiased : new boolean[] {true, false}) {
          for (boolean training : new boolean[] {true, false}) {
            BatchNorm2d bn = BatchNorm2d.builder(16).layout(layout).activation(activation)
                .unbiasedRunningVar(unbiased).threads(threadCount).build();
            if (!training) {
              bn.eval();
            }
            Tensor y = Tensor.zeros(shape);
            Tensor dx = Tensor.zeros(shape);
            steps.add(new Step(bn + (training ? " training" : " eval"), () -> {
              bn.forward(xs, y);
              bn.backward(dys, dx);
            }));
          }
        }
        FrozenBatchNorm2d frozen = FrozenBatchNorm2d.builder(16).layout(layout)
            .activation(activation).threads(threadCount).build();
        Tensor y = Tensor.zeros(shape);
        Tensor dx = Tensor.zeros(shape);
        steps.add(new Step(frozen.toString(), () -> {
          frozen.forward(xs, y);
          frozen.backward(dys, dx);
        }));
      }
    }
    return steps;
  }
}
