package io.github.batchnorm4j;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A batch norm over (N, C, H, W) whose statistics and affine parameters are fixed, like
 * torchvision's {@code FrozenBatchNorm2d}: the layer detection and segmentation backbones use when
 * fine-tuning with small batches. It has no training mode, no gradients for its parameters and no
 * batch counter, and no call ever changes its state:
 * <pre>
 * y = act((x - runningMean_c) / sqrt(runningVar_c + eps) * weight_c + bias_c)
 * dx = g * weight_c / sqrt(runningVar_c + eps)      g = dy, masked where y &lt;= 0 for ReLU
 * </pre>
 * The state is set through the live arrays ({@link #weight()} etc.), from a trained module with
 * {@link #freeze(BatchNorm2d)}, or from a checkpoint with {@link #loadStateDict}. Its state dict has
 * torchvision's keys: weight, bias, running_mean, running_var (a num_batches_tracked entry in the
 * checkpoint is ignored, as torchvision does). Elements are computed as in {@link BatchNorm}
 * (torchvision computes {@code x * scale + shift} in float32).
 *
 * <p>Like {@link BatchNorm}, forward remembers its input and output (references) for the backward;
 * an instance is not thread-safe while it is being called, but its state never changes.
 */
public final class FrozenBatchNorm2d {

  private final int numFeatures;
  private final BatchNormOptions options;
  private final float[] weight;
  private final float[] bias;
  private final float[] runningMean;
  private final float[] runningVar;
  private final AffineParameters affine;
  private final ChannelStatistics statistics;

  private Tensor savedInput;
  private Tensor savedOutput;

  /**
   * Creates a frozen batch norm with torchvision's defaults: eps 1e-5, weight 1, bias 0, running
   * mean 0, running variance 1, channels-first, no activation.
   *
   * @param numFeatures C, &gt;= 1
   * @throws IllegalArgumentException if numFeatures &lt; 1
   */
  public FrozenBatchNorm2d(int numFeatures) {
    this(builder(numFeatures).validated());
  }

  private FrozenBatchNorm2d(Builder b) {
    this.numFeatures = b.numFeatures;
    this.options = b.options;
    this.weight = new float[numFeatures];
    this.bias = new float[numFeatures];
    this.runningMean = new float[numFeatures];
    this.runningVar = new float[numFeatures];
    this.affine = new AffineParameters(weight, bias);
    this.statistics = new ChannelStatistics(runningMean, runningVar);
    java.util.Arrays.fill(weight, 1f);
    java.util.Arrays.fill(runningVar, 1f);
  }

  /**
   * {@return a builder for C = numFeatures channels (checked by {@code build()})}
   *
   * @param numFeatures C, the number of channels, &gt;= 1
   */
  public static Builder builder(int numFeatures) {
    return new Builder(numFeatures);
  }

  /**
   * {@return a frozen copy of a trained module's eval-mode behaviour: its eps, layout and
   * activation, weight and bias (1 and 0 when not affine), running mean and variance} Later changes
   * to {@code bn} do not affect the copy.
   *
   * @param bn the module; not modified
   * @throws IllegalArgumentException if bn is null or has no running statistics (its eval mode
   *     then normalizes with batch statistics, which cannot be frozen)
   */
  public static FrozenBatchNorm2d freeze(BatchNorm2d bn) {
    if (bn == null) {
      throw new IllegalArgumentException("bn must not be null");
    }
    if (!bn.tracksRunningStats()) {
      throw new IllegalArgumentException("cannot freeze " + bn + ": without running statistics"
          + " its eval mode normalizes with batch statistics");
    }
    FrozenBatchNorm2d f = builder(bn.numFeatures()).eps(bn.eps()).layout(bn.layout())
        .activation(bn.activation()).threads(bn.threads()).build();
    if (bn.isAffine()) {
      System.arraycopy(bn.weight(), 0, f.weight, 0, f.numFeatures);
      System.arraycopy(bn.bias(), 0, f.bias, 0, f.numFeatures);
    }
    System.arraycopy(bn.runningMean(), 0, f.runningMean, 0, f.numFeatures);
    System.arraycopy(bn.runningVar(), 0, f.runningVar, 0, f.numFeatures);
    return f;
  }

  /**
   * Normalizes {@code x} into a new tensor; see {@link #forward(Tensor, Tensor)}.
   *
   * @param x the input; not modified
   * @return a new tensor with the shape of x
   */
  public Tensor forward(Tensor x) {
    checkInput(x);
    Tensor out = Tensor.zeros(x.shape());
    forward(x, out);
    return out;
  }

  /**
   * Writes {@code act((x - runningMean_c) / sqrt(runningVar_c + eps) * weight_c + bias_c)} into
   * {@code out}. Changes nothing else; allocates nothing.
   *
   * @param x the input, (N, C, H, W) or, channels-last, (N, H, W, C). Not modified unless out is x;
   *     referenced for the backward.
   * @param out the output, the shape of x. Modified. May be x (then backward is unavailable with
   *     ReLU, whose mask needs the output, and uses the shape only otherwise).
   * @throws IllegalArgumentException if x or out is null or has the wrong rank, channel count or
   *     shape
   */
  public void forward(Tensor x, Tensor out) {
    checkInput(x);
    Checks.sameShape("out", out, x.shape(), "the input");
    BatchNormFunctional.runForwardInference(options, x.shape(), x.data(), out.data(), affine,
        statistics);
    savedInput = x;
    savedOutput = out;
  }

  /**
   * {@return dL/dx for the most recent forward, in a new tensor: {@code g * weight_c /
   * sqrt(runningVar_c + eps)} with {@code g = dy} (masked where the output is &lt;= 0 for ReLU)}
   * There are no parameter gradients: the parameters are frozen.
   *
   * @param gradOutput dL/dy, the shape of the forward's input; not modified
   * @throws IllegalStateException if there was no forward, or (with ReLU) it was in place
   * @throws IllegalArgumentException if gradOutput is null or has the wrong shape
   */
  public Tensor backward(Tensor gradOutput) {
    if (savedInput == null) {
      throw new IllegalStateException("FrozenBatchNorm2d: backward called before any forward");
    }
    Tensor gradInput = Tensor.zeros(savedInput.shape());
    backward(gradOutput, gradInput);
    return gradInput;
  }

  /**
   * Writes dL/dx for the most recent forward into gradInput; see {@link #backward(Tensor)}.
   *
   * @param gradOutput dL/dy; not modified unless it is gradInput
   * @param gradInput receives dL/dx, the same shape. Modified. May be gradOutput, but not (with
   *     ReLU) the forward's output, whose mask a second backward would read overwritten.
   */
  public void backward(Tensor gradOutput, Tensor gradInput) {
    if (savedInput == null) {
      throw new IllegalStateException("FrozenBatchNorm2d: backward called before any forward");
    }
    Shape s = savedInput.shape();
    Checks.sameShape("gradOutput", gradOutput, s, "the input of the last forward");
    Checks.sameShape("gradInput", gradInput, s, "the input of the last forward");
    if (options.activation() == Activation.RELU && savedOutput.data() == savedInput.data()) {
      throw new IllegalStateException("FrozenBatchNorm2d: backward with ReLU is not available after"
          + " an in-place forward; input shape " + s);
    }
    if (options.activation() == Activation.RELU && gradInput.data() == savedOutput.data()) {
      throw new IllegalArgumentException("gradInput must not share its array with the output saved"
          + " by the last forward (the ReLU mask is read from it, and backward may be called again);"
          + " pass a separate gradInput; input shape " + s);
    }
    // The eval path of every module: the statistics and parameters are constants, and there are
    // no parameter gradients.
    BatchNormFunctional.runBackwardInference(options, s, savedInput.data(), savedOutput.data(),
        gradOutput.data(), gradInput.data(), affine, statistics, null);
  }

  private void checkInput(Tensor x) {
    Layout layout = options.layout();
    Checks.moduleInput("FrozenBatchNorm2d", x, x == null || x.shape().rank() == 4 ? null
        : layout == Layout.CHANNELS_FIRST ? "rank 4 (N, C, H, W)" : "rank 4 (N, H, W, C)",
        layout, numFeatures);
  }

  /** {@return C} */
  public int numFeatures() {
    return numFeatures;
  }

  /** {@return eps} */
  public double eps() {
    return options.eps();
  }

  /**
   * Returns eps, layout, activation and threads as {@link BatchNormFunctional} takes them.
   *
   * @return the options, immutable
   */
  public BatchNormOptions options() {
    return options;
  }

  /** {@return the data layout} */
  public Layout layout() {
    return options.layout();
  }

  /** {@return the fused activation} */
  public Activation activation() {
    return options.activation();
  }

  /** {@return gamma, length C, as the live array (write into it to set the state)} */
  public float[] weight() {
    return weight;
  }

  /** {@return beta, length C, as the live array} */
  public float[] bias() {
    return bias;
  }

  /** {@return the fixed mean, length C, as the live array} */
  public float[] runningMean() {
    return runningMean;
  }

  /** {@return the fixed variance, length C, as the live array} */
  public float[] runningVar() {
    return runningVar;
  }

  /**
   * {@return the state with torchvision's keys and order: weight, bias, running_mean, running_var,
   * each an F32 tensor of shape (C), copied} Ordered and unmodifiable.
   */
  public Map<String, TypedTensor> stateDict() {
    return stateDict("");
  }

  /**
   * {@return {@link #stateDict()} with every key prefixed}
   *
   * @param prefix "" or a prefix ending with '.'
   */
  public Map<String, TypedTensor> stateDict(String prefix) {
    StateDicts.checkPrefix(prefix);
    LinkedHashMap<String, TypedTensor> out = new LinkedHashMap<>();
    StateDicts.putVector(out, prefix, StateDicts.WEIGHT, weight);
    StateDicts.putVector(out, prefix, StateDicts.BIAS, bias);
    StateDicts.putVector(out, prefix, StateDicts.RUNNING_MEAN, runningMean);
    StateDicts.putVector(out, prefix, StateDicts.RUNNING_VAR, runningVar);
    return StateDicts.unmodifiable(out);
  }

  /**
   * Loads strictly without prefix; see {@link #loadStateDict(Map, String, boolean)}.
   *
   * @param stateDict the entries, keyed by PyTorch's names; not modified, not retained
   * @return the missing and unexpected keys (empty after a strict load)
   */
  public IncompatibleKeys loadStateDict(Map<String, TypedTensor> stateDict) {
    return loadStateDict(stateDict, "", true);
  }

  /**
   * Copies weight, bias, running_mean and running_var (shape (C), any floating dtype) from a state
   * dict, such as a {@code BatchNorm2d}'s or a torchvision {@code FrozenBatchNorm2d}'s. A
   * num_batches_tracked entry under the prefix is ignored. Missing and unexpected keys are errors
   * when strict and are returned otherwise; shapes and dtypes are always checked. The state dict is
   * checked completely first: after an exception nothing has changed.
   *
   * @param stateDict the entries; not modified
   * @param prefix "" or a prefix ending with '.'
   * @param strict whether missing and unexpected keys are errors
   * @return the keys skipped (empty after a strict load)
   * @throws IllegalArgumentException naming the key, as for {@link BatchNorm#loadStateDict(Map,
   *     String, boolean)}
   */
  public IncompatibleKeys loadStateDict(
      Map<String, TypedTensor> stateDict, String prefix, boolean strict) {
    StateDicts.Loaded loaded = StateDicts.check(toString(), numFeatures,
        List.of(StateDicts.WEIGHT, StateDicts.BIAS, StateDicts.RUNNING_MEAN, StateDicts.RUNNING_VAR),
        Set.of(StateDicts.NUM_BATCHES_TRACKED), stateDict, prefix, strict);
    StateDicts.copy(loaded, StateDicts.WEIGHT, weight);
    StateDicts.copy(loaded, StateDicts.BIAS, bias);
    StateDicts.copy(loaded, StateDicts.RUNNING_MEAN, runningMean);
    StateDicts.copy(loaded, StateDicts.RUNNING_VAR, runningVar);
    return loaded.incompatible;
  }

  /** Returns the configuration as torchvision prints it, for example {@code FrozenBatchNorm2d(64, eps=1e-05)}. */
  @Override
  public String toString() {
    return "FrozenBatchNorm2d(" + numFeatures + ", eps=" + PythonFloats.format(options.eps())
        + (options.layout() == Layout.CHANNELS_FIRST ? "" : ", layout=" + options.layout())
        + (options.activation() == Activation.NONE ? "" : ", activation=" + options.activation())
        + ")";
  }

  /** Configures a {@link FrozenBatchNorm2d}; values are checked by {@link #build()}. */
  public static final class Builder {
    private final int numFeatures;
    private double eps = 1e-5;
    private Layout layout = Layout.CHANNELS_FIRST;
    private Activation activation = Activation.NONE;
    private int threads = BatchNormOptions.AUTO_THREADS;

    private Builder(int numFeatures) {
      this.numFeatures = numFeatures;
    }

    /**
     * Sets eps, finite and &gt; 0 (default 1e-5, torchvision's).
     *
     * @param eps the value added to the variance, finite and &gt; 0
     * @return this builder
     */
    public Builder eps(double eps) {
      this.eps = eps;
      return this;
    }

    /**
     * Sets the data layout (default channels-first); not null.
     *
     * @param layout the data layout; not null
     * @return this builder
     */
    public Builder layout(Layout layout) {
      this.layout = layout;
      return this;
    }

    /**
     * Sets the fused activation (default none); not null.
     *
     * @param activation the activation fused into forward and backward; not null
     * @return this builder
     */
    public Builder activation(Activation activation) {
      this.activation = activation;
      return this;
    }

    /**
     * Sets the most threads one call may use, exactly (never more than the processors), as
     * {@link BatchNorm.Builder#threads(int)} does; the default, {@link
     * BatchNormOptions#AUTO_THREADS}, uses up to {@link BatchNormOptions#automaticThreads()}
     * threads for calls of at least 262,144 values, and of at least 131,072 when they come back
     * to back ({@link BatchNormOptions#AUTO_THREADS}). Results do not depend on it.
     *
     * @param threads the most threads one call may use, &gt;= 1, or {@link
     *     BatchNormOptions#AUTO_THREADS}
     * @return this builder
     */
    public Builder threads(int threads) {
      this.threads = threads;
      return this;
    }

    /**
     * Builds the module with weight 1, bias 0, running mean 0 and running variance 1.
     *
     * @return the new module
     * @throws IllegalArgumentException if numFeatures &lt; 1, eps is not finite and &gt; 0,
     *     threads &lt; 0, or layout or activation is null
     */
    public FrozenBatchNorm2d build() {
      return new FrozenBatchNorm2d(validated());
    }

    private BatchNormOptions options;

    /** Checks every value with the rules every module shares ({@link Checks}). */
    private Builder validated() {
      try {
        Checks.numFeatures(numFeatures);
        // The running-variance convention does not matter: nothing is ever updated.
        options = new BatchNormOptions(eps, layout, activation, true, threads);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(e.getMessage() + " (FrozenBatchNorm2d)", e);
      }
      return this;
    }
  }
}
