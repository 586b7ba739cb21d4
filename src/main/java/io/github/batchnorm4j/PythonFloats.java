package io.github.batchnorm4j;

import java.math.BigDecimal;
import java.math.MathContext;

/**
 * Hyperparameters in {@code toString}, written as PyTorch prints them ({@code 1e-05}, {@code 0.1})
 * but rounded to 15 significant digits, the most a decimal value keeps through a double: so
 * {@code momentum(1 - 0.99)} prints as {@code 0.01}, not as its binary value 0.010000000000000009
 * (which Python's repr would show). The value used in the arithmetic is not rounded.
 */
final class PythonFloats {

  private PythonFloats() {}

  /**
   * Formats a value like Python's float repr of the value rounded to 15 significant digits:
   * positional for decimal exponents -4 to 15, otherwise {@code d.ddde-XX}.
   *
   * @param v the value
   * @return for example {@code "1e-05"}, {@code "0.1"}, {@code "1.0"}, {@code "nan"}, {@code "inf"}
   */
  static String format(double v) {
    if (Double.isNaN(v)) {
      return "nan";
    }
    if (Double.isInfinite(v)) {
      return v > 0 ? "inf" : "-inf";
    }
    if (v == 0) {
      return (1 / v < 0) ? "-0.0" : "0.0";
    }
    BigDecimal d = new BigDecimal(v).round(new MathContext(15)).stripTrailingZeros();
    int exponent = d.precision() - d.scale() - 1;
    if (exponent < -4 || exponent >= 16) {
      String digits = d.unscaledValue().abs().toString();
      String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
      return (d.signum() < 0 ? "-" : "") + mantissa + "e" + (exponent < 0 ? "-" : "+")
          + String.format("%02d", Math.abs(exponent));
    }
    String plain = d.toPlainString();
    return plain.contains(".") ? plain : plain + ".0";
  }
}
