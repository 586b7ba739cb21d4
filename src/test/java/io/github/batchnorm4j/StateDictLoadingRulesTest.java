package io.github.batchnorm4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.batchnorm4j.safetensors.SafeTensors;
import io.github.batchnorm4j.testing.Fixtures;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;

/**
 * The loading rules of PyTorch 2.x's {@code _NormBase._load_from_state_dict} and
 * {@code Module._load_from_state_dict} for state dicts without version metadata (every safetensors
 * file), and the adversarial cases of issue 15: a missing counter keeps the module's own, a load
 * that finds nothing changes nothing, null values are rejected by key, a counter of shape (1) is
 * accepted, the counter saturates instead of wrapping, and a module always reloads its own state.
 */
class StateDictLoadingRulesTest {

  private static final String DIR = "/pytorch-bn-fixtures/";

  private static BatchNorm2d trainedSteps(BatchNorm2d bn, int steps) {
    SplittableRandom rnd = new SplittableRandom(7);
    float[] x = new float[2 * bn.numFeatures() * 3 * 3];
    for (int s = 0; s < steps; s++) {
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) rnd.nextGaussian() * 2 + 1;
      }
      bn.forward(Tensor.of(Shape.of(2, bn.numFeatures(), 3, 3), x));
    }
    return bn;
  }

  @Test
  void aNonStrictLoadThatFindsNothingChangesNothing() {
    BatchNorm2d bn = trainedSteps(new BatchNorm2d(3), 5);
    Map<String, TypedTensor> before = bn.stateDict();
    IncompatibleKeys r = bn.loadStateDict(Map.of(), "other.", false);
    assertThat(bn.numBatchesTracked()).as("was 5 -> 0 before issue 15").isEqualTo(5);
    assertThat(bn.stateDict()).isEqualTo(before);
    assertThat(r.missingKeys())
        .containsExactly("other.weight", "other.bias", "other.running_mean", "other.running_var");
    assertThat(r.unexpectedKeys()).isEmpty();
  }

  /** features.1's entries as PyTorch 2.11 wrote them, with and without the counter. */
  @Test
  void aPyTorchFileWithoutTheCounterKeepsTheModulesOwnEvenWhenStrict() {
    SafeTensors file = Fixtures.readResource(DIR + "model_f32.safetensors");
    Map<String, TypedTensor> withoutCounter = new LinkedHashMap<>(file.tensors());
    withoutCounter.remove("features.1.num_batches_tracked");
    BatchNorm2d bn = trainedSteps(new BatchNorm2d(8), 3);
    IncompatibleKeys r = bn.loadStateDict(withoutCounter, "features.1.", true);
    assertThat(r.isEmpty()).isTrue();
    assertThat(bn.numBatchesTracked()).isEqualTo(3);
    assertThat(bn.weight()).containsExactly(file.get("features.1.weight").toFloatArray());
    assertThat(bn.runningVar()).containsExactly(file.get("features.1.running_var").toFloatArray());

    BatchNorm2d withIt = trainedSteps(new BatchNorm2d(8), 3);
    withIt.loadStateDict(file.tensors(), "features.1.", true);
    assertThat(withIt.numBatchesTracked())
        .isEqualTo(file.get("features.1.num_batches_tracked").longValue()).isEqualTo(5);
  }

  @Test
  void nullValuesAreRejectedByKeyAndChangeNothing() {
    for (boolean strict : new boolean[] {true, false}) {
      for (String key : new BatchNorm2d(3).stateDictKeys()) {
        BatchNorm2d bn = trainedSteps(new BatchNorm2d(3), 2);
        Map<String, TypedTensor> before = bn.stateDict();
        Map<String, TypedTensor> all = new HashMap<>();
        trainedSteps(new BatchNorm2d(3), 4).stateDict("bn.").forEach(all::put);
        all.put("bn." + key, null);
        assertThatThrownBy(() -> bn.loadStateDict(all, "bn.", strict))
            .isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("'bn." + key + "' is null");
        assertThat(bn.stateDict()).as("unchanged after %s", key).isEqualTo(before);
      }
    }
    FrozenBatchNorm2d frozen = FrozenBatchNorm2d.freeze(trainedSteps(new BatchNorm2d(3), 2));
    Map<String, TypedTensor> frozenBefore = frozen.stateDict();
    Map<String, TypedTensor> sd = new HashMap<>(new BatchNorm2d(3).stateDict());
    sd.put("running_var", null);
    assertThatThrownBy(() -> frozen.loadStateDict(sd)).hasMessageContaining("'running_var' is null");
    assertThat(frozen.stateDict()).isEqualTo(frozenBefore);
  }

  @Test
  void aCounterOfShapeOneIsAcceptedLikePyTorchOtherLengthsAreNot() {
    BatchNorm2d source = trainedSteps(new BatchNorm2d(3), 2);
    Map<String, TypedTensor> sd = new LinkedHashMap<>(source.stateDict());
    sd.put("num_batches_tracked", TypedTensor.ofLongs(Shape.of(1), new long[] {42}));
    BatchNorm2d bn = new BatchNorm2d(3);
    assertThat(bn.loadStateDict(sd).isEmpty()).isTrue();
    assertThat(bn.numBatchesTracked()).isEqualTo(42);
    for (int length : new int[] {0, 2}) {
      sd.put("num_batches_tracked", TypedTensor.ofLongs(Shape.of(length), new long[length]));
      assertThatThrownBy(() -> bn.loadStateDict(sd))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("'num_batches_tracked' must be a 0-dim I64")
          .hasMessageContaining("I64(" + length + ")");
      assertThat(bn.numBatchesTracked()).isEqualTo(42);
    }
  }

  @Test
  void theCounterSaturatesAtLongMaxValueWithMomentumAndCumulativeAverage() {
    for (BatchNorm2d bn : new BatchNorm2d[] {
        new BatchNorm2d(3), BatchNorm2d.builder(3).cumulativeMovingAverage().build()}) {
      Map<String, TypedTensor> sd = new LinkedHashMap<>(bn.stateDict());
      sd.put("num_batches_tracked", TypedTensor.scalarLong(Long.MAX_VALUE));
      bn.loadStateDict(sd);
      trainedSteps(bn, 2); // was "factor must be in [0, 1]" or a wrap to a negative counter
      assertThat(bn.numBatchesTracked()).as("%s", bn).isEqualTo(Long.MAX_VALUE);
      for (float m : bn.runningMean()) {
        assertThat(Float.isFinite(m)).isTrue();
      }
      BatchNorm2d copy = new BatchNorm2d(3);
      copy.loadStateDict(bn.stateDict());
      assertThat(copy.numBatchesTracked()).isEqualTo(Long.MAX_VALUE);
    }
  }

  @Test
  void aNegativeCounterIsRejectedNamingTheKey() {
    BatchNorm2d bn = trainedSteps(new BatchNorm2d(3), 1);
    Map<String, TypedTensor> sd = new LinkedHashMap<>(bn.stateDict());
    sd.put("num_batches_tracked", TypedTensor.scalarLong(Long.MIN_VALUE));
    assertThatThrownBy(() -> bn.loadStateDict(sd))
        .hasMessageContaining("'num_batches_tracked' must be >= 0")
        .hasMessageNotContaining("factor");
    assertThat(bn.numBatchesTracked()).isEqualTo(1);
  }

  @Test
  void keysUnderAParametersNameAreNotUnexpectedAsInPyTorch() {
    // PyTorch compares the first dot-separated segment after the prefix with the module's names.
    BatchNorm2d bn = new BatchNorm2d(3);
    Map<String, TypedTensor> sd = new LinkedHashMap<>(bn.stateDict());
    sd.put("weight.extra", TypedTensor.scalarLong(1));
    assertThat(bn.loadStateDict(sd).isEmpty()).isTrue();
    sd.put("weights", TypedTensor.scalarLong(1));
    assertThatThrownBy(() -> bn.loadStateDict(sd)).hasMessageContaining("unexpected keys [weights]");
  }

  @Test
  void frozenIgnoresTheCounterAndAnEmptyNonStrictLoadChangesNothing() {
    FrozenBatchNorm2d frozen = FrozenBatchNorm2d.freeze(trainedSteps(new BatchNorm2d(3), 2));
    Map<String, TypedTensor> before = frozen.stateDict();
    assertThat(frozen.loadStateDict(Map.of(), "x.", false).missingKeys()).hasSize(4);
    assertThat(frozen.stateDict()).isEqualTo(before);
    Map<String, TypedTensor> sd = new LinkedHashMap<>(before);
    sd.put("num_batches_tracked", null); // torchvision deletes the key before loading
    assertThat(frozen.loadStateDict(sd).isEmpty()).isTrue();
  }

  /** Any sequence of training, eval, loads and counter settings leaves a state it can reload. */
  @Property(tries = 200)
  void aModuleAlwaysReloadsItsOwnStateDict(
      @ForAll @IntRange(min = 0, max = 4) int steps,
      @ForAll @LongRange(min = 0, max = Long.MAX_VALUE) long counter,
      @ForAll boolean cumulative, @ForAll boolean affine) {
    BatchNorm2d.Builder<BatchNorm2d> b = BatchNorm2d.builder(2).affine(affine);
    BatchNorm2d bn = (cumulative ? b.cumulativeMovingAverage() : b).build();
    bn.setNumBatchesTracked(counter);
    trainedSteps(bn, steps);
    Map<String, TypedTensor> own = bn.stateDict();
    BatchNorm2d other = (cumulative ? b.cumulativeMovingAverage() : b).build();
    assertThat(other.loadStateDict(own).isEmpty()).isTrue();
    assertThat(other.stateDict()).isEqualTo(own);
    assertThat(bn.loadStateDict(own).isEmpty()).isTrue();
    assertThat(bn.numBatchesTracked()).isGreaterThanOrEqualTo(counter);
  }
}
