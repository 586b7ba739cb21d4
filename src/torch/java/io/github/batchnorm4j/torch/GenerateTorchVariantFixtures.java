package io.github.batchnorm4j.torch;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import io.github.batchnorm4j.testing.TestData;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes PyTorch's results for the variants the plain fixtures ({@link GenerateTorchFixtures}) do
 * not cover, channels-last data and a ReLU after the batch norm, into {@code
 * src/test/resources/torch-variant-fixtures/}, so that a test without PyTorch
 * (PyTorchVariantFixturesTest) holds the library's {@code Layout.CHANNELS_LAST} and {@code
 * Activation.RELU} to real PyTorch in every CI run, not only in the live suite.
 *
 * <p>Each case is a BatchNorm2d (momentum 0.2, eps 1e-5, random gamma and beta) run for two
 * training steps and one eval step, each with its own x and dy, as {@code LiveInteropTest} does:
 * channels-last data is (N, H, W, C) memory that PyTorch sees through a permuted view, (N, C, H,
 * W) with channels_last strides, so libtorch runs its channels-last kernels; the ReLU is {@code
 * torch.relu} on batch norm's output, and the gradients are those of {@code sum(out * dy)}.
 * Tensors per step P ({@code step0}, {@code step1}, {@code eval}), in the case's layout: {@code
 * P.x}, {@code P.dy}, {@code P.y}, {@code P.dx}, and per channel {@code P.dweight}, {@code
 * P.dbias}, {@code P.running_mean}, {@code P.running_var}; {@code init.weight} and {@code
 * init.bias}. Metadata: {@code case}, {@code layout} ({@code channels_first} or {@code
 * channels_last}), {@code activation} ({@code none} or {@code relu}), {@code shape} (N, C, H, W),
 * {@code momentum}, {@code eps}, {@code seed}, {@code torch}.
 *
 * <pre>
 * ./mvnw -q -Ppytorch test-compile exec:java \
 *     -Dexec.mainClass=io.github.batchnorm4j.torch.GenerateTorchVariantFixtures \
 *     -Dexec.classpathScope=test
 * </pre>
 */
public final class GenerateTorchVariantFixtures {

  /** Case i draws from {@code new SplittableRandom(SEED + i)}. */
  static final long SEED = 20261207L;

  static final double MOMENTUM = 0.2;
  static final double EPS = 1e-5;

  /** Keep the directory well under 1 MB. */
  static final long MAX_TOTAL_BYTES = 900_000L;

  record Case(String name, boolean channelsLast, boolean relu, int n, int c, int h, int w) {}

  static List<Case> cases() {
    List<Case> cases = new ArrayList<>();
    // A small shape (the scalar kernels: under KernelInfo.minVectorElements() values) and one of
    // 4,320 values with rows of 20 channels and 108-value planes (the vector kernels' full lanes
    // and tails, when the JVM has them), each in the three variants beyond the plain one.
    for (int[] s : new int[][] {{4, 6, 5, 7}, {2, 20, 9, 12}}) {
      String shape = s[0] + "x" + s[1] + "x" + s[2] + "x" + s[3];
      cases.add(new Case("channels_last_" + shape, true, false, s[0], s[1], s[2], s[3]));
      cases.add(new Case("channels_last_relu_" + shape, true, true, s[0], s[1], s[2], s[3]));
      cases.add(new Case("channels_first_relu_" + shape, false, true, s[0], s[1], s[2], s[3]));
    }
    return cases;
  }

  public static void main(String[] args) throws IOException {
    Path out = Paths.get(args.length > 0 ? args[0] : "src/test/resources/torch-variant-fixtures")
        .toAbsolutePath();
    if (System.getProperty("ai.djl.offline") == null) {
      System.setProperty("ai.djl.offline", "true");
    }
    Engine engine = Engine.getEngine("PyTorch");
    // Everything is computed and checked before the old files are replaced.
    Map<String, byte[]> files = new LinkedHashMap<>();
    long total = 0;
    try (NDManager manager = engine.newBaseManager(Device.cpu())) {
      List<Case> cases = cases();
      for (int i = 0; i < cases.size(); i++) {
        Case c = cases.get(i);
        String file = String.format("%02d_%s.safetensors", i, c.name());
        byte[] bytes = generate(engine, manager, c, SEED + i).toBytes();
        files.put(file, bytes);
        total += bytes.length;
        System.out.printf("%-44s %8d bytes%n", file, bytes.length);
      }
    }
    if (total > MAX_TOTAL_BYTES) {
      throw new IllegalStateException("fixtures take " + total + " bytes, more than "
          + MAX_TOTAL_BYTES + "; nothing written");
    }
    Files.createDirectories(out);
    try (DirectoryStream<Path> old = Files.newDirectoryStream(out, "*.safetensors")) {
      for (Path p : old) {
        Files.delete(p);
      }
    }
    for (Map.Entry<String, byte[]> f : files.entrySet()) {
      Files.write(out.resolve(f.getKey()), f.getValue());
    }
    List<String> index = new ArrayList<>(files.keySet());
    Files.write(out.resolve("index.txt"),
        (String.join("\n", index) + "\n").getBytes(StandardCharsets.UTF_8));
    System.out.printf("%d cases, %d bytes, libtorch %s: wrote %s%n", index.size(), total,
        engine.getVersion(), out);
  }

  static GenerateTorchFixtures.FixtureWriter generate(Engine engine, NDManager manager, Case c,
      long seed) {
    SplittableRandom rnd = new SplittableRandom(seed);
    int[] cs = {c.c()};
    int[] shape = c.channelsLast() ? new int[] {c.n(), c.h(), c.w(), c.c()}
        : new int[] {c.n(), c.c(), c.h(), c.w()};
    GenerateTorchFixtures.FixtureWriter w = new GenerateTorchFixtures.FixtureWriter();
    w.metadata("case", c.name())
        .metadata("layout", c.channelsLast() ? "channels_last" : "channels_first")
        .metadata("activation", c.relu() ? "relu" : "none")
        .metadata("shape", c.n() + "," + c.c() + "," + c.h() + "," + c.w())
        .metadata("momentum", Double.toString(MOMENTUM))
        .metadata("eps", Double.toString(EPS))
        .metadata("seed", Long.toString(seed))
        .metadata("torch", "libtorch " + engine.getVersion()
            + " via DJL PyTorch engine, CPU, float32")
        .metadata("generator", GenerateTorchVariantFixtures.class.getName());
    float[] weight = TestData.gaussian(rnd, c.c(), 0.3, 1);
    float[] bias = TestData.gaussian(rnd, c.c(), 0.5, 0);
    w.put("init.weight", cs, weight);
    w.put("init.bias", cs, bias);
    float[] runningMean = new float[c.c()];
    float[] runningVar = new float[c.c()];
    Arrays.fill(runningVar, 1f);
    int size = c.n() * c.c() * c.h() * c.w();
    String[] steps = {"step0", "step1", "eval"};
    for (String p : steps) {
      boolean training = !p.equals("eval");
      // Training normalizes with the batch's own statistics, so the ReLU cuts where
      // gamma * xhat + beta < 0, inside every channel for these gamma and beta; the eval step
      // uses running statistics that have not caught up with the offset of 2, and cuts elsewhere.
      float[] x = TestData.gaussian(rnd, size, 1.5, 2);
      float[] dy = TestData.gaussian(rnd, size, 1, 0);
      try (NDManager m = manager.newSubManager()) {
        ai.djl.ndarray.types.Shape channelShape = new ai.djl.ndarray.types.Shape(c.c());
        ai.djl.ndarray.types.Shape dataShape = new ai.djl.ndarray.types.Shape(
            Arrays.stream(shape).asLongStream().toArray());
        PtNDArray xa = (PtNDArray) m.create(x.clone(), dataShape);
        PtNDArray wa = (PtNDArray) m.create(weight.clone(), channelShape);
        PtNDArray ba = (PtNDArray) m.create(bias.clone(), channelShape);
        PtNDArray rm = (PtNDArray) m.create(runningMean.clone(), channelShape);
        PtNDArray rv = (PtNDArray) m.create(runningVar.clone(), channelShape);
        PtNDArray dya = (PtNDArray) m.create(dy.clone(), dataShape);
        xa.setRequiresGradient(true);
        wa.setRequiresGradient(true);
        ba.setRequiresGradient(true);
        float[] y;
        try (GradientCollector gc = engine.newGradientCollector()) {
          // NHWC memory viewed as (N, C, H, W): PyTorch's channels_last strides
          PtNDArray nchw = c.channelsLast() ? JniUtils.permute(xa, new long[] {0, 3, 1, 2}) : xa;
          PtNDArray out = JniUtils.batchNorm(nchw, rm, rv, wa, ba, training, MOMENTUM, EPS);
          if (c.relu()) {
            out = (PtNDArray) out.getNDArrayInternal().relu();
          }
          PtNDArray inLayout = c.channelsLast() ? JniUtils.permute(out, new long[] {0, 2, 3, 1})
              : out;
          gc.backward(inLayout.mul(dya).sum());
          y = inLayout.stopGradient().toFloatArray();
        }
        runningMean = rm.toFloatArray();
        runningVar = rv.toFloatArray();
        w.put(p + ".x", shape, x);
        w.put(p + ".dy", shape, dy);
        w.put(p + ".y", shape, y);
        w.put(p + ".dx", shape, xa.getGradient().toFloatArray());
        w.put(p + ".dweight", cs, wa.getGradient().toFloatArray());
        w.put(p + ".dbias", cs, ba.getGradient().toFloatArray());
        w.put(p + ".running_mean", cs, runningMean);
        w.put(p + ".running_var", cs, runningVar);
      }
    }
    return w;
  }
}
