package io.github.batchnorm4j;

import static io.github.batchnorm4j.testing.TorchTolerances.assertOutput;
import static io.github.batchnorm4j.testing.TorchTolerances.assertParameterGradient;
import static io.github.batchnorm4j.testing.TorchTolerances.assertRunningStat;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.batchnorm4j.safetensors.SafeTensors;
import io.github.batchnorm4j.testing.Fixtures;
import io.github.batchnorm4j.testing.Modules;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link SyncBatchNorm} against real PyTorch: the plain modules' golden fixtures (computed by
 * libtorch 2.7.1 on one whole batch, src/test/resources/torch-fixtures) replayed with the batch
 * split among workers, which is what PyTorch's SyncBatchNorm computes over data-parallel replicas.
 * Each worker's y and dx are its rows of PyTorch's, the workers' parameter-gradient shares add up
 * to PyTorch's dweight and dbias, and every replica's running statistics and batch count are
 * PyTorch's, with the tolerances of {@link io.github.batchnorm4j.testing.TorchTolerances}. The
 * splits: two workers with about half each, three with one of them empty, and two with all the
 * batch on the first (the one split large enough for the Vector API kernels in one case). Cases with tracked
 * running statistics and at least two samples (untracked modules normalize eval batches with each
 * worker's own statistics in PyTorch's SyncBatchNorm, not with the whole batch's).
 */
class PyTorchSyncFixturesTest {

  private static final String DIR = "/torch-fixtures/";

  static Stream<Arguments> cases() {
    List<Arguments> out = new ArrayList<>();
    for (String file : PyTorchGoldenFixturesTest.cases()) {
      Map<String, String> meta = Fixtures.readResource(DIR + file).metadata();
      int n = Integer.parseInt(meta.get("shape").split(",")[0]);
      if (n < 2 || !Boolean.parseBoolean(meta.get("track"))) {
        continue;
      }
      out.add(Arguments.of(file, new int[] {n - n / 2, n / 2}));
      out.add(Arguments.of(file, new int[] {n - 1, 0, 1}));
      // all on one worker: the only split whose local batch (4,420 values in 2d_defaults) reaches
      // KernelInfo.minVectorElements(), so the Vector API kernels run where the JVM has them
      out.add(Arguments.of(file, new int[] {n, 0}));
    }
    return out.stream();
  }

  @org.junit.jupiter.api.Test
  void oneSplitReachesTheVectorKernelsSize() {
    assertThat(cases().mapToInt(a -> {
      Map<String, String> meta = Fixtures.readResource(DIR + a.get()[0]).metadata();
      int[] local = (int[]) a.get()[1];
      int[] shape = Arrays.stream(meta.get("shape").split(",")).mapToInt(Integer::parseInt)
          .toArray();
      return local[0] * Arrays.stream(shape).skip(1).reduce(1, (x, y) -> x * y);
    }).max().getAsInt()).isGreaterThanOrEqualTo(KernelInfo.minVectorElements());
  }

  @ParameterizedTest(name = "{0}, samples per worker {1}")
  @MethodSource("cases")
  void workersTogetherGivePyTorchsWholeBatchResults(String file, int[] local) {
    SafeTensors st = Fixtures.readResource(DIR + file);
    Map<String, String> meta = st.metadata();
    String caseName = meta.get("case");
    int[] shape = Arrays.stream(meta.get("shape").split(",")).mapToInt(Integer::parseInt).toArray();
    int channels = shape[1];
    double eps = Double.parseDouble(meta.get("eps"));
    Double momentum = meta.get("momentum").equals("none") ? null
        : Double.valueOf(meta.get("momentum"));
    boolean affine = Boolean.parseBoolean(meta.get("affine"));
    int k = local.length;
    int[] starts = new int[k + 1];
    for (int r = 0; r < k; r++) {
      starts[r + 1] = starts[r] + local[r];
    }
    assertThat(starts[k]).isEqualTo(shape[0]);

    InProcessExchange group = InProcessExchange.create(k, Duration.ofSeconds(30));
    List<BatchNorm> replicas = new ArrayList<>();
    List<SyncBatchNorm> sync = new ArrayList<>();
    for (int r = 0; r < k; r++) {
      BatchNorm m = Modules.build(meta.get("kind"), channels, eps, momentum, affine, true);
      if (affine) {
        System.arraycopy(st.get("init.weight").toFloatArray(), 0, m.weight(), 0, channels);
        System.arraycopy(st.get("init.bias").toFloatArray(), 0, m.bias(), 0, channels);
      }
      replicas.add(m);
      sync.add(new SyncBatchNorm(m, group.worker(r)));
    }
    int steps = Integer.parseInt(meta.get("steps"));
    for (int step = 0; step <= steps; step++) {
      boolean eval = step == steps;
      String p = eval ? "eval" : "step" + step;
      String at = caseName + " on " + Arrays.toString(local) + " " + p + " ";
      for (BatchNorm m : replicas) {
        if (eval) {
          m.eval();
        }
        m.zeroGrad();
      }
      float[] x = st.get(p + ".x").toFloatArray();
      float[] dy = st.get(p + ".dy").toFloatArray();
      float[][] yAndDx = SyncBatchNormTest.forwardBackwardOnWorkers(sync, shape, starts, x, dy);
      float[] y = yAndDx[0];
      float[] dx = yAndDx[1];
      assertOutput(at + "y", shape, st.get(p + ".y").toFloatArray(), y);
      assertOutput(at + "dx", shape, st.get(p + ".dx").toFloatArray(), dx);
      if (affine) {
        // Data-parallel training adds the workers' shares (an all-reduce of the gradients).
        float[] dweight = new float[channels];
        float[] dbias = new float[channels];
        for (BatchNorm m : replicas) {
          for (int c = 0; c < channels; c++) {
            dweight[c] += m.weightGrad()[c];
            dbias[c] += m.biasGrad()[c];
          }
        }
        assertParameterGradient(at + "dweight", st.get(p + ".dweight").toFloatArray(), dweight);
        assertParameterGradient(at + "dbias", st.get(p + ".dbias").toFloatArray(), dbias);
      }
      for (int r = 0; r < k; r++) {
        BatchNorm m = replicas.get(r);
        assertRunningStat(at + "worker " + r + " running_mean",
            st.get(p + ".running_mean").toFloatArray(), m.runningMean());
        assertRunningStat(at + "worker " + r + " running_var",
            st.get(p + ".running_var").toFloatArray(), m.runningVar());
        assertThat(m.numBatchesTracked()).as(at + "worker " + r + " num_batches_tracked")
            .isEqualTo(st.get(p + ".num_batches_tracked").longValue());
      }
    }
  }
}
