package io.github.batchnorm4j;

import java.util.List;

/**
 * What a non-strict {@code loadStateDict} skipped, like the {@code _IncompatibleKeys} that PyTorch's
 * {@code load_state_dict} returns: the module's keys the state dict lacked (those entries kept their
 * values) and the state dict's keys under the prefix that the module does not have (ignored). Both
 * lists hold full keys, prefix included, and are empty after a strict load.
 *
 * @param missingKeys the module's keys absent from the state dict; unmodifiable
 * @param unexpectedKeys keys under the prefix that the module does not have; unmodifiable
 */
public record IncompatibleKeys(List<String> missingKeys, List<String> unexpectedKeys) {

  /**
   * Copies both lists.
   *
   * @param missingKeys the module's keys absent from the state dict; copied
   * @param unexpectedKeys keys under the prefix that the module does not have; copied
   * @throws IllegalArgumentException if a list is null or holds a null
   */
  public IncompatibleKeys {
    if (missingKeys == null || unexpectedKeys == null || hasNull(missingKeys)
        || hasNull(unexpectedKeys)) {
      throw new IllegalArgumentException("missingKeys and unexpectedKeys must be lists without"
          + " null but are " + missingKeys + " and " + unexpectedKeys);
    }
    missingKeys = List.copyOf(missingKeys);
    unexpectedKeys = List.copyOf(unexpectedKeys);
  }

  /** List.of lists throw on contains(null), so the elements are looked at one by one. */
  private static boolean hasNull(List<String> keys) {
    for (String key : keys) {
      if (key == null) {
        return true;
      }
    }
    return false;
  }

  /** {@return true if nothing was missing or unexpected} */
  public boolean isEmpty() {
    return missingKeys.isEmpty() && unexpectedKeys.isEmpty();
  }
}
