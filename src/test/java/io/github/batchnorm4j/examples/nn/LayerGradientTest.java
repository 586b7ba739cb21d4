package io.github.batchnorm4j.examples.nn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.github.batchnorm4j.BatchNorm2d;
import io.github.batchnorm4j.Shape;
import io.github.batchnorm4j.Tensor;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Finite-difference checks of every example layer's backward pass. */
class LayerGradientTest {

  @Test
  void conv2dWithPaddingAndBias() {
    Random random = new Random(1);
    Conv2d conv = new Conv2d(3, 4, 3, 1, true, random);
    GradientCheck.check(conv, GradientCheck.randomTensor(Shape.of(2, 3, 5, 6), random), random,
        60, 2e-3);
  }

  @Test
  void conv2dWithoutPaddingOrBiasAndNonSquareInput() {
    Random random = new Random(2);
    Conv2d conv = new Conv2d(2, 3, 3, 0, false, random);
    GradientCheck.check(conv, GradientCheck.randomTensor(Shape.of(3, 2, 6, 4), random), random,
        60, 2e-3);
  }

  @Test
  void conv2dMatchesDirectDefinition() {
    // Guards the im2col indexing independently of the gradient: y must equal the textbook sum.
    Random random = new Random(3);
    Conv2d conv = new Conv2d(2, 3, 3, 1, true, random);
    Tensor x = GradientCheck.randomTensor(Shape.of(2, 2, 4, 5), random);
    Tensor y = conv.forward(x);
    float[] w = conv.weight().value();
    float[] b = conv.bias().value();
    for (int n = 0; n < 2; n++) {
      for (int co = 0; co < 3; co++) {
        for (int oy = 0; oy < 4; oy++) {
          for (int ox = 0; ox < 5; ox++) {
            double sum = b[co];
            for (int ci = 0; ci < 2; ci++) {
              for (int ky = 0; ky < 3; ky++) {
                for (int kx = 0; kx < 3; kx++) {
                  int iy = oy + ky - 1;
                  int ix = ox + kx - 1;
                  if (iy >= 0 && iy < 4 && ix >= 0 && ix < 5) {
                    sum += w[((co * 2 + ci) * 3 + ky) * 3 + kx]
                        * x.data()[((n * 2 + ci) * 4 + iy) * 5 + ix];
                  }
                }
              }
            }
            assertThat((double) y.data()[((n * 3 + co) * 4 + oy) * 5 + ox]).isCloseTo(sum,
                within(1e-5));
          }
        }
      }
    }
  }

  @Test
  void linearOnFlattenedInput() {
    Random random = new Random(4);
    Linear linear = new Linear(2 * 3 * 2, 5, random);
    GradientCheck.check(linear, GradientCheck.randomTensor(Shape.of(4, 2, 3, 2), random), random,
        80, 2e-3);
  }

  @Test
  void reluAwayFromTheKink() {
    Random random = new Random(5);
    Tensor x = GradientCheck.randomTensor(Shape.of(3, 4), random);
    for (int i = 0; i < x.data().length; i++) {
      // keep |x| > 5h so that the +-h step never crosses 0
      x.data()[i] = Math.copySign(0.05f + Math.abs(x.data()[i]), x.data()[i]);
    }
    GradientCheck.check(new Relu(), x, random, 100, 1e-3);
  }

  @Test
  void maxPoolWithDistinctValues() {
    Random random = new Random(6);
    Shape shape = Shape.of(2, 3, 4, 6);
    // Values 0.05 apart: the +-h step never changes which input is the maximum.
    List<Integer> ranks = new ArrayList<>();
    for (int i = 0; i < shape.numel(); i++) {
      ranks.add(i);
    }
    Collections.shuffle(ranks, random);
    Tensor x = Tensor.zeros(shape);
    for (int i = 0; i < shape.numel(); i++) {
      x.data()[i] = 0.05f * ranks.get(i) - 3f;
    }
    GradientCheck.check(new MaxPool2d(), x, random, 200, 1e-3);
  }

  @Test
  void maxPoolDropsAnOddLastRowAndColumn() {
    Tensor x = Tensor.of(Shape.of(1, 1, 3, 3), new float[] {1, 2, 9, 4, 3, 9, 9, 9, 9});
    Tensor y = new MaxPool2d().forward(x);
    assertThat(y.shape()).isEqualTo(Shape.of(1, 1, 1, 1));
    assertThat(y.data()).containsExactly(4f);
  }

  @Test
  void batchNormLayerInTrainingMode() {
    Random random = new Random(7);
    BatchNormLayer bn = new BatchNormLayer(new BatchNorm2d(3));
    // Non-trivial gamma and beta so that their gradients and the scaling are both exercised.
    for (int c = 0; c < 3; c++) {
      bn.module().weight()[c] = 0.5f + c;
      bn.module().bias()[c] = c - 1f;
    }
    Tensor x = GradientCheck.randomTensor(Shape.of(4, 3, 3, 3), random);
    GradientCheck.check(bn, x, random, 80, 3e-3);
  }

  @Test
  void softmaxCrossEntropyGradient() {
    Random random = new Random(8);
    Tensor logits = GradientCheck.randomTensor(Shape.of(5, 10), random);
    int[] labels = {0, 3, 9, 3, 7};
    Tensor grad = SoftmaxCrossEntropy.compute(logits, labels).gradLogits();
    GradientCheck.compare("dloss/dlogits", logits.data(), grad.data(),
        () -> SoftmaxCrossEntropy.compute(logits, labels).loss(), random, 50, 1e-3);
  }

  @Test
  void softmaxCrossEntropyValueAndStability() {
    // Uniform logits: p = 1/K for every class, so the loss is log K.
    Tensor uniform = Tensor.of(Shape.of(2, 4), new float[8]);
    assertThat(SoftmaxCrossEntropy.compute(uniform, new int[] {1, 2}).loss())
        .isCloseTo(Math.log(4), within(1e-12));
    // Huge logits must not overflow: the right class wins by 1000, so the loss is ~0.
    Tensor huge = Tensor.of(Shape.of(1, 3), new float[] {1e4f, 1e4f - 1000, 1e4f - 1000});
    assertThat(SoftmaxCrossEntropy.compute(huge, new int[] {0}).loss())
        .isCloseTo(0, within(1e-12));
  }

  @Test
  void sgdWithMomentumFollowsPytorchsRule() {
    Param p = Param.of("p", new float[] {1f});
    Sgd sgd = new Sgd(List.of(p), 0.1, 0.9);
    p.grad()[0] = 2f; // first step: v = g = 2, p = 1 - 0.2
    sgd.step();
    assertThat(p.value()[0]).isCloseTo(0.8f, within(1e-6f));
    p.grad()[0] = 1f; // v = 0.9 * 2 + 1 = 2.8, p = 0.8 - 0.28
    sgd.step();
    assertThat(p.value()[0]).isCloseTo(0.52f, within(1e-6f));
    sgd.zeroGrad();
    assertThat(p.grad()[0]).isZero();
  }

  @Test
  void wholeNetworkGradientAlongRandomDirections() {
    // The layers are checked one by one above; this checks that SmallCnn chains them correctly,
    // with and without batch norm, through the directional derivative of the real loss:
    // (L(theta + h d) - L(theta - h d)) / 2h must equal grad . d for a random direction d.
    for (boolean withBn : new boolean[] {false, true}) {
      Random random = new Random(withBn ? 10 : 9);
      SmallCnn net = new SmallCnn(withBn, new int[] {3, 4}, new boolean[] {true, true}, 42);
      Tensor images = GradientCheck.randomTensor(Shape.of(6, 1, 28, 28), random);
      int[] labels = {0, 1, 2, 3, 4, 5};
      List<Param> params = net.params();
      for (Param p : params) {
        p.zeroGrad();
      }
      SoftmaxCrossEntropy.Result result =
          SoftmaxCrossEntropy.compute(net.forward(images), labels);
      net.backward(result.gradLogits());
      for (int trial = 0; trial < 3; trial++) {
        // A random direction of length 1, so that a step h moves the parameters by exactly h.
        float[][] direction = new float[params.size()][];
        double norm = 0;
        for (int k = 0; k < params.size(); k++) {
          direction[k] = new float[params.get(k).value().length];
          for (int i = 0; i < direction[k].length; i++) {
            direction[k][i] = (float) random.nextGaussian();
            norm += direction[k][i] * direction[k][i];
          }
        }
        double directional = 0;
        for (int k = 0; k < params.size(); k++) {
          for (int i = 0; i < direction[k].length; i++) {
            direction[k][i] /= (float) Math.sqrt(norm);
            directional += (double) direction[k][i] * params.get(k).grad()[i];
          }
        }
        double h = 1e-2;
        double plus = lossAfterShift(net, params, direction, h, images, labels);
        double minus = lossAfterShift(net, params, direction, -h, images, labels);
        lossAfterShift(net, params, direction, 0, images, labels);
        double numeric = (plus - minus) / (2 * h);
        assertThat(directional)
            .as("directional derivative, batch norm %s", withBn)
            .isCloseTo(numeric, within(2e-3 + 1e-2 * Math.abs(numeric)));
      }
    }
  }

  /** Sets theta + shift * d (from the gradients' point theta), returns the loss; shift 0 restores. */
  private static double lossAfterShift(SmallCnn net, List<Param> params, float[][] direction,
      double shift, Tensor images, int[] labels) {
    for (int k = 0; k < params.size(); k++) {
      float[] v = params.get(k).value();
      float[] base = originals.computeIfAbsent(v, a -> a.clone());
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) (base[i] + shift * direction[k][i]);
      }
    }
    return SoftmaxCrossEntropy.compute(net.forward(images), labels).loss();
  }

  private static final java.util.IdentityHashMap<float[], float[]> originals =
      new java.util.IdentityHashMap<>();
}
