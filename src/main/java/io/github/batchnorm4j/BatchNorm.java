package io.github.batchnorm4j;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.Set;
import java.util.function.Function;

/**
 * Batch normalization over the channel dimension (Ioffe and Szegedy, 2015), the implementation
 * shared by {@link BatchNorm1d}, {@link BatchNorm2d} and {@link BatchNorm3d}. It behaves like
 * PyTorch 2.x's {@code torch.nn.BatchNorm1d/2d/3d}.
 *
 * <h2>What it computes</h2>
 * For an input of shape (N, C, *spatial), channel c is normalized over its m = N * prod(spatial)
 * values, every sample and every spatial position:
 * <pre>
 * mean_c = (1/m) sum x          var_c = (1/m) sum (x - mean_c)^2      (biased variance)
 * y      = (x - mean_c) / sqrt(var_c + eps) * gamma_c + beta_c
 * </pre>
 * gamma ({@link #weight()}, initially 1) and beta ({@link #bias()}, initially 0) are learned; their
 * gradients come from {@link #backward}. mean and var come from the forward pass.
 *
 * <h2>Training and eval mode</h2>
 * A new module is in training mode ({@link #train()}): it normalizes with the statistics of the
 * batch and, when it tracks running statistics, updates them (momentum {@code f}):
 * <pre>
 * numBatchesTracked += 1
 * f = momentum, or 1 / numBatchesTracked for a cumulative moving average
 * runningMean = (1 - f) * runningMean + f * mean_c
 * runningVar  = (1 - f) * runningVar  + f * var_c * m / (m - 1)          (unbiased variance)
 * </pre>
 * In eval mode ({@link #eval()}) it normalizes with runningMean and runningVar and changes nothing.
 * Without running statistics ({@code trackRunningStats(false)}) eval mode uses the batch statistics,
 * exactly as training does, but updates nothing; as in PyTorch.
 *
 * <h2>Forward and backward</h2>
 * {@link #forward(Tensor, Tensor)} remembers its input and the batch statistics (references and a
 * few per-channel values, not copies); {@link #backward(Tensor, Tensor)} then returns the gradient
 * with respect to that input and ADDS the parameter gradients into {@link #weightGrad()} and
 * {@link #biasGrad()}, as PyTorch accumulates {@code .grad}. The input array must therefore not be
 * changed between the forward and its backward. The two-argument forms allocate nothing.
 *
 * <h2>Differences from PyTorch</h2>
 * <ul>
 *   <li>Gradients start as zero-filled arrays rather than None; the sums are the same.
 *   <li>eps must be &gt; 0 (PyTorch accepts 0, which divides by zero for a constant channel).
 *   <li>momentum must lie in [0, 1] (PyTorch accepts any float; outside [0, 1] the running
 *       average extrapolates, which no convention intends).
 *   <li>Error messages are the library's own: they name the argument, the expected and actual
 *       values and the shape (a batch of one value per channel, for example: "expected more than
 *       1 value per channel when training, but the input has N * spatial = 1 ..."), not PyTorch's
 *       wording.
 *   <li>backward may be called more than once after one forward (like {@code retain_graph=True});
 *       each call adds the parameter gradients again.
 *   <li>Not a difference, but easy to miss: an empty batch (N = 0 or a spatial size 0) is no
 *       error in training; nothing is written and the running statistics stay, but
 *       numBatchesTracked counts it, as in PyTorch (so a cumulative average counts it too).
 *   <li>A rejected input changes nothing. (PyTorch increments {@code num_batches_tracked} before
 *       it checks for a single value per channel, so there a rejected batch is still counted.)
 *   <li>Accuracy: every output element is y = (x - mean) * alpha + beta, alpha = gamma * invStd.
 *       The Vector API kernels, and the scalar ones on JDK 25 and later, compute {@code fma(x,
 *       alpha, beta - mean * alpha)} in double and round once (the folded shift costs about 1e-16
 *       relative): within half an ulp of y. The scalar kernels of JDK 17 (every call without the
 *       Vector API module, and calls under 4,096 values with it) compute it in float with the
 *       constants split into two floats and x less a pivot (the mean when the data has a large
 *       offset), rounding twice: within about half an ulp of y plus half an ulp of the shift,
 *       an absolute error as PyTorch's is. The backward recovers the exact batch mean. So inputs
 *       with a large common offset (say 1e4 + noise) keep their accuracy, where PyTorch's float
 *       form x * alpha + shift loses about |mean| / std ulps (docs/numerics.md).
 * </ul>
 *
 * <h2>Interop</h2>
 * <ul>
 *   <li>{@link #stateDict()} and {@link #loadStateDict(Map, String, boolean)} exchange the state
 *       with PyTorch's {@code state_dict()} keys, order and dtypes; with
 *       {@link io.github.batchnorm4j.safetensors.SafeTensors} they read and write PyTorch
 *       checkpoints.
 *   <li>{@link Builder#layout(Layout)} accepts channels-last data (N, *spatial, C);
 *       {@link Builder#activation(Activation)} fuses a ReLU; {@link Builder#unbiasedRunningVar}
 *       selects the Keras and DL4J running-variance convention.
 *   <li>{@link BatchNormFolding} folds an eval-mode module into the preceding convolution or linear
 *       layer; {@link FrozenBatchNorm2d} is a batch norm that never changes.
 * </ul>
 * See docs/interop.md for recipes.
 *
 * <h2>Errors and threads</h2>
 * Bad arguments raise {@link IllegalArgumentException} with the argument, the expected and actual
 * values and the input shape, before anything has changed. NaN and infinity in the data are not
 * errors: like PyTorch, they propagate into the outputs and statistics of their channel. A module is
 * not thread-safe: a forward or backward that starts while another of the same module is running
 * throws {@link IllegalStateException} (a cheap guard; it cannot see calls from two threads that
 * do not overlap in time, so order those yourself). By default a call of at least 262,144 values
 * (131,072 for a call with sums, such as a training call, on the scalar kernels) uses up to
 * {@link BatchNormOptions#automaticThreads()} threads (the processors, capped by {@code
 * -Dbatchnorm4j.threads}) and a smaller one the caller's thread only, unless it has at least
 * 131,072 values and comes within 20 µs of the end of the thread's previous call (see {@link
 * BatchNormOptions#AUTO_THREADS}); {@link
 * Builder#threads(int)} sets the most threads exactly. Results are bitwise identical for every
 * thread count.
 */
public abstract sealed class BatchNorm permits BatchNorm1d, BatchNorm2d, BatchNorm3d {

  private final int numFeatures;
  private final BatchNormOptions options;
  private final double momentum; // NaN for the cumulative moving average
  private final boolean affine;
  private final boolean trackRunningStats;

  private final float[] weight;
  private final float[] bias;
  private final float[] weightGrad;
  private final float[] biasGrad;
  private final float[] runningMean;
  private final float[] runningVar;
  private long numBatchesTracked;

  private boolean training = true;
  /** How many times the mode has changed: lets {@link SyncBatchNorm} see a change since its forward. */
  private long modeChanges;

  // The per-channel arrays above grouped by role, as the kernels take them (made once).
  private final AffineParameters affineParameters;
  private final ChannelStatistics runningStatistics;
  private final ParameterGradients parameterGradients;

  // What the most recent forward saved for backward.
  private final BatchStatistics saved;
  private Tensor savedInput;
  private Tensor savedOutput; // read by the backward for the fused ReLU's mask
  private boolean savedUsedBatchStats;
  private String backwardUnavailable = "backward called before any forward";

  // 1 while a forward or backward runs; see enter().
  @SuppressWarnings("unused") // accessed through BUSY
  private volatile int busy;
  private static final VarHandle BUSY;

  static {
    try {
      BUSY = MethodHandles.lookup().findVarHandle(BatchNorm.class, "busy", int.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  BatchNorm(Builder<?> b) {
    this.numFeatures = b.numFeatures;
    this.options = b.options;
    this.momentum = b.cumulative ? Double.NaN : b.momentum;
    this.affine = b.affine;
    this.trackRunningStats = b.trackRunningStats;
    this.weight = affine ? new float[numFeatures] : null;
    this.bias = affine ? new float[numFeatures] : null;
    this.weightGrad = affine ? new float[numFeatures] : null;
    this.biasGrad = affine ? new float[numFeatures] : null;
    this.runningMean = trackRunningStats ? new float[numFeatures] : null;
    this.runningVar = trackRunningStats ? new float[numFeatures] : null;
    this.affineParameters = affine ? new AffineParameters(weight, bias) : null;
    this.runningStatistics = trackRunningStats ? new ChannelStatistics(runningMean, runningVar) : null;
    this.parameterGradients = affine ? new ParameterGradients(weightGrad, biasGrad) : null;
    this.saved = new BatchStatistics(new float[numFeatures], new float[numFeatures]);
    fillInitialState();
  }

  /** The class name used in messages, for example {@code BatchNorm2d}. */
  private String name() {
    return getClass().getSimpleName();
  }

  /**
   * Checks the input's rank and describes the accepted ones in this layout, for example "rank 4
   * (N, C, H, W)".
   *
   * @return null when the rank is accepted, else the accepted ranks for the message
   */
  abstract String rejectRank(int rank, Layout layout);

  // ---------------------------------------------------------------------------------------------
  // Mode

  /**
   * Switches to training mode: forward normalizes with batch statistics and updates the running
   * statistics. Switching mode invalidates the saved forward, so backward needs a new forward.
   *
   * @return this module
   */
  public BatchNorm train() {
    setMode(true);
    return this;
  }

  /**
   * Switches to eval mode: forward normalizes with the running statistics (or, without them, the
   * batch statistics) and modifies nothing. Switching mode invalidates the saved forward.
   *
   * @return this module
   */
  public BatchNorm eval() {
    setMode(false);
    return this;
  }

  private void setMode(boolean toTraining) {
    if (training != toTraining) {
      modeChanges++;
    }
    if (training != toTraining && savedInput != null) {
      savedInput = null;
      backwardUnavailable = "backward called after the mode changed from "
          + (training ? "training to eval" : "eval to training")
          + " since the last forward; run forward again in the new mode";
    }
    training = toTraining;
  }

  /** {@return how many times train() or eval() has switched the mode, for SyncBatchNorm} */
  long modeChanges() {
    return modeChanges;
  }

  /** {@return true in training mode, false in eval mode} */
  public boolean isTraining() {
    return training;
  }

  // ---------------------------------------------------------------------------------------------
  // Forward

  /**
   * Normalizes {@code x} into a new tensor; see {@link #forward(Tensor, Tensor)}.
   *
   * @param x the input, not modified
   * @return a new tensor with the shape of x
   */
  public Tensor forward(Tensor x) {
    checkInput(x);
    Tensor out = Tensor.zeros(x.shape());
    forward(x, out);
    return out;
  }

  /**
   * Normalizes {@code x} into {@code out}, allocating nothing.
   *
   * <p>Training mode: {@code y = (x - mean_c) / sqrt(var_c + eps) * gamma_c + beta_c} with the
   * batch's mean and biased variance per channel; increments {@link #numBatchesTracked()} and
   * updates {@link #runningMean()} and {@link #runningVar()} when tracking. Eval mode: the same
   * formula with the running statistics (batch statistics if not tracking); nothing is modified.
   * The input, batch mean and inverse standard deviation are remembered for {@link #backward}.
   *
   * @param x the input, (N, C, *spatial) with C = {@link #numFeatures()}. Not modified, unless out
   *     is x; it is referenced, not copied, for the backward, so do not change it before then.
   * @param out the output, with the shape of x. Modified. May be x itself (in place), but then
   *     backward is not available, since the input it needs has been overwritten.
   * @throws IllegalArgumentException if x or out is null, x has the wrong rank or channel count,
   *     out's shape differs, or (when batch statistics are needed) there is only one value per
   *     channel. Nothing has changed when it is thrown.
   * @throws IllegalStateException if another forward or backward of this module is running at
   *     the same time (a module is not thread-safe); nothing has changed then
   */
  public void forward(Tensor x, Tensor out) {
    enter("forward");
    try {
      guardedForward(x, out);
    } finally {
      exit();
    }
  }

  private void guardedForward(Tensor x, Tensor out) {
    checkInput(x);
    Shape shape = x.shape();
    Checks.sameShape("out", out, shape, "the input");
    boolean useBatchStats = training || !trackRunningStats;
    if (useBatchStats) {
      Checks.moreThanOneValue(shape, options.layout(),
          training ? "when training" : "when using batch statistics");
    }
    float[] xs = x.data();
    float[] ys = out.data();
    if (useBatchStats) {
      boolean update = training && trackRunningStats;
      // PyTorch increments the counter first, so the cumulative average's first factor is 1. The
      // counter saturates at Long.MAX_VALUE (PyTorch's int64 wraps negative): f stays in (0, 1].
      long count = update && numBatchesTracked != Long.MAX_VALUE
          ? numBatchesTracked + 1 : numBatchesTracked;
      double factor = Double.isNaN(momentum) ? 1.0 / count : momentum;
      BatchNormFunctional.runForwardTraining(options, shape, xs, ys, affineParameters,
          update ? runningStatistics : null, factor, saved);
      numBatchesTracked = count;
    } else {
      BatchNormFunctional.runForwardInference(options, shape, xs, ys, affineParameters,
          runningStatistics);
    }
    savedUsedBatchStats = useBatchStats;
    if (xs == ys) {
      savedInput = null;
      backwardUnavailable = "backward is not available after an in-place forward (out was the input"
          + " array, so the input the gradient needs was overwritten); input shape " + shape;
    } else {
      savedInput = x;
      savedOutput = out;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Backward

  /**
   * Returns the gradient with respect to the input of the most recent forward, in a new tensor; see
   * {@link #backward(Tensor, Tensor)}.
   *
   * @param gradOutput dL/dy, with the shape of that input. Not modified.
   * @return dL/dx, a new tensor
   */
  public Tensor backward(Tensor gradOutput) {
    Tensor input = checkBackward(gradOutput);
    Tensor gradInput = Tensor.zeros(input.shape());
    backward(gradOutput, gradInput);
    return gradInput;
  }

  /**
   * Writes the gradient with respect to the input of the most recent forward into
   * {@code gradInput}, and ADDS the parameter gradients into {@link #weightGrad()} and
   * {@link #biasGrad()} (when affine). Allocates nothing.
   *
   * <p>When that forward used batch statistics (training mode, or eval without running stats),
   * with xhat = (x - mean) * invStd:
   * <pre>
   * dbeta_c  = sum dy     dgamma_c = sum dy * xhat
   * dx       = gamma_c * invStd_c * (dy - dbeta_c / m - xhat * dgamma_c / m)
   * </pre>
   * When it used the running statistics (eval), they are constants:
   * <pre>
   * dx = dy * gamma_c / sqrt(runningVar_c + eps)
   * dgamma_c = sum dy * (x - runningMean_c) / sqrt(runningVar_c + eps)    dbeta_c = sum dy
   * </pre>
   *
   * @param gradOutput dL/dy, with the shape of the forward's input. Not modified unless it is
   *     gradInput.
   * @param gradInput receives dL/dx, same shape. Modified. May be gradOutput itself.
   * @throws IllegalArgumentException if an argument is null or has the wrong shape, or gradInput
   *     is the saved input's array (or, with a fused activation, the saved output's), which a
   *     second backward would then read overwritten
   * @throws IllegalStateException if there was no forward since construction or the last mode
   *     change, or the last forward was in place, or another forward or backward of this module
   *     is running at the same time (a module is not thread-safe)
   */
  public void backward(Tensor gradOutput, Tensor gradInput) {
    enter("backward");
    try {
      guardedBackward(gradOutput, gradInput);
    } finally {
      exit();
    }
  }

  private void guardedBackward(Tensor gradOutput, Tensor gradInput) {
    Tensor input = checkBackward(gradOutput);
    Checks.sameShape("gradInput", gradInput, input.shape(), "the input of the last forward");
    if (gradInput.data() == input.data()
        || (options.activation() != Activation.NONE && gradInput.data() == savedOutput.data())) {
      throw new IllegalArgumentException("gradInput must not share its array with the "
          + (gradInput.data() == input.data() ? "input" : "output") + " saved by the last forward"
          + " (backward reads it, and may be called again); pass a separate gradInput; input shape "
          + input.shape());
    }
    Shape shape = input.shape();
    float[] xs = input.data();
    float[] dys = gradOutput.data();
    float[] dxs = gradInput.data();
    float[] ys = savedOutput.data();
    if (savedUsedBatchStats) {
      BatchNormFunctional.runBackwardTraining(options, shape, xs, ys, dys, dxs, affineParameters,
          saved, parameterGradients);
    } else {
      BatchNormFunctional.runBackwardInference(options, shape, xs, ys, dys, dxs, affineParameters,
          runningStatistics, parameterGradients);
    }
  }

  private Tensor checkBackward(Tensor gradOutput) {
    if (savedInput == null) {
      throw new IllegalStateException(name() + ": " + backwardUnavailable);
    }
    Checks.sameShape("gradOutput", gradOutput, savedInput.shape(), "the input of the last forward");
    return savedInput;
  }

  // ---------------------------------------------------------------------------------------------
  // Checks

  /**
   * Claims the module for one forward or backward: a second thread arriving while the first is
   * inside gets an exception instead of silently mixing saved statistics and losing counter
   * updates. One compare-and-set at entry and one release store at exit: about 2.3 ns a call,
   * uncontended (measured in a System.nanoTime loop; the smallest forward takes about 55 ns). It catches overlapping calls only: a forward on one thread followed
   * by a forward on another before the first thread's backward is not seen.
   */
  private void enter(String operation) {
    if (!BUSY.compareAndSet(this, 0, 1)) {
      throw new IllegalStateException(name() + "." + operation + " called while another forward or"
          + " backward of the same module is running: a module must not be used by two threads at"
          + " once (use one module per thread, or synchronize the calls)");
    }
  }

  private void exit() {
    BUSY.setRelease(this, 0);
  }

  private void checkInput(Tensor x) {
    Checks.moduleInput(name(), x, x == null ? null : rejectRank(x.shape().rank(), options.layout()),
        options.layout(), numFeatures);
  }

  // ---------------------------------------------------------------------------------------------
  // State

  /** {@return C, the number of channels this module normalizes} */
  public int numFeatures() {
    return numFeatures;
  }

  /** {@return eps, the value added to the variance before the square root} */
  public double eps() {
    return options.eps();
  }

  /**
   * Returns the module's eps, layout, activation, running-variance convention and threads, as
   * {@link BatchNormFunctional} takes them.
   *
   * @return the options, immutable
   */
  public BatchNormOptions options() {
    return options;
  }

  /**
   * {@return the momentum f of the running-statistics update, or empty for a cumulative moving
   * average (PyTorch's {@code momentum=None}, f = 1 / numBatchesTracked)}
   */
  public OptionalDouble momentum() {
    return Double.isNaN(momentum) ? OptionalDouble.empty() : OptionalDouble.of(momentum);
  }

  /** {@return true if the module has learnable gamma and beta} */
  public boolean isAffine() {
    return affine;
  }

  /** {@return true if the module keeps running statistics} */
  public boolean tracksRunningStats() {
    return trackRunningStats;
  }

  /**
   * {@return the most threads one call may use (1 = the caller's thread only), or {@link
   * BatchNormOptions#AUTO_THREADS} (0, the default) for the automatic count}
   */
  public int threads() {
    return options.threads();
  }

  /** {@return the data layout the module expects: channels-first (the default) or channels-last} */
  public Layout layout() {
    return options.layout();
  }

  /** {@return the activation fused into forward and backward ({@link Activation#NONE} by default)} */
  public Activation activation() {
    return options.activation();
  }

  /**
   * {@return true if the running variance is updated with the unbiased batch variance
   * (var * m / (m - 1), PyTorch's convention, the default), false for the biased one (Keras, DL4J)}
   */
  public boolean unbiasedRunningVar() {
    return options.unbiasedRunningVar();
  }

  /**
   * {@return gamma, length C, as the live array: writing into it changes the module (like
   * PyTorch's {@code weight.data})} Returns null when not affine (PyTorch registers None).
   */
  public float[] weight() {
    return weight;
  }

  /** {@return beta, length C, as the live array; null when not affine} */
  public float[] bias() {
    return bias;
  }

  /**
   * {@return the accumulated dL/dgamma, length C, as the live array; null when not affine}
   * {@link #backward} adds to it; {@link #zeroGrad()} clears it.
   */
  public float[] weightGrad() {
    return weightGrad;
  }

  /** {@return the accumulated dL/dbeta, length C, as the live array; null when not affine} */
  public float[] biasGrad() {
    return biasGrad;
  }

  /**
   * {@return the running mean, length C, as the live array; null without running statistics
   * (PyTorch registers None)}
   */
  public float[] runningMean() {
    return runningMean;
  }

  /**
   * {@return the running (unbiased) variance, length C, as the live array; null without running
   * statistics}
   */
  public float[] runningVar() {
    return runningVar;
  }

  /**
   * {@return how many training-mode forwards have updated the running statistics; always 0 without
   * running statistics (where PyTorch has None)} The counter saturates at {@link Long#MAX_VALUE}
   * instead of wrapping to a negative value as PyTorch's int64 would.
   */
  public long numBatchesTracked() {
    return numBatchesTracked;
  }

  /**
   * Sets the batch counter, as when loading a checkpoint; it sets f for the cumulative moving
   * average.
   *
   * @param count the new value, &gt;= 0
   * @throws IllegalArgumentException if count &lt; 0
   * @throws IllegalStateException if the module has no running statistics
   */
  public void setNumBatchesTracked(long count) {
    if (!trackRunningStats) {
      throw new IllegalStateException(
          name() + " was built with trackRunningStats(false) and has no numBatchesTracked");
    }
    if (count < 0) {
      throw new IllegalArgumentException("numBatchesTracked must be >= 0 but is " + count);
    }
    numBatchesTracked = count;
  }

  /**
   * {@return the names of this module's entries in a PyTorch {@code state_dict()}, in PyTorch's
   * order: {@code weight} and {@code bias} when affine, then {@code running_mean},
   * {@code running_var} and {@code num_batches_tracked} (a 0-dim int64 there) when tracking running
   * statistics} Absent state has no entry, as in PyTorch.
   */
  public List<String> stateDictKeys() {
    List<String> keys = new ArrayList<>(5);
    if (affine) {
      keys.add("weight");
      keys.add("bias");
    }
    if (trackRunningStats) {
      keys.add("running_mean");
      keys.add("running_var");
      keys.add("num_batches_tracked");
    }
    return List.copyOf(keys);
  }

  /**
   * {@return the module's state as PyTorch's {@code state_dict()} does, in its order and with its
   * keys and dtypes (see {@link #stateDictKeys()}): weight, bias, running_mean and running_var as
   * F32 tensors of shape (C), num_batches_tracked as a 0-dim I64} The tensors are copies: later
   * training does not change them. The map is ordered and unmodifiable; write it with
   * {@link io.github.batchnorm4j.safetensors.SafeTensors#write}.
   */
  public Map<String, TypedTensor> stateDict() {
    return stateDict("");
  }

  /**
   * {@return {@link #stateDict()} with every key prefixed, as the entries of this module appear in a
   * whole model's state dict (for example prefix {@code "layer1.0.bn1."})}
   *
   * @param prefix "" or a prefix ending with '.'
   * @throws IllegalArgumentException if prefix is null or non-empty without a trailing '.'
   */
  public Map<String, TypedTensor> stateDict(String prefix) {
    StateDicts.checkPrefix(prefix);
    LinkedHashMap<String, TypedTensor> out = new LinkedHashMap<>();
    StateDicts.putVector(out, prefix, StateDicts.WEIGHT, weight);
    StateDicts.putVector(out, prefix, StateDicts.BIAS, bias);
    StateDicts.putVector(out, prefix, StateDicts.RUNNING_MEAN, runningMean);
    StateDicts.putVector(out, prefix, StateDicts.RUNNING_VAR, runningVar);
    if (trackRunningStats) {
      out.put(prefix + StateDicts.NUM_BATCHES_TRACKED, TypedTensor.scalarLong(numBatchesTracked));
    }
    return StateDicts.unmodifiable(out);
  }

  /**
   * Loads a state dict strictly and without prefix; see
   * {@link #loadStateDict(Map, String, boolean)}.
   *
   * @param stateDict the entries, keyed by PyTorch's names; not modified, not retained
   * @return the missing and unexpected keys (empty after a strict load)
   * @throws IllegalArgumentException if a key is missing or unexpected, or an entry has the wrong
   *     shape or dtype; the module is unchanged then
   */
  public IncompatibleKeys loadStateDict(Map<String, TypedTensor> stateDict) {
    return loadStateDict(stateDict, "", true);
  }

  /**
   * Copies this module's entries from a state dict, like PyTorch's
   * {@code load_state_dict(state_dict, strict)} restricted to one module. Only keys that start with
   * {@code prefix} concern this module, so a whole model's state dict (say, read from a
   * safetensors file) can be passed with the module's prefix, such as {@code "layer1.0.bn1."}.
   *
   * <ul>
   *   <li>weight, bias, running_mean, running_var: shape (C), any floating dtype (F32 exactly; F64
   *       rounded to nearest; F16 and BF16 exactly), copied into the live arrays.
   *   <li>num_batches_tracked: a 0-dim I64 (or, as PyTorch accepts, a one-element I64 of shape
   *       (1)), &gt;= 0. When absent the module keeps its own counter and the key is never
   *       missing: PyTorch 2.x's rule for a state dict without version metadata, which is every
   *       state dict here (safetensors files carry none).
   *   <li>A null value is an error naming the key, as in PyTorch.
   *   <li>strict: a key of this module absent from the state dict ("missing"), or a key under the
   *       prefix that the module does not have ("unexpected", for example weight for an
   *       {@code affine(false)} module), is an error. Not strict: those keys are skipped and listed
   *       in the result, as PyTorch's {@code _IncompatibleKeys} lists them; the module keeps its
   *       values for the missing ones, so a load that finds none of its keys changes nothing.
   *   <li>In both modes, as in PyTorch, a wrong shape is an error, and so is a wrong dtype (an
   *       integer tensor for a float entry, or anything but I64 for the counter).
   * </ul>
   * The state dict is checked completely before anything is copied: after an exception the module
   * is unchanged. The mode, gradients and configuration are never changed.
   *
   * @param stateDict the entries; not modified, not retained
   * @param prefix "" or a prefix ending with '.'
   * @param strict whether missing and unexpected keys are errors
   * @return the missing and unexpected keys (both empty after a strict load)
   * @throws IllegalArgumentException if stateDict or prefix is null, the prefix lacks its trailing
   *     '.', or (see above) a key is missing or unexpected in strict mode, or an entry has the wrong
   *     shape, dtype or value; the message names the key
   */
  public IncompatibleKeys loadStateDict(
      Map<String, TypedTensor> stateDict, String prefix, boolean strict) {
    StateDicts.Loaded loaded = StateDicts.check(toString(), numFeatures, stateDictKeys(),
        Set.of(), stateDict, prefix, strict);
    if (affine) {
      StateDicts.copy(loaded, StateDicts.WEIGHT, weight);
      StateDicts.copy(loaded, StateDicts.BIAS, bias);
    }
    if (trackRunningStats) {
      StateDicts.copy(loaded, StateDicts.RUNNING_MEAN, runningMean);
      StateDicts.copy(loaded, StateDicts.RUNNING_VAR, runningVar);
      if (loaded.numBatchesTracked != null) {
        numBatchesTracked = loaded.numBatchesTracked;
      }
    }
    return loaded.incompatible;
  }

  /** Sets weightGrad and biasGrad to zero (nothing when not affine). */
  public void zeroGrad() {
    if (affine) {
      Arrays.fill(weightGrad, 0f);
      Arrays.fill(biasGrad, 0f);
    }
  }

  /**
   * Resets runningMean to 0, runningVar to 1 and numBatchesTracked to 0 (nothing without running
   * statistics).
   */
  public void resetRunningStats() {
    fillInitialRunningStats();
  }

  private void fillInitialRunningStats() {
    if (trackRunningStats) {
      Arrays.fill(runningMean, 0f);
      Arrays.fill(runningVar, 1f);
      numBatchesTracked = 0;
    }
  }

  /**
   * Calls {@link #resetRunningStats()}, then sets gamma to 1 and beta to 0 (when affine). Gradients
   * are not touched.
   */
  public void resetParameters() {
    fillInitialState();
  }

  private void fillInitialState() {
    fillInitialRunningStats();
    if (affine) {
      Arrays.fill(weight, 1f);
      Arrays.fill(bias, 0f);
    }
  }

  /**
   * Returns the configuration in PyTorch's notation, for example {@code BatchNorm2d(4, eps=1e-05,
   * momentum=0.1, affine=true, track_running_stats=true)}; eps and momentum are rounded to 15
   * significant digits, so {@code momentum(1 - 0.99)} shows as 0.01.
   */
  @Override
  public String toString() {
    Layout layout = options.layout();
    Activation activation = options.activation();
    return name() + "(" + numFeatures + ", eps=" + PythonFloats.format(options.eps()) + ", momentum="
        + (Double.isNaN(momentum) ? "None" : PythonFloats.format(momentum)) + ", affine=" + affine
        + ", track_running_stats=" + trackRunningStats
        + (layout == Layout.CHANNELS_FIRST ? "" : ", layout=" + layout)
        + (activation == Activation.NONE ? "" : ", activation=" + activation)
        + (options.unbiasedRunningVar() ? "" : ", unbiased_running_var=false") + ")";
  }

  // ---------------------------------------------------------------------------------------------
  // Builder

  /**
   * Configures a batch-norm module. Defaults are PyTorch's: eps 1e-5, momentum 0.1, affine, with
   * running statistics; threads {@link BatchNormOptions#AUTO_THREADS}. Values are validated by
   * {@link #build()}.
   *
   * @param <M> the module class built
   */
  public static final class Builder<M extends BatchNorm> {
    private final Function<Builder<M>, M> factory;
    private final String moduleName;
    final int numFeatures;
    double eps = 1e-5;
    double momentum = 0.1;
    boolean cumulative;
    boolean affine = true;
    boolean trackRunningStats = true;
    int threads = BatchNormOptions.AUTO_THREADS;
    Layout layout = Layout.CHANNELS_FIRST;
    Activation activation = Activation.NONE;
    boolean unbiasedRunningVar = true;

    Builder(String moduleName, int numFeatures, Function<Builder<M>, M> factory) {
      this.moduleName = moduleName;
      this.numFeatures = numFeatures;
      this.factory = factory;
    }

    /**
     * Sets eps, added to the variance for numerical stability; finite and &gt; 0. Default 1e-5.
     *
     * @param eps the value added to the variance, finite and &gt; 0
     * @return this builder
     */
    public Builder<M> eps(double eps) {
      this.eps = eps;
      return this;
    }

    /**
     * Sets the momentum f in [0, 1] of {@code running = (1 - f) * running + f * batch}
     * (PyTorch's convention: the weight of the NEW value). Default 0.1. Undoes
     * {@link #cumulativeMovingAverage()}.
     *
     * @param momentum f, in [0, 1]
     * @return this builder
     */
    public Builder<M> momentum(double momentum) {
      this.momentum = momentum;
      this.cumulative = false;
      return this;
    }

    /**
     * Uses a cumulative moving average, f = 1 / numBatchesTracked, so the running statistics are
     * the plain average over all batches seen (PyTorch's {@code momentum=None}).
     *
     * @return this builder
     */
    public Builder<M> cumulativeMovingAverage() {
      this.cumulative = true;
      return this;
    }

    /**
     * Whether the module has learnable gamma and beta (default true).
     *
     * @param affine whether the module has learnable gamma and beta
     * @return this builder
     */
    public Builder<M> affine(boolean affine) {
      this.affine = affine;
      return this;
    }

    /**
     * Whether the module keeps running statistics for eval mode (default true).
     *
     * @param trackRunningStats whether the module keeps running statistics
     * @return this builder
     */
    public Builder<M> trackRunningStats(boolean trackRunningStats) {
      this.trackRunningStats = trackRunningStats;
      return this;
    }

    /**
     * Sets the most threads one call may use, including the caller's: exactly n (never more than
     * the processors), whatever the system property {@code batchnorm4j.threads} says; 1 keeps
     * every call on the caller's thread. Calls of fewer than 32,768 values run on the caller's
     * thread whatever n is. The default, {@link BatchNormOptions#AUTO_THREADS} (0), uses up to
     * {@link BatchNormOptions#automaticThreads()} threads (the processors, capped by {@code
     * -Dbatchnorm4j.threads}) for calls of at least 262,144 values (131,072 for a call with sums,
     * such as a training call, on the scalar kernels), and the caller's thread for smaller ones
     * unless they come back to back ({@link BatchNormOptions#AUTO_THREADS}). Results are bitwise
     * identical for every value.
     *
     * @param threads the most threads one call may use, &gt;= 1, or {@link
     *     BatchNormOptions#AUTO_THREADS} for the automatic default
     * @return this builder
     */
    public Builder<M> threads(int threads) {
      this.threads = threads;
      return this;
    }

    /**
     * Sets the data layout: {@link Layout#CHANNELS_FIRST} (N, C, *spatial), the default, or
     * {@link Layout#CHANNELS_LAST} (N, *spatial, C), as Keras, DL4J's NHWC and PyTorch's
     * {@code channels_last} store it. Same formulas, statistics and accuracy; only the position of
     * the channel dimension in the input's shape changes. Not null.
     *
     * @param layout the data layout; not null
     * @return this builder
     */
    public Builder<M> layout(Layout layout) {
      this.layout = layout;
      return this;
    }

    /**
     * Fuses an activation into forward and backward: {@link Activation#RELU} gives
     * {@code y = max(0, BN(x))} in one pass, and a backward through both (default
     * {@link Activation#NONE}). With ReLU the forward's output is referenced, like its input, for
     * the backward's mask, so do not change it before the backward. Not null.
     *
     * @param activation the activation fused into forward and backward; not null
     * @return this builder
     */
    public Builder<M> activation(Activation activation) {
      this.activation = activation;
      return this;
    }

    /**
     * Chooses the running-variance estimate: true (the default, PyTorch) updates it with the
     * unbiased batch variance var * m / (m - 1); false (Keras, DL4J) with the biased var that the
     * normalization uses.
     *
     * @param unbiased true for PyTorch's unbiased running variance, false for the biased one
     * @return this builder
     */
    public Builder<M> unbiasedRunningVar(boolean unbiased) {
      this.unbiasedRunningVar = unbiased;
      return this;
    }

    /**
     * Builds the module, in training mode with gamma 1, beta 0, running mean 0 and variance 1.
     *
     * @return the new module
     * @throws IllegalArgumentException if numFeatures &lt; 1, eps is not finite and &gt; 0,
     *     momentum is outside [0, 1] (or NaN), threads &lt; 0, or layout or activation is null
     */
    public M build() {
      return factory.apply(validated());
    }

    /** The validated options, set by {@link #validated()}. */
    BatchNormOptions options;

    /** Checks every value (the shared rules of {@link Checks}); see {@link #build()}. */
    Builder<M> validated() {
      try {
        Checks.numFeatures(numFeatures);
        if (!cumulative) {
          Checks.momentum(momentum);
        }
        options = new BatchNormOptions(eps, layout, activation, unbiasedRunningVar, threads);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(e.getMessage() + " (" + moduleName + ")", e);
      }
      return this;
    }
  }
}
