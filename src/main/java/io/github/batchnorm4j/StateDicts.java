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

  /** The checked values of a load, ready to copy; a null entry means "keep the module's value". */
  static final class Loaded {
    final Map<String, float[]> vectors = new HashMap<>();
    Long numBatchesTracked;
    IncompatibleKeys incompatible;
  }

  /**
   * Checks a state dict against a module's keys and converts what it holds.
   *
   * @param module the module's description for messages, e.g. "BatchNorm2d(8, ...)"
   * @param numFeatures C, the length of every vector entry
   * @param keys the module's keys in order; "num_batches_tracked" is a 0-dim int64, the rest
   *     vectors of length C
   * @param missingAsZero keys that load as 0 when absent (PyTorch's num_batches_tracked)
   * @param ignored keys under the prefix that are neither loaded nor unexpected
   */
  static Loaded check(
      String module, int numFeatures, List<String> keys, Set<String> missingAsZero,
      Set<String> ignored, Map<String, TypedTensor> stateDict, String prefix, boolean strict) {
    if (stateDict == null) {
      throw new IllegalArgumentException("stateDict must not be null; " + module);
    }
    checkPrefix(prefix);
    List<String> missing = new ArrayList<>();
    List<String> unexpected = new ArrayList<>();
    for (String key : keys) {
      if (!stateDict.containsKey(prefix + key) && !missingAsZero.contains(key)) {
        missing.add(prefix + key);
      }
    }
    for (String full : stateDict.keySet()) {
      if (full != null && full.startsWith(prefix)) {
        String rest = full.substring(prefix.length());
        if (!keys.contains(rest) && !ignored.contains(rest)) {
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
      TypedTensor t = stateDict.get(full);
      if (t == null) {
        if (missingAsZero.contains(key)) {
          loaded.numBatchesTracked = 0L; // PyTorch's default for checkpoints without the counter
        }
        continue;
      }
      if (key.equals(NUM_BATCHES_TRACKED)) {
        if (t.dtype() != DType.I64 || t.shape().rank() != 0) {
          throw new IllegalArgumentException("'" + full + "' must be a 0-dim I64 tensor, as PyTorch"
              + " writes it, but is " + t + "; " + module);
        }
        long count = t.longValue();
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
