package io.github.batchnorm4j;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * PyTorch state-dict conventions shared by {@link BatchNorm} and {@link FrozenBatchNorm2d}: building
 * the ordered map, and checking a state dict completely before anything is copied, so that a failed
 * load leaves the module unchanged.
 */
final class StateDicts {

  static final String WEIGHT = "weight";
  static final String BIAS = "bias";
  static final String RUNNING_MEAN = "running_mean";
  static final String RUNNING_VAR = "running_var";
  static final String NUM_BATCHES_TRACKED = "num_batches_tracked";

  private StateDicts() {}

  /** Checks that prefix is "" or ends with '.', so that "layer1.1" cannot match "layer1.10.". */
  static void checkPrefix(String prefix) {
    if (prefix == null) {
      throw new IllegalArgumentException("prefix must not be null (use \"\" for none)");
    }
    if (!prefix.isEmpty() && !prefix.endsWith(".")) {
      throw new IllegalArgumentException("prefix must be empty or end with '.', like PyTorch's"
          + " \"layer1.0.bn1.\", but is \"" + prefix + "\"");
    }
  }

  /** One float32 vector entry of length C, or null when the module does not have it. */
  static void putVector(Map<String, TypedTensor> out, String prefix, String key, float[] values) {
    if (values != null) {
      out.put(prefix + key, TypedTensor.ofFloats(Shape.of(values.length), values));
    }
  }

  /** The checked values of a load, ready to copy; an absent or null entry means "keep the module's value". */
  static final class Loaded {
    final Map<String, float[]> vectors = new HashMap<>();
    Long numBatchesTracked;
    IncompatibleKeys incompatible;
  }

  /**
   * Checks a state dict against a module's keys and converts what it holds, following PyTorch
   * 2.x's {@code Module._load_from_state_dict} and {@code _NormBase._load_from_state_dict} for a
   * state dict without version metadata (as every safetensors file is):
   * <ul>
   *   <li>a missing num_batches_tracked is filled with the module's own counter (so it is neither
   *       loaded nor a missing key);
   *   <li>a null value is an error naming the key (PyTorch: "expected torch.Tensor ... but received
   *       NoneType");
   *   <li>a one-element num_batches_tracked of shape (1) is taken as the 0-dim counter (PyTorch's
   *       "loading 1-dim tensor from 0.3.*" rule; PyTorch takes element 0 of any 1-dim tensor,
   *       here a length other than 1 is an error);
   *   <li>a key under the prefix is unexpected when its first dot-separated segment after the
   *       prefix is not one of the module's names.
   * </ul>
   * Everything is checked before anything is returned, so that the caller can copy atomically.
   *
   * @param module the module's description for messages, e.g. "BatchNorm2d(8, ...)"
   * @param numFeatures C, the length of every vector entry
   * @param keys the module's keys in order; "num_batches_tracked" is a 0-dim int64, the rest
   *     vectors of length C
   * @param ignored keys under the prefix that are neither loaded nor unexpected
   */
  static Loaded check(
      String module, int numFeatures, List<String> keys, Set<String> ignored,
      Map<String, TypedTensor> stateDict, String prefix, boolean strict) {
    if (stateDict == null) {
      throw new IllegalArgumentException("stateDict must not be null; " + module);
    }
    checkPrefix(prefix);
    List<String> missing = new ArrayList<>();
    List<String> unexpected = new ArrayList<>();
    for (String key : keys) {
      // PyTorch's _NormBase fills a missing counter with the module's own before the generic
      // load, so it is never reported as missing.
      if (!stateDict.containsKey(prefix + key) && !key.equals(NUM_BATCHES_TRACKED)) {
        missing.add(prefix + key);
      }
    }
    for (String full : stateDict.keySet()) {
      if (full != null && full.startsWith(prefix)) {
        String rest = full.substring(prefix.length());
        int dot = rest.indexOf('.');
        String name = dot < 0 ? rest : rest.substring(0, dot);
        if (!keys.contains(name) && !ignored.contains(name)) {
          unexpected.add(full);
        }
      }
    }
    Collections.sort(unexpected);
    if (strict && (!missing.isEmpty() || !unexpected.isEmpty())) {
      throw new IllegalArgumentException("error loading the state dict into " + module
          + " with prefix \"" + prefix + "\" (strict): missing keys " + missing
          + ", unexpected keys " + unexpected);
    }
    Loaded loaded = new Loaded();
    Shape vector = Shape.of(numFeatures);
    for (String key : keys) {
      String full = prefix + key;
      if (!stateDict.containsKey(full)) {
        continue; // keeps the module's value (for num_batches_tracked too)
      }
      TypedTensor t = stateDict.get(full);
      if (t == null) {
        throw new IllegalArgumentException("'" + full + "' is null in the state dict, but must be"
            + (key.equals(NUM_BATCHES_TRACKED) ? " a 0-dim I64 tensor" : " a tensor of shape "
            + vector) + " (leave the key out to keep the module's value); " + module);
      }
      if (key.equals(NUM_BATCHES_TRACKED)) {
        boolean scalar = t.shape().rank() == 0;
        boolean oneElement = t.shape().rank() == 1 && t.shape().dim(0) == 1;
        if (t.dtype() != DType.I64 || !(scalar || oneElement)) {
          throw new IllegalArgumentException("'" + full + "' must be a 0-dim I64 tensor, as PyTorch"
              + " writes it (or a one-element I64 tensor of shape (1)), but is " + t + "; " + module);
        }
        long count = scalar ? t.longValue() : t.toLongArray()[0];
        if (count < 0) {
          throw new IllegalArgumentException(
              "'" + full + "' must be >= 0 but is " + count + "; " + module);
        }
        loaded.numBatchesTracked = count;
      } else {
        if (!t.dtype().isFloatingPoint()) {
          throw new IllegalArgumentException("'" + full + "' has dtype " + t.dtype()
              + " but must be a floating dtype (F32, F64, F16 or BF16); " + module);
        }
        if (!t.shape().equals(vector)) {
          throw new IllegalArgumentException("size mismatch for '" + full + "': the state dict has"
              + " shape " + t.shape() + " but " + module + " needs " + vector);
        }
        loaded.vectors.put(key, t.toFloatArray());
      }
    }
    loaded.incompatible = new IncompatibleKeys(missing, unexpected);
    return loaded;
  }

  /** Copies a checked vector into the module's live array when the state dict had it. */
  static void copy(Loaded loaded, String key, float[] into) {
    float[] v = loaded.vectors.get(key);
    if (v != null) {
      System.arraycopy(v, 0, into, 0, v.length);
    }
  }

  static Map<String, TypedTensor> unmodifiable(LinkedHashMap<String, TypedTensor> map) {
    return Collections.unmodifiableMap(map);
  }
}
