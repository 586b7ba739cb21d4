package io.github.batchnorm4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.batchnorm4j.testing.TestData;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** stateDict and loadStateDict: PyTorch's keys, order and dtypes, strictness, prefixes, atomicity. */
class StateDictTest {

  private static BatchNorm2d trained(boolean affine, boolean track) {
    BatchNorm2d bn = BatchNorm2d.builder(3).affine(affine).trackRunningStats(track).build();
    float[] x = TestData.gaussian(TestData.rng(1), 2 * 3 * 4 * 5, 2, 1);
    bn.forward(Tensor.of(Shape.of(2, 3, 4, 5), x));
    bn.forward(Tensor.of(Shape.of(2, 3, 4, 5), x));
    if (affine) {
      bn.weight()[1] = 1.5f;
      bn.bias()[2] = -0.25f;
    }
    return bn;
  }

  @Test
  void keysOrderAndDtypesArePyTorchs() {
    Map<String, TypedTensor> sd = trained(true, true).stateDict();
    assertThat(sd.keySet()).containsExactly("weight", "bias", "running_mean", "running_var", "num_batches_tracked");
    assertThat(sd.get("weight")).hasToString("F32(3)");
    assertThat(sd.get("num_batches_tracked")).hasToString("I64()");
    assertThat(sd.get("num_batches_tracked").longValue()).isEqualTo(2);
    assertThat(trained(false, true).stateDict().keySet()).containsExactly("running_mean", "running_var", "num_batches_tracked");
    assertThat(trained(true, false).stateDict().keySet()).containsExactly("weight", "bias");
    assertThat(trained(false, false).stateDict()).isEmpty();
    assertThat(trained(true, true).stateDict("layer1.0.bn1.").keySet()).first().isEqualTo("layer1.0.bn1.weight");
    assertThatThrownBy(() -> sd.put("x", TypedTensor.scalarLong(1))).isInstanceOf(UnsupportedOperationException.class);
  }

  @Test
  void roundTripsAndIsACopy() {
    BatchNorm2d bn = trained(true, true);
    Map<String, TypedTensor> sd = bn.stateDict();
    BatchNorm2d other = new BatchNorm2d(3);
    assertThat(other.loadStateDict(sd).isEmpty()).isTrue();
    assertThat(other.stateDict()).isEqualTo(sd);
    assertThat(other.runningMean()).containsExactly(bn.runningMean());
    assertThat(other.numBatchesTracked()).isEqualTo(2);
    bn.runningMean()[0] = 42f;
    assertThat(sd.get("running_mean").toFloatArray()[0]).isNotEqualTo(42f);
  }

  @Test
  void loadsByPrefixFromAWholeModelAndConvertsFloatingDtypes() {
    Map<String, TypedTensor> model = new LinkedHashMap<>();
    model.put("layer1.1.conv.weight", TypedTensor.ofFloats(Shape.of(1), new float[] {9}));
    trained(true, true).stateDict("layer1.10.").forEach(model::put);
    Map<String, TypedTensor> mine = trained(true, true).stateDict();
    mine.forEach((k, v) -> model.put("layer1.1." + k,
        v.dtype() == DType.F32 ? v.convertTo(k.equals("weight") ? DType.F64 : DType.F16) : v));
    BatchNorm2d bn = new BatchNorm2d(3);
    // layer1.10.* belongs to another module; layer1.1.conv.weight is under the prefix but not ours
    IncompatibleKeys r = bn.loadStateDict(model, "layer1.1.", false);
    assertThat(r.missingKeys()).isEmpty();
    assertThat(r.unexpectedKeys()).containsExactly("layer1.1.conv.weight");
    assertThatThrownBy(() -> new BatchNorm2d(3).loadStateDict(model, "layer1.1.", true))
        .hasMessageContaining("unexpected keys [layer1.1.conv.weight]");
    assertThat(bn.weight()).containsExactly(mine.get("weight").toFloatArray()); // F64, exact
    float[] expectedMean = mine.get("running_mean").convertTo(DType.F16).toFloatArray();
    assertThat(bn.runningMean()).containsExactly(expectedMean); // F16, rounded
    assertThat(bn.numBatchesTracked()).isEqualTo(2);
    model.remove("layer1.1.conv.weight");
    assertThat(new BatchNorm2d(3).loadStateDict(model, "layer1.1.", true).isEmpty()).isTrue();
  }

  @Test
  void strictRejectsMissingAndUnexpectedKeysAndLeavesTheModuleUnchanged() {
    Map<String, TypedTensor> good = trained(true, true).stateDict();
    BatchNorm2d bn = trained(true, true);
    bn.weight()[0] = 7f;
    Map<String, TypedTensor> before = bn.stateDict();

    Map<String, TypedTensor> missing = new LinkedHashMap<>(good);
    missing.remove("running_var");
    assertThatThrownBy(() -> bn.loadStateDict(missing)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("missing keys [running_var]");
    Map<String, TypedTensor> extra = new LinkedHashMap<>(good);
    extra.put("gamma", good.get("weight"));
    assertThatThrownBy(() -> bn.loadStateDict(extra)).hasMessageContaining("unexpected keys [gamma]");
    Map<String, TypedTensor> shape = new LinkedHashMap<>(good);
    shape.put("bias", TypedTensor.ofFloats(Shape.of(4), new float[4]));
    assertThatThrownBy(() -> bn.loadStateDict(shape, "", false))
        .hasMessageContaining("size mismatch for 'bias'").hasMessageContaining("(4)").hasMessageContaining("(3)");
    Map<String, TypedTensor> dtype = new LinkedHashMap<>(good);
    dtype.put("running_mean", TypedTensor.ofLongs(Shape.of(3), new long[3]));
    assertThatThrownBy(() -> bn.loadStateDict(dtype)).hasMessageContaining("'running_mean'").hasMessageContaining("I64");
    Map<String, TypedTensor> count = new LinkedHashMap<>(good);
    count.put("num_batches_tracked", TypedTensor.ofFloats(Shape.of(), new float[] {1}));
    assertThatThrownBy(() -> bn.loadStateDict(count)).hasMessageContaining("'num_batches_tracked'").hasMessageContaining("0-dim I64");
    count.put("num_batches_tracked", TypedTensor.scalarLong(-1));
    assertThatThrownBy(() -> bn.loadStateDict(count)).hasMessageContaining(">= 0");
    assertThatThrownBy(() -> bn.loadStateDict(good, "bn", true)).hasMessageContaining("end with '.'");
    assertThatThrownBy(() -> bn.loadStateDict(null)).isInstanceOf(IllegalArgumentException.class);
    assertThat(bn.stateDict()).as("unchanged after every failed load").isEqualTo(before);
  }

  @Test
  void nonStrictSkipsAndReportsAndMissingCounterKeepsTheModulesOwn() {
    BatchNorm2d source = trained(true, true);
    Map<String, TypedTensor> partial = new LinkedHashMap<>(source.stateDict());
    partial.remove("weight");
    partial.remove("num_batches_tracked");
    partial.put("extra", TypedTensor.scalarLong(1));
    BatchNorm2d bn = trained(true, true);
    bn.weight()[0] = 7f;
    IncompatibleKeys r = bn.loadStateDict(partial, "", false);
    assertThat(r.missingKeys()).containsExactly("weight");
    assertThat(r.unexpectedKeys()).containsExactly("extra");
    assertThat(bn.weight()[0]).as("missing weight keeps its value").isEqualTo(7f);
    assertThat(bn.bias()).containsExactly(source.bias());
    assertThat(bn.numBatchesTracked())
        .as("PyTorch 2.x without version metadata keeps the module's own counter").isEqualTo(2);
    partial.remove("extra");
    partial.put("weight", source.stateDict().get("weight"));
    BatchNorm2d strict = trained(true, true);
    assertThat(strict.loadStateDict(partial).isEmpty()).isTrue();
    assertThat(strict.numBatchesTracked()).isEqualTo(2);
    // affine=false module, affine checkpoint: weight and bias are unexpected
    BatchNorm2d plain = BatchNorm2d.builder(3).affine(false).build();
    assertThatThrownBy(() -> plain.loadStateDict(source.stateDict())).hasMessageContaining("unexpected keys [bias, weight]");
    assertThat(plain.loadStateDict(source.stateDict(), "", false).unexpectedKeys()).containsExactly("bias", "weight");
    assertThat(plain.runningVar()).containsExactly(source.runningVar());
    assertThat(List.of(plain.stateDictKeys())).isNotEmpty();
  }
}
