package io.github.batchnorm4j.torch;

import io.github.batchnorm4j.Shape;
import io.github.batchnorm4j.TypedTensor;
import io.github.batchnorm4j.safetensors.SafeTensors;
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
import java.util.stream.Collectors;

/**
 * Writes golden batch-norm fixtures computed by real PyTorch (libtorch through DJL, CPU, float32)
 * into {@code src/test/resources/torch-fixtures/}: one small safetensors file per case plus
 * {@code index.txt}. PyTorchGoldenFixturesTest replays them through batchnorm4j.
 *
 * <p>Each case is a module configuration, K training steps (each with its own x and dy) and one
 * eval step. Every step records y, dx and fresh parameter gradients (the gradients PyTorch leaves in
 * {@code .grad} when it is set to None before the step), and the running statistics and batch
 * counter after the step. See the README written beside the files for names and metadata.
 *
 * <p>Usage (from the project directory): see {@code src/test/resources/torch-fixtures/README.md}.
 * The optional argument is the output directory.
 */
public final class GenerateTorchFixtures {

  /** Base seed; case i uses {@code new SplittableRandom(SEED + i)}. */
  static final long SEED = 20261127L;

  /** Keep the whole directory well under 2 MB. */
  static final long MAX_TOTAL_BYTES = 1_500_000L;

  record Case(
      String name, String kind, int[] shape, double eps, Double momentum, boolean affine,
      boolean track, int steps, boolean randomInit) {}

  static List<Case> cases() {
    List<Case> c = new ArrayList<>();
    // 2d
    c.add(new Case("2d_defaults_4x5x13x17", "2d", new int[] {4, 5, 13, 17}, 1e-5, 0.1, true, true, 1, false));
    c.add(new Case("2d_eps1e-3_mom0.3_2x3x1x207", "2d", new int[] {2, 3, 1, 207}, 1e-3, 0.3, true, true, 3, true));
    c.add(new Case("2d_momentum0_3x2x7x3", "2d", new int[] {3, 2, 7, 3}, 1e-5, 0.0, true, true, 2, true));
    c.add(new Case("2d_momentum1_2x4x3x3", "2d", new int[] {2, 4, 3, 3}, 1e-5, 1.0, true, true, 3, true));
    c.add(new Case("2d_cma_3x6x7x7", "2d", new int[] {3, 6, 7, 7}, 1e-5, null, true, true, 4, true));
    c.add(new Case("2d_noaffine_5x7x3x13", "2d", new int[] {5, 7, 3, 13}, 1e-5, 0.1, false, true, 2, false));
    c.add(new Case("2d_untracked_4x3x7x1", "2d", new int[] {4, 3, 7, 1}, 1e-5, 0.1, true, false, 2, true));
    c.add(new Case("2d_untracked_noaffine_2x16x3x3", "2d", new int[] {2, 16, 3, 3}, 1e-5, 0.1, false, false, 1, false));
    c.add(new Case("2d_16ch_2x16x13x1", "2d", new int[] {2, 16, 13, 1}, 1e-5, 0.1, true, true, 4, true));
    c.add(new Case("2d_spatial1_6x9x1x1", "2d", new int[] {6, 9, 1, 1}, 1e-5, 0.1, true, true, 2, true));
    c.add(new Case("2d_n1_1x2x13x17", "2d", new int[] {1, 2, 13, 17}, 1e-5, 0.1, true, true, 2, true));
    // 1d: (N, C) and (N, C, L)
    c.add(new Case("1d_nc_16x10", "1d", new int[] {16, 10}, 1e-5, 0.1, true, true, 3, true));
    c.add(new Case("1d_ncl_eps1e-3_4x8x17", "1d", new int[] {4, 8, 17}, 1e-3, 0.1, true, true, 2, false));
    c.add(new Case("1d_cma_2x3x207", "1d", new int[] {2, 3, 207}, 1e-5, null, true, true, 4, true));
    c.add(new Case("1d_n2_mom0.3_2x16", "1d", new int[] {2, 16}, 1e-5, 0.3, true, true, 2, true));
    c.add(new Case("1d_len1_noaffine_7x5x1", "1d", new int[] {7, 5, 1}, 1e-5, 0.1, false, true, 1, false));
    c.add(new Case("1d_untracked_8x6", "1d", new int[] {8, 6}, 1e-5, 0.1, true, false, 2, true));
    // 3d
    c.add(new Case("3d_defaults_2x4x3x7x5", "3d", new int[] {2, 4, 3, 7, 5}, 1e-5, 0.1, true, true, 2, false));
    c.add(new Case("3d_cma_noaffine_3x2x1x13x3", "3d", new int[] {3, 2, 1, 13, 3}, 1e-5, null, false, true, 3, false));
    c.add(new Case("3d_untracked_2x3x3x3x3", "3d", new int[] {2, 3, 3, 3, 3}, 1e-5, 0.1, true, false, 1, true));
    c.add(new Case("3d_mom0_eps1e-3_2x1x7x1x17", "3d", new int[] {2, 1, 7, 1, 17}, 1e-3, 0.0, true, true, 2, true));
    c.add(new Case("3d_mom1_1x3x2x2x2", "3d", new int[] {1, 3, 2, 2, 2}, 1e-5, 1.0, true, true, 2, true));
    return c;
  }

  public static void main(String[] args) throws IOException {
    Path out = Paths.get(args.length > 0 ? args[0] : "src/test/resources/torch-fixtures").toAbsolutePath();
    Files.createDirectories(out);
    try (DirectoryStream<Path> old = Files.newDirectoryStream(out, "*.safetensors")) {
      for (Path p : old) {
        Files.delete(p);
      }
    }
    List<String> index = new ArrayList<>();
    long total = 0;
    try (TorchBatchNorm torch = TorchBatchNorm.open()) {
      List<Case> cases = cases();
      for (int i = 0; i < cases.size(); i++) {
        Case c = cases.get(i);
        String file = String.format("%02d_%s.safetensors", i, c.name());
        FixtureWriter w = generate(torch, c, SEED + i);
        byte[] bytes = w.toBytes();
        Files.write(out.resolve(file), bytes);
        index.add(file);
        total += bytes.length;
        System.out.printf("%-44s %8d bytes%n", file, bytes.length);
      }
      System.out.printf("%d cases, %d bytes, libtorch %s, undefined affine passed: %s%n",
          cases.size(), total, torch.torchVersion(), torch.passesUndefinedAffine());
    }
    if (total > MAX_TOTAL_BYTES) {
      throw new IllegalStateException("fixtures take " + total + " bytes, more than " + MAX_TOTAL_BYTES);
    }
    Files.write(out.resolve("index.txt"), (String.join("\n", index) + "\n").getBytes(StandardCharsets.UTF_8));
    System.out.println("wrote " + out);
  }

  static FixtureWriter generate(TorchBatchNorm torch, Case c, long seed) {
    SplittableRandom rnd = new SplittableRandom(seed);
    int channels = c.shape()[1];
    TorchBatchNormModule m = new TorchBatchNormModule(torch, channels, c.eps(), c.momentum(), c.affine(), c.track());
    FixtureWriter w = new FixtureWriter();
    w.metadata("case", c.name())
        .metadata("kind", c.kind())
        .metadata("module", "BatchNorm" + c.kind())
        .metadata("shape", Arrays.stream(c.shape()).mapToObj(Integer::toString).collect(Collectors.joining(",")))
        .metadata("num_features", Integer.toString(channels))
        .metadata("eps", Double.toString(c.eps()))
        .metadata("momentum", c.momentum() == null ? "none" : Double.toString(c.momentum()))
        .metadata("affine", Boolean.toString(c.affine()))
        .metadata("track", Boolean.toString(c.track()))
        .metadata("steps", Integer.toString(c.steps()))
        .metadata("init", c.randomInit() ? "random" : "default")
        .metadata("seed", Long.toString(seed))
        .metadata("torch", "libtorch " + torch.torchVersion() + " via DJL PyTorch engine, CPU, float32")
        .metadata("generator", "io.github.batchnorm4j.torch.GenerateTorchFixtures");
    int[] cs = {channels};
    if (c.affine()) {
      if (c.randomInit()) {
        for (int i = 0; i < channels; i++) {
          m.weight()[i] = (float) (0.5 + rnd.nextDouble());
          m.bias()[i] = (float) (0.5 * rnd.nextGaussian());
        }
      }
      w.put("init.weight", cs, m.weight());
      w.put("init.bias", cs, m.bias());
    }
    if (c.track()) {
      w.put("init.running_mean", cs, m.runningMean());
      w.put("init.running_var", cs, m.runningVar());
      w.putLong("init.num_batches_tracked", new int[0], new long[] {m.numBatchesTracked()});
    }
    m.train();
    for (int k = 0; k < c.steps(); k++) {
      record(w, "step" + k, c, m, rnd);
    }
    m.eval();
    record(w, "eval", c, m, rnd);
    return w;
  }

  private static void record(FixtureWriter w, String p, Case c, TorchBatchNormModule m, SplittableRandom rnd) {
    int[] shape = c.shape();
    float[] x = TestData.wellConditionedInput(shape, rnd);
    float[] dy = new float[x.length];
    for (int i = 0; i < dy.length; i++) {
      dy[i] = (float) rnd.nextGaussian();
    }
    TorchBatchNormModule.Step s = m.step(shape, x, dy);
    int[] cs = {shape[1]};
    w.put(p + ".x", shape, x);
    w.put(p + ".dy", shape, dy);
    w.put(p + ".y", shape, s.y());
    w.put(p + ".dx", shape, s.dx());
    if (c.affine()) {
      w.put(p + ".dweight", cs, s.weightGrad());
      w.put(p + ".dbias", cs, s.biasGrad());
    }
    if (c.track()) {
      w.put(p + ".running_mean", cs, s.runningMean());
      w.put(p + ".running_var", cs, s.runningVar());
      w.putLong(p + ".num_batches_tracked", new int[0], new long[] {s.numBatchesTracked()});
    }
  }

  /** Collects F32 and I64 tensors and string metadata for the library's safetensors writer. */
  static final class FixtureWriter {
    private final Map<String, TypedTensor> tensors = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    FixtureWriter put(String name, int[] shape, float[] data) {
      tensors.put(name, TypedTensor.ofFloats(Shape.of(shape), data));
      return this;
    }

    FixtureWriter putLong(String name, int[] shape, long[] data) {
      tensors.put(name, TypedTensor.ofLongs(Shape.of(shape), data));
      return this;
    }

    FixtureWriter metadata(String key, String value) {
      metadata.put(key, value);
      return this;
    }

    byte[] toBytes() {
      return SafeTensors.toBytes(tensors, metadata);
    }
  }
}
