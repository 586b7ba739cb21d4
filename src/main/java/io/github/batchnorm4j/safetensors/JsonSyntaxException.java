package io.github.batchnorm4j.safetensors;

/** Malformed JSON, with the character offset where the reader noticed it. */
final class JsonSyntaxException extends Exception {

  private static final long serialVersionUID = 1L;

  private final int offset;

  /**
   * @param message what is wrong
   * @param offset the character offset in the JSON text
   */
  public JsonSyntaxException(String message, int offset) {
    super(message + " (at character " + offset + ")");
    this.offset = offset;
  }

  /** {@return the character offset in the JSON text} */
  public int offset() {
    return offset;
  }
}
