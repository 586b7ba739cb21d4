package io.github.batchnorm4j.djl;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.norm.BatchNorm;
import ai.djl.training.ParameterStore;
import io.github.batchnorm4j.BatchNorm2d;
import io.github.batchnorm4j.Shape;
import io.github.batchnorm4j.Tensor;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * docs/frameworks.md, run: NDArray to NCHW float[] and back, and a batchnorm4j module as a DJL
 * block next to DJL's own batch norm (libtorch 2.7.1 through DJL's PyTorch engine, offline).
 */
class LiveDjlFrameworksTest {

  private static NDManager manager;

  @BeforeAll
  static void open() {
    if (System.getProperty("ai.djl.offline") == null) {
      System.setProperty("ai.djl.offline", "true");
    }
    manager = Engine.getEngine("PyTorch").newBaseManager(Device.cpu());
  }

  @AfterAll
  static void close() {
    manager.close();
  }

  private static NDArray randomInput(long seed) {
    SplittableRandom rnd = new SplittableRandom(seed);
    float[] v = new float[4 * 3 * 5 * 6];
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) (2 + 3 * rnd.nextGaussian());
    }
    return manager.create(v, new ai.djl.ndarray.types.Shape(4, 3, 5, 6));
  }

  @Test
  void ndArraysAndTensorsConvertBothWaysExactly() {
    NDArray x = randomInput(1);
    Tensor t = NdArrays.toTensor(x);
    assertThat(t.shape()).isEqualTo(Shape.of(4, 3, 5, 6));
    assertThat(t.data()).containsExactly(x.toFloatArray());
    // element (n=1, c=2, h=3, w=4) is at ((1 * 3 + 2) * 5 + 3) * 6 + 4 in both
    assertThat(t.data()[((1 * 3 + 2) * 5 + 3) * 6 + 4]).isEqualTo(x.getFloat(1, 2, 3, 4));
    NDArray back = NdArrays.toNdArray(manager, t);
    assertThat(back.getShape()).isEqualTo(x.getShape());
    assertThat(back.toFloatArray()).containsExactly(x.toFloatArray());
  }

  /** The wrapped module next to DJL's PyTorch batch norm, training then eval, in a sequential model. */
  @Test
  void aModuleWrappedAsABlockMatchesDjlsBatchNorm() {
    BatchNorm2d bn = new BatchNorm2d(3);
    for (int c = 0; c < 3; c++) {
      bn.weight()[c] = 0.5f + c;
      bn.bias()[c] = -1f + c;
    }
    SequentialBlock model = new SequentialBlock().add(new BatchNormBlock(bn));
    ParameterStore store = new ParameterStore(manager, false);

    NDArray gamma = manager.create(bn.weight().clone());
    NDArray beta = manager.create(bn.bias().clone());
    NDArray runningMean = manager.zeros(new ai.djl.ndarray.types.Shape(3));
    NDArray runningVar = manager.ones(new ai.djl.ndarray.types.Shape(3));

    for (int step = 0; step < 3; step++) {
      NDArray x = randomInput(10 + step);
      NDArray ours = model.forward(store, new NDList(x), true).singletonOrThrow();
      // DJL's momentum is the Keras/MXNet one (weight of the old value): 0.9 is PyTorch's 0.1.
      NDArray theirs = BatchNorm.batchNorm(x, runningMean, runningVar, gamma, beta, 1, 0.9f, 1e-5f,
          true).singletonOrThrow();
      assertClose(ours.toFloatArray(), theirs.toFloatArray(), 2e-5);
      assertClose(bn.runningMean(), runningMean.toFloatArray(), 2e-5);
      assertClose(bn.runningVar(), runningVar.toFloatArray(), 2e-5);
    }
    NDArray x = randomInput(20);
    NDArray ours = model.forward(store, new NDList(x), false).singletonOrThrow();
    NDArray theirs = BatchNorm.batchNorm(x, runningMean, runningVar, gamma, beta, 1, 0.9f, 1e-5f,
        false).singletonOrThrow();
    assertThat(bn.isTraining()).isFalse();
    assertClose(ours.toFloatArray(), theirs.toFloatArray(), 2e-5);
  }

  private static void assertClose(float[] actual, float[] expected, double tolerance) {
    assertThat(actual).hasSameSizeAs(expected);
    for (int i = 0; i < actual.length; i++) {
      assertThat((double) actual[i]).as("element %d", i)
          .isCloseTo(expected[i], org.assertj.core.data.Offset.offset(tolerance * Math.max(1, Math.abs(expected[i]))));
    }
  }
}
