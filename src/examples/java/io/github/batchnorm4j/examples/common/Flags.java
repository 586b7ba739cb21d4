package io.github.batchnorm4j.examples.common;

import java.io.PrintStream;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParameterException;

/**
 * The examples' command lines, parsed by picocli: {@code --name value} or {@code --name=value},
 * defaults, {@code --help}, unknown and repeated options reported with suggestions. Each program
 * declares its options by name with a default and a description (picocli's programmatic API, so
 * that the six programs share one small declaration style); the values are read by name. The
 * examples take their arguments through Maven, for example
 * {@code -Dexec.args="--epochs 3 --lr 0.1"}.
 */
public final class Flags {

  /** A bad command line; the message says what is wrong. */
  public static final class UsageException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what is wrong with the command line
     */
    public UsageException(String message) {
      super(message);
    }
  }

  private final CommandSpec spec;
  private CommandLine.ParseResult parsed;

  /**
   * Starts a command line.
   *
   * @param command how to run the program, shown in the help
   * @param summary one sentence on what the program shows
   */
  public Flags(String command, String summary) {
    spec = CommandSpec.create().mixinStandardHelpOptions(true);
    spec.name(command);
    spec.usageMessage()
        .description(summary, "Options (pass them with -Dexec.args=\"--name value ...\"):")
        .sortOptions(false);
  }

  /**
   * Declares an option {@code --name} with its default value and a one-line description.
   *
   * @param name the option's name without the dashes
   * @param defaultValue the value when the option is not given
   * @param description what the option sets, for the help
   * @return this
   */
  public Flags option(String name, String defaultValue, String description) {
    spec.addOption(OptionSpec.builder("--" + name)
        .paramLabel("<" + name + ">")
        .type(String.class)
        .defaultValue(defaultValue)
        .description(description + " (default: ${DEFAULT-VALUE})")
        .build());
    return this;
  }

  /**
   * Reads the arguments. Prints the help and returns false for {@code --help} or {@code -h}.
   *
   * @param args the program's arguments
   * @param out where the help goes
   * @return false if only the help (or version) was asked for
   * @throws UsageException for an unknown option, a missing value or a value given twice
   */
  public boolean parse(String[] args, PrintStream out) {
    CommandLine commandLine = new CommandLine(spec);
    try {
      parsed = commandLine.parseArgs(args);
    } catch (ParameterException e) {
      throw new UsageException(e.getMessage());
    }
    if (commandLine.isUsageHelpRequested() || commandLine.isVersionHelpRequested()) {
      printHelp(out);
      return false;
    }
    return true;
  }

  /**
   * Prints the usage: the command, the summary and every option with its default.
   *
   * @param out where to print
   */
  public void printHelp(PrintStream out) {
    PrintWriter writer = new PrintWriter(out, true);
    new CommandLine(spec).usage(writer, CommandLine.Help.Ansi.OFF);
    writer.flush();
  }

  /**
   * {@return the option's value as given, or its default}
   *
   * @param name the option's name without the dashes
   */
  public String string(String name) {
    OptionSpec option = spec.findOption("--" + name);
    if (option == null) {
      throw new IllegalStateException("option --" + name + " was not declared");
    }
    return parsed != null ? parsed.matchedOptionValue("--" + name, option.defaultValue())
        : option.defaultValue();
  }

  /**
   * {@return the option's value as an int}
   *
   * @param name the option's name without the dashes
   * @throws UsageException if the value is not an integer
   */
  public int integer(String name) {
    try {
      return Integer.parseInt(string(name));
    } catch (NumberFormatException e) {
      throw new UsageException("--" + name + " must be an integer but is '" + string(name) + "'");
    }
  }

  /**
   * {@return the option's value as an int, at least {@code min}}
   *
   * @param name the option's name without the dashes
   * @param min the least value allowed
   * @throws UsageException if the value is not an integer or is below min
   */
  public int integer(String name, int min) {
    int v = integer(name);
    if (v < min) {
      throw new UsageException("--" + name + " must be >= " + min + " but is " + v);
    }
    return v;
  }

  /**
   * {@return the option's value as a double}
   *
   * @param name the option's name without the dashes
   * @throws UsageException if the value is not a number
   */
  public double number(String name) {
    try {
      return Double.parseDouble(string(name));
    } catch (NumberFormatException e) {
      throw new UsageException("--" + name + " must be a number but is '" + string(name) + "'");
    }
  }

  /**
   * {@return the option's value as a long}
   *
   * @param name the option's name without the dashes
   * @throws UsageException if the value is not an integer
   */
  public long longValue(String name) {
    try {
      return Long.parseLong(string(name));
    } catch (NumberFormatException e) {
      throw new UsageException("--" + name + " must be an integer but is '" + string(name) + "'");
    }
  }
}
