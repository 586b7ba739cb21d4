package io.github.batchnorm4j.examples.common;

import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A minimal command-line parser for the examples: {@code --name value} or {@code --name=value},
 * with defaults and a generated {@code --help}. The examples take their arguments through Maven,
 * for example {@code -Dexec.args="--epochs 3 --lr 0.1"}.
 */
public final class Flags {

  /** A bad command line; the message says what is wrong. */
  public static final class UsageException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public UsageException(String message) {
      super(message);
    }
  }

  private record Option(String defaultValue, String description) {}

  private final String command;
  private final String summary;
  private final Map<String, Option> options = new LinkedHashMap<>();
  private final Map<String, String> values = new LinkedHashMap<>();

  /**
   * @param command how to run the program, shown in the help
   * @param summary one sentence on what the program shows
   */
  public Flags(String command, String summary) {
    this.command = command;
    this.summary = summary;
  }

  /** Declares an option {@code --name} with its default value and a one-line description. */
  public Flags option(String name, String defaultValue, String description) {
    options.put(name, new Option(defaultValue, description));
    return this;
  }

  /**
   * Reads the arguments. Prints the help and returns false for {@code --help} or {@code -h}.
   *
   * @throws UsageException for an unknown option, a missing value or a value given twice
   */
  public boolean parse(String[] args, PrintStream out) {
    values.clear();
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      if (arg.equals("--help") || arg.equals("-h")) {
        printHelp(out);
        return false;
      }
      if (!arg.startsWith("--")) {
        throw new UsageException("unexpected argument '" + arg + "'; options start with --");
      }
      String name = arg.substring(2);
      String value;
      int eq = name.indexOf('=');
      if (eq >= 0) {
        value = name.substring(eq + 1);
        name = name.substring(0, eq);
      } else {
        if (i + 1 >= args.length) {
          throw new UsageException("option --" + name + " needs a value");
        }
        value = args[++i];
      }
      if (!options.containsKey(name)) {
        throw new UsageException("unknown option --" + name + "; known: "
            + String.join(", ", options.keySet().stream().map(s -> "--" + s).toList()));
      }
      if (values.put(name, value) != null) {
        throw new UsageException("option --" + name + " given twice");
      }
    }
    return true;
  }

  /** Prints the usage: the command, the summary and every option with its default. */
  public void printHelp(PrintStream out) {
    out.println("Usage: " + command + " [options]");
    out.println(summary);
    out.println();
    out.println("Options (pass them with -Dexec.args=\"--name value ...\"):");
    int width = options.keySet().stream().mapToInt(String::length).max().orElse(0) + 2;
    for (Map.Entry<String, Option> e : options.entrySet()) {
      out.printf("  --%-" + width + "s %s (default: %s)%n", e.getKey(), e.getValue().description(),
          e.getValue().defaultValue());
    }
    out.printf("  --%-" + width + "s %s%n", "help", "print this help and exit");
  }

  public String string(String name) {
    if (!options.containsKey(name)) {
      throw new IllegalStateException("option --" + name + " was not declared");
    }
    return values.getOrDefault(name, options.get(name).defaultValue());
  }

  public int integer(String name) {
    try {
      return Integer.parseInt(string(name));
    } catch (NumberFormatException e) {
      throw new UsageException("--" + name + " must be an integer but is '" + string(name) + "'");
    }
  }

  /** An integer that must be at least {@code min}. */
  public int integer(String name, int min) {
    int v = integer(name);
    if (v < min) {
      throw new UsageException("--" + name + " must be >= " + min + " but is " + v);
    }
    return v;
  }

  public double number(String name) {
    try {
      return Double.parseDouble(string(name));
    } catch (NumberFormatException e) {
      throw new UsageException("--" + name + " must be a number but is '" + string(name) + "'");
    }
  }

  public long longValue(String name) {
    try {
      return Long.parseLong(string(name));
    } catch (NumberFormatException e) {
      throw new UsageException("--" + name + " must be an integer but is '" + string(name) + "'");
    }
  }
}
