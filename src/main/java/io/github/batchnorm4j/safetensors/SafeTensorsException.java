package io.github.batchnorm4j.safetensors;

import java.io.IOException;

/**
 * A safetensors file (or stream) is malformed, truncated, exceeds a limit, or holds a tensor that
 * cannot be loaded into Java arrays. The message names the problem and, when one is involved, the
 * tensor's key ({@link #key()}). It is the only exception the reader throws for bad content; other
 * {@link IOException}s come from the file system itself.
 */
public final class SafeTensorsException extends IOException {

  private static final long serialVersionUID = 1L;

  /** The tensor's key at fault, or null when the problem concerns the file as a whole. */
  private final String key;

  /**
   * Creates the exception.
   *
   * @param message what is wrong, including the key when there is one
   * @param key the tensor's key (name) involved, or null when the problem is not about one tensor
   */
  public SafeTensorsException(String message, String key) {
    super(message);
    this.key = key;
  }

  /** {@return the key of the tensor at fault, or null if the problem concerns the file as a whole} */
  public String key() {
    return key;
  }
}
