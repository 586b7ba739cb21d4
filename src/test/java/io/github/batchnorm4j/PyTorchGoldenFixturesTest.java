package io.github.batchnorm4j;

import static io.github.batchnorm4j.testing.TorchTolerances.assertOutput;
import static io.github.batchnorm4j.testing.TorchTolerances.assertParameterGradient;
import static io.github.batchnorm4j.testing.TorchTolerances.assertRunningStat;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.batchnorm4j.testing.Modules;
import io.github.batchnorm4j.safetensors.SafeTensors;
import io.github.batchnorm4j.testing.Fixtures;
import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Replays the golden fixtures that real PyTorch (libtorch 2.7.1, CPU, float32) computed, in
 * src/test/resources/torch-fixtures (see the README there and GenerateTorchFixtures), through
 * batchnorm4j, step by step: for every training step and the final eval step, y, dx, the step's
 * parameter gradients, the running statistics and the batch counter. Tolerances are those of
 * {@link io.github.batchnorm4j.testing.TorchTolerances}.
 *
 * <p>PyTorch's gradients in the fixtures are per step (fresh .grad); batchnorm4j accumulates, so
 * the replay calls zeroGrad() before each step. Odd steps use the allocation-free forward(x, out) to
 * cover both entry points.
 */
class PyTorchGoldenFixturesTest {

  private static final String DIR = "/torch-fixtures/";

  static List<String> cases() {
    return Fixtures.index(DIR);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void replaysPyTorchStepByStep(String file) {
    SafeTensors st = Fixtures.readResource(DIR + file);
    Map<String, String> meta = st.metadata();
    String caseName = meta.get("case");
    int[] shape = Arrays.stream(meta.get("shape").split(",")).mapToInt(Integer::parseInt).toArray();
    int channels = Integer.parseInt(meta.get("num_features"));
    double eps = Double.parseDouble(meta.get("eps"));
    Double momentum = meta.get("momentum").equals("none") ? null : Double.valueOf(meta.get("momentum"));
    boolean affine = Boolean.parseBoolean(meta.get("affine"));
    boolean track = Boolean.parseBoolean(meta.get("track"));
    int steps = Integer.parseInt(meta.get("steps"));
    assertThat(shape[1]).as(caseName + ": channels").isEqualTo(channels);
    assertThat(Modules.kindOfRank(shape.length)).as(caseName + ": kind").isEqualTo(meta.get("kind"));

    BatchNorm bn = Modules.build(meta.get("kind"), channels, eps, momentum, affine, track);
    assertThat(bn.isAffine()).as(caseName).isEqualTo(affine);
    assertThat(bn.tracksRunningStats()).as(caseName).isEqualTo(track);

    // Initial state: parameters are the case's (copied in); running statistics must already match
    // PyTorch's initial buffers.
    if (affine) {
      System.arraycopy(st.get("init.weight").toFloatArray(), 0, bn.weight(), 0, channels);
      System.arraycopy(st.get("init.bias").toFloatArray(), 0, bn.bias(), 0, channels);
    } else {
      assertThat(bn.weight()).as(caseName + ": weight of a non-affine module").isNull();
    }
    if (track) {
      assertThat(bn.runningMean()).as(caseName + ": initial running_mean").containsExactly(st.get("init.running_mean").toFloatArray());
      assertThat(bn.runningVar()).as(caseName + ": initial running_var").containsExactly(st.get("init.running_var").toFloatArray());
      assertThat(bn.numBatchesTracked()).as(caseName + ": initial num_batches_tracked")
          .isEqualTo(st.get("init.num_batches_tracked").longValue());
    } else {
      assertThat(bn.runningMean()).as(caseName + ": running_mean without tracking").isNull();
    }

    for (int k = 0; k < steps; k++) {
      bn.train();
      replayStep(st, "step" + k, caseName, shape, bn, affine, track, k % 2 == 1);
    }
    bn.eval();
    replayStep(st, "eval", caseName, shape, bn, affine, track, false);
  }

  private static void replayStep(
      SafeTensors st, String p, String caseName, int[] shape, BatchNorm bn, boolean affine,
      boolean track, boolean intoOutput) {
    String at = caseName + " " + p + " ";
    float[] x = st.get(p + ".x").toFloatArray();
    float[] xCopy = x.clone();
    float[] dy = st.get(p + ".dy").toFloatArray();
    Shape s = Shape.of(shape);
    bn.zeroGrad();
    Tensor y;
    if (intoOutput) {
      y = Tensor.zeros(s);
      bn.forward(Tensor.of(s, x), y);
    } else {
      y = bn.forward(Tensor.of(s, x));
    }
    assertThat(y.shape()).as(at + "y shape").isEqualTo(s);
    assertOutput(at + "y", shape, st.get(p + ".y").toFloatArray(), y.data());
    Tensor dx = bn.backward(Tensor.of(s, dy));
    assertOutput(at + "dx", shape, st.get(p + ".dx").toFloatArray(), dx.data());
    assertThat(x).as(at + "input unchanged").containsExactly(xCopy);
    if (affine) {
      assertParameterGradient(at + "dweight", st.get(p + ".dweight").toFloatArray(), bn.weightGrad());
      assertParameterGradient(at + "dbias", st.get(p + ".dbias").toFloatArray(), bn.biasGrad());
    }
    if (track) {
      assertRunningStat(at + "running_mean", st.get(p + ".running_mean").toFloatArray(), bn.runningMean());
      assertRunningStat(at + "running_var", st.get(p + ".running_var").toFloatArray(), bn.runningVar());
      assertThat(bn.numBatchesTracked()).as(at + "num_batches_tracked")
          .isEqualTo(st.get(p + ".num_batches_tracked").longValue());
    } else {
      assertThat(bn.numBatchesTracked()).as(at + "num_batches_tracked without tracking").isZero();
    }
  }

  /** Guards against a silently thin run: the fixtures must cover what they claim. */
  @Test
  void fixturesCoverTheIntendedConfigurations() throws IOException, URISyntaxException {
    List<String> files = cases();
    assertThat(files).hasSizeGreaterThanOrEqualTo(20).doesNotHaveDuplicates();
    Set<String> kinds = new java.util.TreeSet<>();
    Set<String> momenta = new java.util.TreeSet<>();
    Set<String> epss = new java.util.TreeSet<>();
    Set<Integer> spatialSizes = new java.util.TreeSet<>();
    Set<Integer> channels = new java.util.TreeSet<>();
    Set<Integer> steps = new java.util.TreeSet<>();
    Set<Integer> ranks = new java.util.TreeSet<>();
    boolean noAffine = false;
    boolean untracked = false;
    boolean randomInit = false;
    boolean defaultInit = false;
    long bytes = 0;
    for (String f : files) {
      SafeTensors st = Fixtures.readResource(DIR + f);
      Map<String, String> m = st.metadata();
      kinds.add(m.get("kind"));
      momenta.add(m.get("momentum"));
      epss.add(m.get("eps"));
      int[] shape = Arrays.stream(m.get("shape").split(",")).mapToInt(Integer::parseInt).toArray();
      ranks.add(shape.length);
      channels.add(shape[1]);
      for (int i = 2; i < shape.length; i++) {
        spatialSizes.add(shape[i]);
      }
      steps.add(Integer.parseInt(m.get("steps")));
      noAffine |= m.get("affine").equals("false");
      untracked |= m.get("track").equals("false");
      randomInit |= m.get("init").equals("random");
      defaultInit |= m.get("init").equals("default");
      assertThat(st.contains("eval.y")).as(f + " has an eval step").isTrue();
      try (InputStream in = getClass().getResourceAsStream(DIR + f)) {
        bytes += in.readAllBytes().length;
      }
    }
    assertThat(kinds).containsExactly("1d", "2d", "3d");
    assertThat(ranks).containsExactly(2, 3, 4, 5);
    assertThat(momenta).contains("none", "0.0", "1.0", "0.3", "0.1");
    assertThat(epss).contains("1.0E-5", "0.001");
    assertThat(spatialSizes).contains(1, 3, 7, 13, 17, 207);
    assertThat(channels).contains(1, 16);
    assertThat(steps).contains(1, 2, 3, 4);
    assertThat(noAffine && untracked && randomInit && defaultInit).isTrue();
    assertThat(bytes).as("fixture size").isLessThan(2_000_000L);

    // When the resources are a directory (as in a Maven build), every file must be indexed.
    URL dir = getClass().getResource(DIR);
    if (dir != null && dir.getProtocol().equals("file")) {
      try (Stream<Path> list = Files.list(Paths.get(dir.toURI()))) {
        assertThat(list.map(q -> q.getFileName().toString()).filter(n -> n.endsWith(".safetensors")))
            .as("safetensors files listed in index.txt").containsExactlyInAnyOrderElementsOf(files);
      }
    }
  }
}
