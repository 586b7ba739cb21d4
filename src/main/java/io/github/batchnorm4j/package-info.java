/**
 * Batch normalization for Java, with the semantics of PyTorch 2.x's {@code torch.nn.BatchNorm1d},
 * {@code BatchNorm2d} and {@code BatchNorm3d}.
 *
 * <h2>The pieces</h2>
 * <ul>
 *   <li>{@link io.github.batchnorm4j.Shape} and {@link io.github.batchnorm4j.Tensor}: an immutable
 *       shape and a dense row-major float32 array viewed through it.
 *   <li>{@link io.github.batchnorm4j.BatchNorm1d}, {@link io.github.batchnorm4j.BatchNorm2d},
 *       {@link io.github.batchnorm4j.BatchNorm3d}: stateful modules with learnable gamma and beta,
 *       running statistics, training and eval modes, forward and backward. The shared behaviour
 *       and the formulas are documented on {@link io.github.batchnorm4j.BatchNorm}.
 *   <li>{@link io.github.batchnorm4j.BatchNormFunctional}: the stateless kernels beneath the
 *       modules, over raw {@code float[]}, with {@link io.github.batchnorm4j.BatchNormOptions} and
 *       the per-channel arrays grouped by role ({@link io.github.batchnorm4j.AffineParameters},
 *       {@link io.github.batchnorm4j.ChannelStatistics},
 *       {@link io.github.batchnorm4j.BatchStatistics},
 *       {@link io.github.batchnorm4j.ParameterGradients}).
 *   <li>Interop (see docs/interop.md): PyTorch state dicts of {@link io.github.batchnorm4j.TypedTensor}
 *       ({@code stateDict}, {@code loadStateDict}), read and written as safetensors files by
 *       {@link io.github.batchnorm4j.safetensors.SafeTensors}; {@link io.github.batchnorm4j.Layout}
 *       for channels-last data; {@link io.github.batchnorm4j.Activation} for a fused ReLU;
 *       {@link io.github.batchnorm4j.BatchNormFolding} and
 *       {@link io.github.batchnorm4j.FrozenBatchNorm2d} for inference.
 * </ul>
 *
 * <h2>Contract</h2>
 * <ul>
 *   <li>No runtime dependencies; Java 17 or later.
 *   <li>Public methods check their arguments and throw {@link java.lang.IllegalArgumentException}
 *       naming the argument, the expected and actual values and the shape, before changing any
 *       state.
 *   <li>Steady state allocates nothing, in every layout and variant: the two-argument
 *       {@code forward(x, out)} and {@code backward(dy, dx)} and the functional layer write into
 *       caller-provided arrays; a module's memory is a handful of per-channel arrays fixed at
 *       construction. Scratch that outlives a call is bounded: each calling thread keeps at most
 *       4 MiB (a few doubles per channel and per reduction segment of 8,192 values), and each
 *       thread that runs the Vector API kernels at most 512 KiB (a few doubles per channel of one
 *       row) plus a few vectors' worth; a call that needs more (about 80,000 channels or more)
 *       allocates the excess and lets it go.
 *   <li>Threads: by default ({@link io.github.batchnorm4j.BatchNormOptions#AUTO_THREADS}) a call
 *       of at least 262,144 values (131,072 for a call with sums, such as a training call, on the
 *       scalar kernels, whose sums cost more per value) is shared between the caller and up to
 *       {@code availableProcessors - 1} shared daemon worker threads ({@code batchnorm4j-worker-1},
 *       ...), and a smaller call runs on the caller's thread unless it has at least 131,072
 *       values and comes back to back (within 20 µs of the end of the thread's previous call,
 *       while a worker is still awake); {@code -Dbatchnorm4j.threads=n}
 *       caps that default, and {@code threads(n)} sets an exact limit instead. After a call a
 *       worker spins for 20 µs, then parks. The workers are persistent, so several threads
 *       allocate nothing per call either, and results are bitwise identical whatever the number
 *       of threads.
 *   <li>Statistics are accumulated in double from values shifted by one of the channel's own values,
 *       so inputs with a large common offset keep their accuracy.
 *   <li>SIMD: with {@code --add-modules jdk.incubator.vector} the kernels use the Vector API (same
 *       accuracy contract); {@code -Dbatchnorm4j.simd=false} forces the scalar kernels. Until the
 *       JIT has compiled the Vector API kernels, calls run on the scalar ones while a background
 *       thread warms them up. {@link io.github.batchnorm4j.KernelInfo} says which kernels run and
 *       why.
 * </ul>
 */
package io.github.batchnorm4j;
