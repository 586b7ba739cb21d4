package io.github.batchnorm4j;

import static io.github.batchnorm4j.testing.TorchTolerances.assertOutput;
import static io.github.batchnorm4j.testing.TorchTolerances.assertParameterGradient;
import static io.github.batchnorm4j.testing.TorchTolerances.assertRunningStat;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.batchnorm4j.safetensors.SafeTensors;
import io.github.batchnorm4j.testing.Fixtures;
import io.github.batchnorm4j.testing.Modules;
import io.github.batchnorm4j.testing.TorchTolerances;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Interop with files written by real PyTorch 2.11 (src/test/resources/pytorch-bn-fixtures, see its
 * README): the state_dict of a small CNN with five batch-norm modules, saved by
 * safetensors.torch.save_file in F32, F64, F16 and BF16, and each module's input and outputs.
 *
 * <p>For each module: build batchnorm4j's module from manifest.json's configuration, load its state
 * by prefix (weight, bias, running_mean, running_var, num_batches_tracked), then reproduce PyTorch's
 * eval forward and one training step (y, dx, dweight, dbias, the updated running statistics and
 * counter) from that state. bn3d uses the cumulative moving average, so its loaded counter (5)
 * decides the factor 1/6 of the step.
 */
class PyTorchSharedFixturesTest {

  private static final String DIR = "/pytorch-bn-fixtures/";
  private static final List<String> MODULES = List.of("features.1", "features.4", "bn3d", "bn1d", "bn_untracked");

  @SuppressWarnings("unchecked")
  static Map<String, Object> manifest() {
    try (InputStream in = PyTorchSharedFixturesTest.class.getResourceAsStream(DIR + "manifest.json")) {
      assertThat(in).as(DIR + "manifest.json").isNotNull();
      // Integers as Long, other numbers as Double, objects as ordered maps.
      return new com.google.gson.GsonBuilder()
          .setObjectToNumberStrategy(com.google.gson.ToNumberPolicy.LONG_OR_DOUBLE).create().fromJson(
          new String(in.readAllBytes(), StandardCharsets.UTF_8), Map.class);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }


  /** One module's configuration from manifest.json. */
  record Config(String name, String cls, int numFeatures, double eps, Double momentum, boolean affine,
      boolean track, int[] inputShape) {

    @SuppressWarnings("unchecked")
    static Config of(String name) {
      Map<String, Object> m = (Map<String, Object>) ((Map<String, Object>) manifest().get("modules")).get(name);
      assertThat(m).as("manifest entry for " + name).isNotNull();
      return new Config(
          name,
          (String) m.get("class"),
          ((Long) m.get("num_features")).intValue(),
          ((Number) m.get("eps")).doubleValue(),
          m.get("momentum") == null ? null : ((Number) m.get("momentum")).doubleValue(),
          (Boolean) m.get("affine"),
          (Boolean) m.get("track_running_stats"),
          ((List<Object>) m.get("input_shape")).stream().mapToInt(o -> ((Long) o).intValue()).toArray());
    }

    BatchNorm build() {
      return Modules.build(cls, numFeatures, eps, momentum, affine, track);
    }
  }

  @Test
  void manifestDescribesTheFiveModules() {
    @SuppressWarnings("unchecked")
    Map<String, Object> modules = (Map<String, Object>) manifest().get("modules");
    assertThat(modules.keySet()).containsExactlyInAnyOrderElementsOf(MODULES);
    assertThat(Config.of("bn3d").momentum()).as("bn3d uses the cumulative average").isNull();
    assertThat(Config.of("bn1d").affine()).isFalse();
    assertThat(Config.of("bn_untracked").track()).isFalse();
  }

  /**
   * Loads a module's state from a whole-model state_dict file by prefix, strictly, through the
   * library's loadStateDict, after checking that the file has exactly the module's keys under the
   * prefix, in PyTorch's order.
   */
  static void loadState(BatchNorm bn, Config cfg, SafeTensors sd) {
    String p = cfg.name() + ".";
    List<String> fileKeys = sd.tensors().keySet().stream().filter(k -> k.startsWith(p))
        .map(k -> k.substring(p.length())).collect(Collectors.toList());
    // safetensors.torch.save_file orders the data by dtype, then name: the file's order is not the
    // state dict's, but the key set is.
    assertThat(fileKeys).as(p + " keys in the file").containsExactlyInAnyOrderElementsOf(bn.stateDictKeys());
    IncompatibleKeys result = bn.loadStateDict(sd.tensors(), p, true);
    assertThat(result.isEmpty()).as(p + " strict load skips nothing").isTrue();
    assertThat(bn.stateDict().keySet()).as(p + " stateDict keys").containsExactlyElementsOf(bn.stateDictKeys());
  }

  static Stream<Arguments> modulesAndExactPrecisions() {
    return MODULES.stream().flatMap(m -> Stream.of(Arguments.of(m, "f32"), Arguments.of(m, "f64")));
  }

  /** F32 and F64 (which holds the float32 values exactly) must both reproduce PyTorch to 1e-5. */
  @ParameterizedTest(name = "{0} from model_{1}")
  @MethodSource("modulesAndExactPrecisions")
  void reproducesEvalAndOneTrainingStep(String name, String precision) {
    Config cfg = Config.of(name);
    SafeTensors sd = Fixtures.readResource(DIR + "model_" + precision + ".safetensors");
    SafeTensors io = Fixtures.readResource(DIR + "bn_io.safetensors");
    BatchNorm bn = cfg.build();
    loadState(bn, cfg, sd);
    long loadedCount = bn.numBatchesTracked();
    float[] loadedMean = bn.runningMean() == null ? null : bn.runningMean().clone();
    float[] loadedVar = bn.runningVar() == null ? null : bn.runningVar().clone();

    int[] shape = io.get(name + ".x").shape().toArray();
    assertThat(shape).as(name + " input shape").containsExactly(cfg.inputShape());
    Shape s = Shape.of(shape);
    float[] x = io.get(name + ".x").toFloatArray();
    float[] dy = io.get(name + ".dy").toFloatArray();
    String at = name + " (model_" + precision + ") ";

    bn.eval();
    Tensor evalY = bn.forward(Tensor.of(s, x.clone()));
    assertOutput(at + "eval_y", shape, io.get(name + ".eval_y").toFloatArray(), evalY.data());
    if (cfg.track()) {
      assertThat(bn.runningMean()).as(at + "running_mean unchanged by eval").containsExactly(loadedMean);
      assertThat(bn.runningVar()).as(at + "running_var unchanged by eval").containsExactly(loadedVar);
      assertThat(bn.numBatchesTracked()).as(at + "count unchanged by eval").isEqualTo(loadedCount);
    }

    bn.train();
    bn.zeroGrad();
    Tensor trainY = bn.forward(Tensor.of(s, x.clone()));
    Tensor dx = bn.backward(Tensor.of(s, dy));
    assertOutput(at + "train_y", shape, io.get(name + ".train_y").toFloatArray(), trainY.data());
    assertOutput(at + "train_dx", shape, io.get(name + ".train_dx").toFloatArray(), dx.data());
    if (cfg.affine()) {
      assertParameterGradient(at + "train_dweight", io.get(name + ".train_dweight").toFloatArray(), bn.weightGrad());
      assertParameterGradient(at + "train_dbias", io.get(name + ".train_dbias").toFloatArray(), bn.biasGrad());
    } else {
      assertThat(io.contains(name + ".train_dweight")).as(at + "no dweight without affine").isFalse();
    }
    if (cfg.track()) {
      assertRunningStat(at + "train_running_mean", io.get(name + ".train_running_mean").toFloatArray(), bn.runningMean());
      assertRunningStat(at + "train_running_var", io.get(name + ".train_running_var").toFloatArray(), bn.runningVar());
      assertThat(bn.numBatchesTracked()).as(at + "train_num_batches_tracked")
          .isEqualTo(io.get(name + ".train_num_batches_tracked").longValue());
    } else {
      assertThat(io.contains(name + ".train_running_mean")).as(at + "no running stats recorded").isFalse();
      assertThat(bn.numBatchesTracked()).as(at + "count without tracking").isZero();
    }
  }

  /**
   * F16 and BF16 state: every value is the float32 state rounded to nearest (unit roundoff u = 2^-11
   * and 2^-8), and the eval forward with it differs from PyTorch's float32 eval_y by no more than
   * that rounding can explain: first-order, u * (|mean * g * r| + 1.5 * |(x - mean) * g * r| + |b|)
   * with r = 1 / sqrt(var + eps), doubled for safety, plus PyTorch's own float32 error
   * ({@link TorchTolerances#OUTPUT}).
   */
  @ParameterizedTest(name = "model_{0}")
  @ValueSource(strings = {"f16", "bf16"})
  void roundedPrecisionsLoadWithinTheirRounding(String precision) {
    double u = precision.equals("f16") ? 0x1p-11 : 0x1p-8;
    SafeTensors f32 = Fixtures.readResource(DIR + "model_f32.safetensors");
    SafeTensors low = Fixtures.readResource(DIR + "model_" + precision + ".safetensors");
    SafeTensors io = Fixtures.readResource(DIR + "bn_io.safetensors");
    String dtype = precision.toUpperCase();
    for (String name : MODULES) {
      Config cfg = Config.of(name);
      BatchNorm bn = cfg.build();
      loadState(bn, cfg, low);
      BatchNorm exact = cfg.build();
      loadState(exact, cfg, f32);
      for (String key : List.of("weight", "bias", "running_mean", "running_var")) {
        if (!low.contains(name + "." + key)) {
          continue;
        }
        assertThat(low.get(name + "." + key).dtype().name()).isEqualTo(dtype);
        float[] ref = f32.get(name + "." + key).toFloatArray();
        float[] got = low.get(name + "." + key).toFloatArray();
        for (int i = 0; i < ref.length; i++) {
          double tol = Math.max(Math.abs(ref[i]) * u, precision.equals("f16") ? 0x1p-25 : 0);
          assertThat((double) Math.abs(got[i] - ref[i])).as("%s %s.%s[%d]", precision, name, key, i)
              .isLessThanOrEqualTo(tol);
        }
      }
      if (cfg.track()) {
        assertThat(low.get(name + ".num_batches_tracked").dtype()).isEqualTo(DType.I64);
        assertThat(bn.numBatchesTracked()).isEqualTo(exact.numBatchesTracked());
      }

      int[] shape = io.get(name + ".x").shape().toArray();
      float[] x = io.get(name + ".x").toFloatArray();
      float[] expected = io.get(name + ".eval_y").toFloatArray();
      float[] got = bn.eval().forward(Tensor.of(Shape.of(shape), x)).data();
      int c = shape[1];
      int inner = x.length / (shape[0] * c);
      double scale = 1;
      for (float v : expected) {
        scale = Math.max(scale, Math.abs(v));
      }
      // Batch statistics (bn_untracked) come from x, which is not rounded.
      double[] mean = new double[c];
      double[] var = new double[c];
      for (int ch = 0; ch < c; ch++) {
        if (cfg.track()) {
          mean[ch] = exact.runningMean()[ch];
          var[ch] = exact.runningVar()[ch];
        } else {
          double sum = 0;
          double sq = 0;
          for (int n = 0; n < shape[0]; n++) {
            for (int i = 0; i < inner; i++) {
              sum += x[(n * c + ch) * inner + i];
            }
          }
          mean[ch] = sum / (shape[0] * inner);
          for (int n = 0; n < shape[0]; n++) {
            for (int i = 0; i < inner; i++) {
              double d = x[(n * c + ch) * inner + i] - mean[ch];
              sq += d * d;
            }
          }
          var[ch] = sq / (shape[0] * inner);
        }
      }
      for (int k = 0; k < x.length; k++) {
        int ch = (k / inner) % c;
        double g = cfg.affine() ? exact.weight()[ch] : 1;
        double b = cfg.affine() ? exact.bias()[ch] : 0;
        double r = 1 / Math.sqrt(var[ch] + cfg.eps());
        double statsTerm = cfg.track() ? Math.abs(mean[ch] * g * r) : 0;
        double bound = 2 * u * (statsTerm + 1.5 * Math.abs((x[k] - mean[ch]) * g * r) + Math.abs(b))
            + TorchTolerances.OUTPUT * scale;
        assertThat((double) Math.abs(got[k] - expected[k]))
            .as("%s %s eval_y[%d]: expected %s, actual %s", precision, name, k, expected[k], got[k])
            .isLessThanOrEqualTo(bound);
      }
    }
  }
  /** Every variant holds exactly manifest.json's keys, shapes and dtypes, and PyTorch's metadata. */
  @ParameterizedTest(name = "model_{0}")
  @ValueSource(strings = {"f32", "f64", "f16", "bf16"})
  @SuppressWarnings("unchecked")
  void wholeModelFilesMatchTheManifest(String precision) {
    SafeTensors sd = Fixtures.readResource(DIR + "model_" + precision + ".safetensors");
    Map<String, Object> keys = (Map<String, Object>) manifest().get("state_dict_keys");
    assertThat(sd.tensors().keySet()).containsExactlyInAnyOrderElementsOf(keys.keySet());
    assertThat(sd.metadata()).containsExactly(Map.entry("format", "pt"));
    DType floating = DType.valueOf(precision.toUpperCase(java.util.Locale.ROOT));
    for (Map.Entry<String, Object> e : keys.entrySet()) {
      Map<String, Object> info = (Map<String, Object>) e.getValue();
      int[] shape = ((List<Object>) info.get("shape")).stream().mapToInt(o -> ((Long) o).intValue()).toArray();
      TypedTensor t = sd.get(e.getKey());
      assertThat(t.shape()).as(e.getKey()).isEqualTo(Shape.of(shape));
      DType expected = info.get("dtype").equals("torch.int64") ? DType.I64 : floating;
      assertThat(t.dtype()).as(e.getKey()).isEqualTo(expected);
    }
  }

  /**
   * A module loaded from PyTorch's F32 file gives back PyTorch's tensors bit for bit through
   * stateDict(prefix), and through a file written by batchnorm4j and read again.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("moduleNames")
  void stateDictRoundTripsPyTorchsTensorsBitForBit(String name) throws Exception {
    Config cfg = Config.of(name);
    SafeTensors sd = Fixtures.readResource(DIR + "model_f32.safetensors");
    BatchNorm bn = cfg.build();
    loadState(bn, cfg, sd);
    Map<String, TypedTensor> ours = bn.stateDict(name + ".");
    for (Map.Entry<String, TypedTensor> e : ours.entrySet()) {
      assertThat(e.getValue()).as(e.getKey()).isEqualTo(sd.get(e.getKey()));
    }
    SafeTensors again = SafeTensors.read(SafeTensors.toBytes(ours, Map.of("format", "pt")));
    assertThat(again.tensors()).containsExactlyEntriesOf(ours); // our writer keeps the order
    BatchNorm reloaded = cfg.build();
    reloaded.loadStateDict(again.tensors(), name + ".", true);
    assertThat(reloaded.stateDict()).isEqualTo(bn.stateDict());
  }

  static Stream<String> moduleNames() {
    return MODULES.stream();
  }
}
