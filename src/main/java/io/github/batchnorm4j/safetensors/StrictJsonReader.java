package io.github.batchnorm4j.safetensors;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small pull parser for strict JSON (RFC 8259) over an already decoded string, for untrusted
 * input such as a safetensors header.
 *
 * <p>Strict means: no comments, no trailing commas, no leading zeros or '+' in numbers, no
 * unescaped control characters or unpaired surrogates in strings, only the four JSON whitespace
 * characters, and nothing but whitespace after the document. Nesting deeper than {@code maxDepth}
 * is an error, not a stack overflow: the reader keeps its own fixed-size stack and never recurses,
 * and {@link #readTree} recurses at most {@code maxDepth} levels. Every problem is a
 * {@link JsonSyntaxException} with the character offset.
 */
final class StrictJsonReader {

  /** What the next call can consume. */
  public enum Token {
    /** The start of an object, '{'. */
    BEGIN_OBJECT,
    /** The end of an object, '}'. */
    END_OBJECT,
    /** The start of an array, '['. */
    BEGIN_ARRAY,
    /** The end of an array, ']'. */
    END_ARRAY,
    /** A member name. */
    NAME,
    /** A string value. */
    STRING,
    /** A number. */
    NUMBER,
    /** The literal {@code true}. */
    TRUE,
    /** The literal {@code false}. */
    FALSE,
    /** The literal {@code null}. */
    NULL,
    /** The end of the input. */
    END_DOCUMENT
  }

  private static final byte EMPTY_DOCUMENT = 0;
  private static final byte NONEMPTY_DOCUMENT = 1;
  private static final byte EMPTY_ARRAY = 2;
  private static final byte NONEMPTY_ARRAY = 3;
  private static final byte EMPTY_OBJECT = 4;
  private static final byte DANGLING_NAME = 5;
  private static final byte NONEMPTY_OBJECT = 6;

  private final String text;
  private final byte[] stack;
  private int depth;
  private int pos;
  private Token peeked;

  /**
   * @param text the JSON text
   * @param maxDepth the deepest nesting of objects and arrays allowed, &gt;= 1
   */
  public StrictJsonReader(String text, int maxDepth) {
    this.text = text;
    this.stack = new byte[maxDepth + 1];
    this.stack[0] = EMPTY_DOCUMENT;
    this.depth = 1;
  }

  /** {@return the offset of the next character to read, for messages} */
  public int position() {
    return pos;
  }

  /**
   * {@return the kind of the next token without consuming it}
   *
   * @throws JsonSyntaxException if the input is not valid JSON here
   */
  public Token peek() throws JsonSyntaxException {
    if (peeked != null) {
      return peeked;
    }
    byte context = stack[depth - 1];
    int c;
    switch (context) {
      case EMPTY_DOCUMENT:
        stack[depth - 1] = NONEMPTY_DOCUMENT;
        return peeked = valueToken(nextNonWhitespace("a JSON value"));
      case NONEMPTY_DOCUMENT:
        skipWhitespace();
        if (pos < text.length()) {
          throw error("unexpected '" + printable(text.charAt(pos)) + "' after the end of the JSON document");
        }
        return peeked = Token.END_DOCUMENT;
      case EMPTY_ARRAY:
        c = nextNonWhitespace("a value or ']'");
        if (c == ']') {
          return peeked = Token.END_ARRAY;
        }
        stack[depth - 1] = NONEMPTY_ARRAY;
        return peeked = valueToken(c);
      case NONEMPTY_ARRAY:
        c = nextNonWhitespace("',' or ']'");
        if (c == ']') {
          return peeked = Token.END_ARRAY;
        }
        if (c != ',') {
          throw errorBefore("expected ',' or ']' but found '" + printable(c) + "'");
        }
        return peeked = valueToken(nextNonWhitespace("a value after ','"));
      case EMPTY_OBJECT:
      case NONEMPTY_OBJECT:
        c = nextNonWhitespace(context == EMPTY_OBJECT ? "a name or '}'" : "',' or '}'");
        if (c == '}') {
          return peeked = Token.END_OBJECT;
        }
        if (context == NONEMPTY_OBJECT) {
          if (c != ',') {
            throw errorBefore("expected ',' or '}' but found '" + printable(c) + "'");
          }
          c = nextNonWhitespace("a name after ','");
        }
        if (c != '"') {
          throw errorBefore("expected a quoted name but found '" + printable(c) + "'");
        }
        stack[depth - 1] = DANGLING_NAME;
        return peeked = Token.NAME;
      case DANGLING_NAME:
        c = nextNonWhitespace("':'");
        if (c != ':') {
          throw errorBefore("expected ':' after a name but found '" + printable(c) + "'");
        }
        stack[depth - 1] = NONEMPTY_OBJECT;
        return peeked = valueToken(nextNonWhitespace("a value after ':'"));
      default:
        throw new AssertionError(context);
    }
  }

  /** Classifies the value starting with c (already consumed); literals are consumed whole. */
  private Token valueToken(int c) throws JsonSyntaxException {
    switch (c) {
      case '{':
        return Token.BEGIN_OBJECT;
      case '[':
        return Token.BEGIN_ARRAY;
      case '"':
        return Token.STRING;
      case 't':
        expectLiteral("rue");
        return Token.TRUE;
      case 'f':
        expectLiteral("alse");
        return Token.FALSE;
      case 'n':
        expectLiteral("ull");
        return Token.NULL;
      default:
        if (c == '-' || (c >= '0' && c <= '9')) {
          pos--; // the number is scanned whole by nextNumber
          return Token.NUMBER;
        }
        throw errorBefore("expected a JSON value but found '" + printable(c) + "'");
    }
  }

  private void expectLiteral(String rest) throws JsonSyntaxException {
    if (!text.startsWith(rest, pos)) {
      throw error("invalid literal; expected true, false or null");
    }
    pos += rest.length();
  }

  /**
   * Consumes '{'.
   *
   * @throws JsonSyntaxException if the input is not valid JSON here
   */
  public void beginObject() throws JsonSyntaxException {
    expect(Token.BEGIN_OBJECT);
    push(EMPTY_OBJECT);
  }

  /**
   * Consumes '}'.
   *
   * @throws JsonSyntaxException if the input is not valid JSON here
   */
  public void endObject() throws JsonSyntaxException {
    expect(Token.END_OBJECT);
    depth--;
  }

  /**
   * Consumes '['.
   *
   * @throws JsonSyntaxException if the input is not valid JSON here
   */
  public void beginArray() throws JsonSyntaxException {
    expect(Token.BEGIN_ARRAY);
    push(EMPTY_ARRAY);
  }

  /**
   * Consumes ']'.
   *
   * @throws JsonSyntaxException if the input is not valid JSON here
   */
  public void endArray() throws JsonSyntaxException {
    expect(Token.END_ARRAY);
    depth--;
  }

  /**
   * {@return true if the current object or array has another element}
   *
   * @throws JsonSyntaxException if the input is not valid JSON here
   */
  public boolean hasNext() throws JsonSyntaxException {
    Token t = peek();
    return t != Token.END_OBJECT && t != Token.END_ARRAY && t != Token.END_DOCUMENT;
  }

  /**
   * Consumes a member name.
   *
   * @return the name
   * @throws JsonSyntaxException if the input is not valid JSON here
   */
  public String nextName() throws JsonSyntaxException {
    expect(Token.NAME);
    return readString();
  }

  /**
   * Consumes a string value.
   *
   * @return the string, unescaped
   * @throws JsonSyntaxException if the input is not valid JSON here
   */
  public String nextString() throws JsonSyntaxException {
    expect(Token.STRING);
    return readString();
  }

  /**
   * Consumes true or false.
   *
   * @return the value
   * @throws JsonSyntaxException if the input is not valid JSON here
   */
  public boolean nextBoolean() throws JsonSyntaxException {
    Token t = peek();
    if (t != Token.TRUE && t != Token.FALSE) {
      throw error("expected true or false but found " + describe(t));
    }
    peeked = null;
    return t == Token.TRUE;
  }

  /**
   * Consumes null.
   *
   * @throws JsonSyntaxException if the input is not valid JSON here
   */
  public void nextNull() throws JsonSyntaxException {
    expect(Token.NULL);
  }

  /**
   * Consumes a number and returns its text, checked against the JSON number grammar.
   *
   * @return the number's text
   * @throws JsonSyntaxException if the input is not valid JSON here
   */
  public String nextNumber() throws JsonSyntaxException {
    expect(Token.NUMBER);
    int start = pos;
    if (pos < text.length() && text.charAt(pos) == '-') {
      pos++;
    }
    if (pos >= text.length() || !isDigit(text.charAt(pos))) {
      throw error("a number needs a digit after '-'");
    }
    if (text.charAt(pos) == '0') {
      pos++;
      if (pos < text.length() && isDigit(text.charAt(pos))) {
        throw error("numbers must not have leading zeros");
      }
    } else {
      skipDigits();
    }
    if (pos < text.length() && text.charAt(pos) == '.') {
      pos++;
      if (pos >= text.length() || !isDigit(text.charAt(pos))) {
        throw error("a number needs a digit after '.'");
      }
      skipDigits();
    }
    if (pos < text.length() && (text.charAt(pos) == 'e' || text.charAt(pos) == 'E')) {
      pos++;
      if (pos < text.length() && (text.charAt(pos) == '+' || text.charAt(pos) == '-')) {
        pos++;
      }
      if (pos >= text.length() || !isDigit(text.charAt(pos))) {
        throw error("a number needs a digit in its exponent");
      }
      skipDigits();
    }
    return text.substring(start, pos);
  }

  /**
   * Consumes a number that must be a non-negative integer written without fraction or exponent
   * and at most {@link Long#MAX_VALUE}.
   *
   * @param what names the value in messages, for example "shape of tensor 'w'"
   * @return the value
   * @throws JsonSyntaxException if the input is not valid JSON here
   */
  public long nextNonNegativeLong(String what) throws JsonSyntaxException {
    if (peek() != Token.NUMBER) {
      throw error(what + " must be a non-negative integer but is " + describe(peek()));
    }
    int start = pos;
    String number = nextNumber();
    for (int i = 0; i < number.length(); i++) {
      if (!isDigit(number.charAt(i))) {
        pos = start;
        throw error(what + " must be a non-negative integer but is " + abbreviate(number));
      }
    }
    if (number.length() > 19
        || (number.length() == 19 && number.compareTo(Long.toString(Long.MAX_VALUE)) > 0)) {
      pos = start;
      throw error(what + " is " + abbreviate(number) + ", larger than " + Long.MAX_VALUE);
    }
    return Long.parseLong(number);
  }

  /**
   * Checks that nothing but whitespace follows the document.
   *
   * @throws JsonSyntaxException if the input is not valid JSON here
   */
  public void endDocument() throws JsonSyntaxException {
    expect(Token.END_DOCUMENT);
  }

  /**
   * Reads the next value as a tree: objects as {@link LinkedHashMap} (duplicate names rejected),
   * arrays as {@link ArrayList}, strings, {@link Long} for integers that fit, {@link Double} for
   * other numbers, {@link Boolean}, and null.
   *
   * @return the value: a Map, List, String, number text, Boolean or null
   * @throws JsonSyntaxException if the input is not valid JSON here
   */
  public Object readTree() throws JsonSyntaxException {
    Token t = peek();
    switch (t) {
      case BEGIN_OBJECT: {
        beginObject();
        Map<String, Object> map = new LinkedHashMap<>();
        while (hasNext()) {
          int at = pos;
          String name = nextName();
          if (map.containsKey(name)) {
            pos = at;
            throw error("duplicate name \"" + abbreviate(name) + "\"");
          }
          map.put(name, readTree());
        }
        endObject();
        return map;
      }
      case BEGIN_ARRAY: {
        beginArray();
        List<Object> list = new ArrayList<>();
        while (hasNext()) {
          list.add(readTree());
        }
        endArray();
        return list;
      }
      case STRING:
        return nextString();
      case NUMBER: {
        String n = nextNumber();
        if (n.indexOf('.') < 0 && n.indexOf('e') < 0 && n.indexOf('E') < 0 && n.length() < 19) {
          return Long.parseLong(n);
        }
        return Double.parseDouble(n);
      }
      case TRUE:
      case FALSE:
        return nextBoolean();
      case NULL:
        nextNull();
        return null;
      default:
        throw error("expected a value but found " + describe(t));
    }
  }

  /**
   * Parses a whole document into a tree; see {@link #readTree()}.
   *
   * @param maxDepth the deepest nesting allowed
   * @param text the whole JSON document
   * @return the document's value, as {@link #readTree()} returns it
   * @throws JsonSyntaxException if the input is not valid JSON here
   */
  public static Object parse(String text, int maxDepth) throws JsonSyntaxException {
    StrictJsonReader r = new StrictJsonReader(text, maxDepth);
    Object tree = r.readTree();
    r.endDocument();
    return tree;
  }

  // ---------------------------------------------------------------------------------------------

  private void expect(Token expected) throws JsonSyntaxException {
    Token t = peek();
    if (t != expected) {
      throw error("expected " + describe(expected) + " but found " + describe(t));
    }
    peeked = null;
  }

  private void push(byte context) throws JsonSyntaxException {
    if (depth == stack.length) {
      throw error("JSON nested deeper than " + (stack.length - 1) + " levels");
    }
    stack[depth++] = context;
  }

  private String readString() throws JsonSyntaxException {
    StringBuilder sb = null;
    int runStart = pos;
    while (true) {
      if (pos >= text.length()) {
        throw error("unterminated string");
      }
      char c = text.charAt(pos);
      if (c == '"') {
        String s = sb == null ? text.substring(runStart, pos) : sb.append(text, runStart, pos).toString();
        pos++;
        return s;
      }
      if (c < 0x20) {
        throw error("unescaped control character U+" + hex4(c) + " in a string");
      }
      if (Character.isSurrogate(c)) {
        // The decoder let only valid pairs through, but check anyway: a lone surrogate would not
        // survive being written back as UTF-8.
        if (Character.isHighSurrogate(c) && pos + 1 < text.length()
            && Character.isLowSurrogate(text.charAt(pos + 1))) {
          pos += 2;
          continue;
        }
        throw error("unpaired surrogate in a string");
      }
      if (c != '\\') {
        pos++;
        continue;
      }
      if (sb == null) {
        sb = new StringBuilder();
      }
      sb.append(text, runStart, pos);
      pos++;
      if (pos >= text.length()) {
        throw error("unterminated escape sequence");
      }
      char e = text.charAt(pos++);
      switch (e) {
        case '"':
        case '\\':
        case '/':
          sb.append(e);
          break;
        case 'b':
          sb.append('\b');
          break;
        case 'f':
          sb.append('\f');
          break;
        case 'n':
          sb.append('\n');
          break;
        case 'r':
          sb.append('\r');
          break;
        case 't':
          sb.append('\t');
          break;
        case 'u': {
          char u = readHex4();
          if (Character.isHighSurrogate(u)) {
            if (!text.startsWith("\\u", pos)) {
              throw error("unpaired surrogate escape \\u" + hex4(u));
            }
            pos += 2;
            char low = readHex4();
            if (!Character.isLowSurrogate(low)) {
              throw error("surrogate escape \\u" + hex4(u) + " is not followed by a low surrogate");
            }
            sb.append(u).append(low);
          } else if (Character.isLowSurrogate(u)) {
            throw error("unpaired surrogate escape \\u" + hex4(u));
          } else {
            sb.append(u);
          }
          break;
        }
        default:
          pos--;
          throw error("invalid escape '\\" + printable(e) + "'");
      }
      runStart = pos;
    }
  }

  private char readHex4() throws JsonSyntaxException {
    if (pos + 4 > text.length()) {
      throw error("truncated \\u escape");
    }
    int v = 0;
    for (int i = 0; i < 4; i++) {
      int d = Character.digit(text.charAt(pos + i), 16);
      if (d < 0 || text.charAt(pos + i) > 'f') {
        throw error("invalid hex digit in a \\u escape");
      }
      v = v * 16 + d;
    }
    pos += 4;
    return (char) v;
  }

  private int nextNonWhitespace(String expected) throws JsonSyntaxException {
    skipWhitespace();
    if (pos >= text.length()) {
      throw error("unexpected end of the JSON text; expected " + expected);
    }
    return text.charAt(pos++);
  }

  private void skipWhitespace() {
    while (pos < text.length()) {
      char c = text.charAt(pos);
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
        return;
      }
      pos++;
    }
  }

  private void skipDigits() {
    while (pos < text.length() && isDigit(text.charAt(pos))) {
      pos++;
    }
  }

  private static boolean isDigit(char c) {
    return c >= '0' && c <= '9';
  }

  private JsonSyntaxException error(String message) {
    return new JsonSyntaxException(message, pos);
  }

  /** For problems with the character just consumed. */
  private JsonSyntaxException errorBefore(String message) {
    return new JsonSyntaxException(message, pos - 1);
  }

  private static String describe(Token t) {
    switch (t) {
      case BEGIN_OBJECT:
        return "'{'";
      case END_OBJECT:
        return "'}'";
      case BEGIN_ARRAY:
        return "'['";
      case END_ARRAY:
        return "']'";
      case NAME:
        return "a name";
      case STRING:
        return "a string";
      case NUMBER:
        return "a number";
      case TRUE:
        return "true";
      case FALSE:
        return "false";
      case NULL:
        return "null";
      default:
        return "the end of the document";
    }
  }

  private static String printable(int c) {
    if (c >= 0x20 && c < 0x7f) {
      return String.valueOf((char) c);
    }
    return "U+" + hex4(c);
  }

  private static String hex4(int c) {
    String h = Integer.toHexString(c).toUpperCase(java.util.Locale.ROOT);
    return "0000".substring(Math.min(4, h.length())) + h;
  }

  /**
   * Keeps messages short when the input is huge.
   *
   * @param s the text
   * @return the text, cut to a readable length
   */
  public static String abbreviate(String s) {
    return s.length() <= 80 ? s : s.substring(0, 77) + "...";
  }
}
