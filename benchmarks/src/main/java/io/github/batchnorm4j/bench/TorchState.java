package io.github.batchnorm4j.bench;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import java.util.Arrays;
import java.util.List;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * Resident libtorch tensors for the PyTorch benchmarks, the same data as {@link BatchNorm4jState}:
 * x ~ N(0.5, 1), dy ~ N(0, 1), gamma and beta away from 1 and 0 (and taking gradients, as in
 * training), running statistics at their initial values.
 *
 * <p>{@code threads}: {@value BatchNorm4jState#DEFAULT} leaves PyTorch at its own defaults (DJL
 * sets nothing unless the system properties {@code ai.djl.pytorch.num_threads} /
 * {@code num_interop_threads} are given, so libtorch picks its intra-op and inter-op thread counts;
 * both are recorded in the fork log). A number n sets both the inter-op and the intra-op thread
 * count to n: through DJL's system properties before the engine starts (the inter-op count can only
 * be set before libtorch's inter-op pool exists), then checked.
 *
 * <p>The fork must run with the {@code GLIBC_TUNABLES} of {@link #REQUIRED_GLIBC_TUNABLES}: without
 * them glibc's malloc returns libtorch's large output buffers to the kernel after every call and
 * PyTorch's times are inflated and erratic. The set-up fails if the variable lacks any of them, so
 * no run can publish a PyTorch baseline measured without them. benchmarks/run.sh sets it.
 */
@State(Scope.Benchmark)
public abstract class TorchState {

  /** The malloc settings every fork that loads libtorch must run with. */
  static final String REQUIRED_GLIBC_TUNABLES = "glibc.malloc.arena_max=1"
      + ":glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296";

  @Param({"32x64x56x56", "32x256x14x14", "8x512x7x7", "128x32x8x8", "64x16x28x28", "2x4x2x2"})
  public String shape;

  @Param({BatchNorm4jState.DEFAULT, "1", "2"})
  public String threads;

  NDManager manager;
  PtNDArray x;
  PtNDArray dy;
  PtNDArray weight;
  PtNDArray bias;
  PtNDArray runningMean;
  PtNDArray runningVar;
  private ForkProbe probe;

  /** Fails unless every setting of {@link #REQUIRED_GLIBC_TUNABLES} is in {@code env}. */
  static void checkTunables(String env) {
    List<String> have = env == null ? List.of() : Arrays.asList(env.split(":"));
    for (String needed : REQUIRED_GLIBC_TUNABLES.split(":")) {
      if (!have.contains(needed)) {
        throw new IllegalStateException("PyTorch benchmarks need the environment variable "
            + "GLIBC_TUNABLES=" + REQUIRED_GLIBC_TUNABLES + " (missing " + needed + "; have "
            + env + "); run them through benchmarks/run.sh or export it before java -jar");
      }
    }
  }

  @Setup(Level.Trial)
  public void createTensors(BenchmarkParams params) {
    probe = ForkProbe.begin(params);
    checkTunables(System.getenv("GLIBC_TUNABLES"));
    boolean defaults = BatchNorm4jState.DEFAULT.equals(threads);
    if (!defaults) {
      System.setProperty("ai.djl.pytorch.num_interop_threads", threads);
      System.setProperty("ai.djl.pytorch.num_threads", threads);
    }
    Engine engine = Engine.getEngine("PyTorch");
    if (!defaults) {
      int n = Integer.parseInt(threads);
      JniUtils.setNumThreads(n); // a no-op if DJL has set it; checked below either way
      if (JniUtils.getNumThreads() != n || JniUtils.getNumInteropThreads() != n) {
        throw new IllegalStateException("torch threads intra-op " + JniUtils.getNumThreads()
            + ", inter-op " + JniUtils.getNumInteropThreads() + ", wanted " + n);
      }
    }
    probe.fact("torchIntraOpThreads", JniUtils.getNumThreads());
    probe.fact("torchInterOpThreads", JniUtils.getNumInteropThreads());
    manager = engine.newBaseManager(Device.cpu());
    BenchShape s = BenchShape.parse(shape);
    Shape sh = new Shape(s.n, s.c, s.h, s.w);
    x = (PtNDArray) manager.create(BenchShape.random(1, s.numel(), 0.5), sh);
    dy = (PtNDArray) manager.create(BenchShape.random(2, s.numel(), 0), sh);
    float[] w = new float[s.c];
    float[] b = new float[s.c];
    float[] ones = new float[s.c];
    for (int c = 0; c < s.c; c++) {
      w[c] = 1.5f + 0.01f * c;
      b[c] = -0.25f;
      ones[c] = 1f;
    }
    Shape cs = new Shape(s.c);
    weight = (PtNDArray) manager.create(w, cs);
    bias = (PtNDArray) manager.create(b, cs);
    runningMean = (PtNDArray) manager.create(new float[s.c], cs);
    runningVar = (PtNDArray) manager.create(ones, cs);
    // Gradients for gamma and beta, as in training; grad mode stays off outside recorded forwards.
    JniUtils.setGradMode(false);
    JniUtils.attachGradient(weight, true);
    JniUtils.attachGradient(bias, true);
  }

  @TearDown(Level.Trial)
  public void closeTensors() {
    manager.close();
    probe.end();
  }
}
