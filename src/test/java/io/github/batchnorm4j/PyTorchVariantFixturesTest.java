package io.github.batchnorm4j;

import static io.github.batchnorm4j.testing.TorchTolerances.assertOutput;
import static io.github.batchnorm4j.testing.TorchTolerances.assertParameterGradient;
import static io.github.batchnorm4j.testing.TorchTolerances.assertRunningStat;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.batchnorm4j.safetensors.SafeTensors;
import io.github.batchnorm4j.testing.Fixtures;
import io.github.batchnorm4j.testing.TorchTolerances;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.opentest4j.AssertionFailedError;

/**
 * Replays what real PyTorch (libtorch 2.7.1, CPU, float32) computed for channels-last data and for
 * a ReLU after the batch norm (src/test/resources/torch-variant-fixtures, written by {@code
 * GenerateTorchVariantFixtures}) through {@code BatchNorm2d} with {@link Layout#CHANNELS_LAST} and
 * {@link Activation#RELU}: two training steps and an eval step, each compared in y, dx, dgamma,
 * dbeta and the running statistics, with the tolerances of {@link TorchTolerances}, at 1 and 2
 * threads and the default. The plain module is covered by {@link PyTorchGoldenFixturesTest}; the
 * live suite ({@code -Ppytorch}, LiveInteropTest) runs the same comparison against libtorch itself.
 */
class PyTorchVariantFixturesTest {

  private static final String DIR = "/torch-variant-fixtures/";

  static List<String> cases() {
    return Fixtures.index(DIR);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void replaysPyTorchStepByStep(String file) {
    SafeTensors st = Fixtures.readResource(DIR + file);
    Layout layout = layout(st.metadata());
    Activation activation = activation(st.metadata());
    for (int threads : new int[] {1, 2, 0}) {
      replay(st, layout, activation, threads);
    }
  }

  /**
   * The comparison is strict enough to tell the variants apart: the same data run with the other
   * layout, or without the ReLU, fails it.
   */
  @Test
  void aModuleWithTheWrongLayoutOrActivationFails() {
    SafeTensors last = Fixtures.readResource(DIR + fileOf("channels_last_relu_2x20"));
    assertThatThrownBy(() -> replay(last, Layout.CHANNELS_FIRST, Activation.RELU, 1))
        .isInstanceOf(AssertionFailedError.class);
    assertThatThrownBy(() -> replay(last, Layout.CHANNELS_LAST, Activation.NONE, 1))
        .isInstanceOf(AssertionFailedError.class);
  }

  /** The fixtures cover what they claim, and the ReLU masks part of every output. */
  @Test
  void fixturesCoverBothLayoutsWithAndWithoutTheRelu() {
    java.util.Set<String> variants = new java.util.TreeSet<>();
    for (String file : cases()) {
      SafeTensors st = Fixtures.readResource(DIR + file);
      Map<String, String> meta = st.metadata();
      variants.add(meta.get("layout") + "/" + meta.get("activation"));
      assertThat(meta.get("torch")).as(file).startsWith("libtorch 2.7.1");
      if (activation(meta) == Activation.RELU) {
        for (String p : new String[] {"step0", "step1", "eval"}) {
          float[] y = st.get(p + ".y").toFloatArray();
          long zeros = 0;
          for (float v : y) {
            zeros += v == 0 ? 1 : 0;
          }
          assertThat(zeros).as(file + " " + p + ": values the ReLU set to 0")
              .isBetween(y.length / 20L, y.length - y.length / 20L);
        }
      }
    }
    assertThat(variants).containsExactlyInAnyOrder("channels_last/none", "channels_last/relu",
        "channels_first/relu");
    // One shape runs on the Vector API kernels where the JVM has them, one on the scalar ones.
    java.util.Set<Boolean> vectorSized = new java.util.TreeSet<>();
    for (String file : cases()) {
      int values = Arrays.stream(Fixtures.readResource(DIR + file).metadata().get("shape")
          .split(",")).mapToInt(Integer::parseInt).reduce(1, (a, b) -> a * b);
      vectorSized.add(values >= KernelInfo.minVectorElements());
    }
    assertThat(vectorSized).containsExactly(false, true);
  }

  private static void replay(SafeTensors st, Layout layout, Activation activation, int threads) {
    Map<String, String> meta = st.metadata();
    int[] nchw = Arrays.stream(meta.get("shape").split(",")).mapToInt(Integer::parseInt).toArray();
    int c = nchw[1];
    Shape shape = layout == Layout.CHANNELS_LAST ? Shape.of(nchw[0], nchw[2], nchw[3], c)
        : Shape.of(nchw);
    BatchNorm.Builder<BatchNorm2d> b = BatchNorm2d.builder(c).layout(layout).activation(activation)
        .momentum(Double.parseDouble(meta.get("momentum"))).eps(Double.parseDouble(meta.get("eps")));
    BatchNorm2d bn = threads == 0 ? b.build() : b.threads(threads).build();
    System.arraycopy(st.get("init.weight").toFloatArray(), 0, bn.weight(), 0, c);
    System.arraycopy(st.get("init.bias").toFloatArray(), 0, bn.bias(), 0, c);
    for (String p : new String[] {"step0", "step1", "eval"}) {
      if (p.equals("eval")) {
        bn.eval();
      }
      String at = meta.get("case") + " as " + layout + "/" + activation + ", threads "
          + (threads == 0 ? "default" : threads) + ", " + p + " ";
      int[] dims = shape.toArray();
      bn.zeroGrad();
      float[] y = bn.forward(Tensor.of(shape, st.get(p + ".x").toFloatArray())).data();
      assertOutput(at + "y", dims, st.get(p + ".y").toFloatArray(), y);
      float[] dx = bn.backward(Tensor.of(shape, st.get(p + ".dy").toFloatArray())).data();
      assertOutput(at + "dx", dims, st.get(p + ".dx").toFloatArray(), dx);
      assertParameterGradient(at + "dweight", st.get(p + ".dweight").toFloatArray(),
          bn.weightGrad());
      assertParameterGradient(at + "dbias", st.get(p + ".dbias").toFloatArray(), bn.biasGrad());
      assertRunningStat(at + "running_mean", st.get(p + ".running_mean").toFloatArray(),
          bn.runningMean());
      assertRunningStat(at + "running_var", st.get(p + ".running_var").toFloatArray(),
          bn.runningVar());
    }
  }

  private static String fileOf(String prefix) {
    return cases().stream().filter(f -> f.substring(3).startsWith(prefix)).findFirst()
        .orElseThrow();
  }

  private static Layout layout(Map<String, String> meta) {
    return meta.get("layout").equals("channels_last") ? Layout.CHANNELS_LAST
        : Layout.CHANNELS_FIRST;
  }

  private static Activation activation(Map<String, String> meta) {
    return meta.get("activation").equals("relu") ? Activation.RELU : Activation.NONE;
  }
}
