package io.github.batchnorm4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.batchnorm4j.testing.TestData;
import java.util.Arrays;
import java.util.List;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Every bad input is an IllegalArgumentException naming the argument, the expected and the actual
 * value and the shape, and leaves the module exactly as it was: parameters, gradients, running
 * statistics, the counter, and the saved forward (a backward still works afterwards).
 */
class BadInputTest {

  private BatchNorm2d bn;
  private Tensor x;
  private Tensor dy;
  private float[] dxOfSavedForward;

  @BeforeEach
  void trainedModuleWithASavedForward() {
    bn = new BatchNorm2d(4);
    x = Tensor.of(Shape.of(2, 4, 8, 8), TestData.gaussian(
        TestData.rng(1), 2 * 4 * 8 * 8, 1, 0.5));
    dy = Tensor.of(x.shape(), TestData.gaussian(
        TestData.rng(2), x.shape().numel(), 1, 0));
    bn.forward(x);
    dxOfSavedForward = bn.backward(dy).data();
  }

  /** Everything observable about the module's state. */
  private List<Object> state() {
    return List.of(Arrays.toString(bn.weight()), Arrays.toString(bn.bias()),
        Arrays.toString(bn.weightGrad()), Arrays.toString(bn.biasGrad()),
        Arrays.toString(bn.runningMean()), Arrays.toString(bn.runningVar()),
        bn.numBatchesTracked(), bn.isTraining());
  }

  private void assertRejectedWithoutChange(ThrowingCallable call, String message) {
    List<Object> before = state();
    assertThatThrownBy(call).isInstanceOf(IllegalArgumentException.class).hasMessage(message);
    assertThat(state()).as("state after the rejected call").isEqualTo(before);
    // The saved forward survived: backward still works and gives the same dx as right after it.
    assertThat(bn.backward(dy).data()).containsExactly(dxOfSavedForward);
  }

  @Test
  void wrongChannelCount() {
    assertRejectedWithoutChange(() -> bn.forward(Tensor.zeros(Shape.of(2, 3, 8, 8))),
        "input has 3 channels but BatchNorm2d was built for 4; input shape (2, 3, 8, 8)");
  }

  @Test
  void wrongRank() {
    assertRejectedWithoutChange(() -> bn.forward(Tensor.zeros(Shape.of(2, 4, 64))),
        "input has rank 3 but BatchNorm2d expects rank 4 (N, C, H, W); input shape (2, 4, 64)");
    assertRejectedWithoutChange(() -> bn.forward(Tensor.zeros(Shape.of(2))),
        "input has rank 1 but BatchNorm2d expects rank 4 (N, C, H, W); input shape (2)");
  }

  @Test
  void nullInputAndOutput() {
    assertRejectedWithoutChange(() -> bn.forward(null), "input must not be null");
    assertRejectedWithoutChange(() -> bn.forward(x, null),
        "out must not be null; input shape (2, 4, 8, 8)");
    assertRejectedWithoutChange(() -> bn.backward(null),
        "gradOutput must not be null; input shape (2, 4, 8, 8)");
    assertRejectedWithoutChange(() -> bn.backward(dy, null),
        "gradInput must not be null; input shape (2, 4, 8, 8)");
  }

  @Test
  void outputShapeDiffersFromInput() {
    assertRejectedWithoutChange(() -> bn.forward(x, Tensor.zeros(Shape.of(2, 4, 8, 9))),
        "out has shape (2, 4, 8, 9) but the input had shape (2, 4, 8, 8)");
  }

  @Test
  void gradOutputShapeDiffersFromTheForwardInput() {
    assertRejectedWithoutChange(() -> bn.backward(Tensor.zeros(Shape.of(2, 4, 8, 9))),
        "gradOutput has shape (2, 4, 8, 9) but the input of the last forward had shape (2, 4, 8, 8)");
    assertRejectedWithoutChange(() -> bn.backward(dy, Tensor.zeros(Shape.of(4, 4, 8, 8))),
        "gradInput has shape (4, 4, 8, 8) but the input of the last forward had shape"
            + " (2, 4, 8, 8)");
  }

  @Test
  void oneValuePerChannelInTraining() {
    assertRejectedWithoutChange(() -> bn.forward(Tensor.zeros(Shape.of(1, 4, 1, 1))),
        "expected more than 1 value per channel when training, but the input has N * spatial = 1"
            + " value per channel; input shape (1, 4, 1, 1)");
  }

  @Test
  void dataLengthDiffersFromShape() {
    assertThatThrownBy(() -> Tensor.of(Shape.of(2, 4, 8, 8), new float[10]))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("data has length 10 but shape (2, 4, 8, 8) needs 512 elements");
  }

  @Test
  void badHyperparametersAtBuild() {
    assertThatThrownBy(() -> BatchNorm2d.builder(4).eps(0).build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("eps must be finite and > 0 but is 0.0 (BatchNorm2d)");
    assertThatThrownBy(() -> BatchNorm2d.builder(4).eps(-1).build())
        .hasMessage("eps must be finite and > 0 but is -1.0 (BatchNorm2d)");
    assertThatThrownBy(() -> BatchNorm2d.builder(4).eps(Double.NaN).build())
        .hasMessage("eps must be finite and > 0 but is NaN (BatchNorm2d)");
    assertThatThrownBy(() -> BatchNorm1d.builder(4).eps(Double.POSITIVE_INFINITY).build())
        .hasMessage("eps must be finite and > 0 but is Infinity (BatchNorm1d)");
    assertThatThrownBy(() -> BatchNorm3d.builder(4).momentum(1.5).build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("momentum must be in [0, 1] but is 1.5 (BatchNorm3d)");
    assertThatThrownBy(() -> BatchNorm3d.builder(4).momentum(-0.1).build())
        .hasMessage("momentum must be in [0, 1] but is -0.1 (BatchNorm3d)");
    assertThatThrownBy(() -> BatchNorm3d.builder(4).momentum(Double.NaN).build())
        .hasMessage("momentum must be in [0, 1] but is NaN (BatchNorm3d)");
    assertThatThrownBy(() -> BatchNorm2d.builder(0).build())
        .hasMessage("numFeatures must be >= 1 but is 0 (BatchNorm2d)");
    assertThatThrownBy(() -> new BatchNorm2d(-3))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("numFeatures must be >= 1 but is -3 (BatchNorm2d)");
    assertThatThrownBy(() -> BatchNorm2d.builder(4).threads(-1).build())
        .hasMessage("threads must be >= 1, or 0 (AUTO_THREADS) for the automatic default, but is"
            + " -1 (BatchNorm2d)");
    // cumulativeMovingAverage ignores a momentum set before it; momentum() after it undoes it
    assertThat(BatchNorm2d.builder(4).momentum(0.5).cumulativeMovingAverage().build().momentum())
        .isEmpty();
    assertThat(BatchNorm2d.builder(4).cumulativeMovingAverage().momentum(0.5).build().momentum())
        .hasValue(0.5);
  }

  @Test
  void badCheckpointCounter() {
    assertRejectedWithoutChange(() -> bn.setNumBatchesTracked(-1),
        "numBatchesTracked must be >= 0 but is -1");
  }

  /** Small public types: null components and a rank without a channel axis. */
  @Test
  void valueTypesRejectNullsAndLayoutsARankBelowTwo() {
    assertThatThrownBy(() -> new BatchNormFolding.Folded(null, new float[1]))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("weight and bias must not be null but weight is null");
    assertThatThrownBy(() -> new IncompatibleKeys(null, List.of()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("must be lists without null but are null and []");
    assertThatThrownBy(() -> new IncompatibleKeys(Arrays.asList("a", null), List.of()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("must be lists without null but are [a, null] and []");
    IncompatibleKeys keys = new IncompatibleKeys(List.of("weight"), List.of()); // immutable lists
    assertThat(new IncompatibleKeys(keys.missingKeys(), keys.unexpectedKeys())).isEqualTo(keys);
    assertThatThrownBy(() -> Layout.CHANNELS_LAST.channelAxis(1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("rank must be >= 2 (a batch axis and a channel axis) but is 1 (CHANNELS_LAST)");
    assertThat(Layout.CHANNELS_LAST.channelAxis(4)).isEqualTo(3);
    assertThat(Layout.CHANNELS_FIRST.channelAxis(2)).isEqualTo(1);
  }

  /** The functional forward's batch statistics must not be written over the running ones. */
  @Test
  void savedAndRunningStatisticsMustNotShareArrays() {
    float[] mean = {0, 0};
    float[] var = {1, 1};
    float[] x = {1, 2, 3, 5};
    Shape shape = Shape.of(2, 2);
    ChannelStatistics running = new ChannelStatistics(mean, var);
    float[] other = new float[2];
    for (BatchStatistics saved : List.of(new BatchStatistics(mean, other),
        new BatchStatistics(var, other), new BatchStatistics(other, mean),
        new BatchStatistics(other, var))) {
      assertThatThrownBy(() -> BatchNormFunctional.forwardTraining(BatchNormOptions.defaults(),
          shape, x, new float[4], null, running, 0.1, saved))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("saved and running must not share arrays; input shape (2, 2)");
    }
    assertThat(mean).containsExactly(0, 0);
    assertThat(var).containsExactly(1, 1);
  }
}
