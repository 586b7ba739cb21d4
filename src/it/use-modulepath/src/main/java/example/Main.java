package example;

import io.github.batchnorm4j.*;
import java.util.SplittableRandom;

/**
 * Runs the README's "Use" snippet as a user of the installed artifact would, then checks what it
 * did. The argument says where the library must have been loaded from: "class-path" or
 * "module-path". Any failure exits non-zero, which fails the invoker build.
 */
public final class Main {

  public static void main(String[] args) {
    SplittableRandom random = new SplittableRandom(1);
    float[] data = new float[32 * 64 * 56 * 56];
    float[] gradFromNextLayer = new float[data.length];
    for (int i = 0; i < data.length; i++) {
      data[i] = (float) (3 + 2 * random.nextGaussian());
      gradFromNextLayer[i] = (float) random.nextGaussian();
    }

    // BEGIN README "Use" (ReadmeTest keeps these lines identical to the README's snippet)
    // data: your activations, 32 * 64 * 56 * 56 floats in NCHW order; gradFromNextLayer: dL/dy, as long
    BatchNorm2d bn = new BatchNorm2d(64);              // eps 1e-5, momentum 0.1, gamma 1, beta 0
    // or: BatchNorm2d.builder(64).eps(1e-3).momentum(0.01).threads(2).build()

    Tensor x = Tensor.of(Shape.of(32, 64, 56, 56), data);   // wraps data, no copy
    Tensor y = Tensor.zeros(x.shape());
    bn.forward(x, y);                 // training mode: batch statistics, running stats updated

    Tensor dy = Tensor.of(x.shape(), gradFromNextLayer);
    Tensor dx = Tensor.zeros(x.shape());
    bn.backward(dy, dx);              // dx, and dL/dgamma, dL/dbeta ADDED into bn.weightGrad(), bn.biasGrad()

    bn.eval();                        // inference: normalize with bn.runningMean(), bn.runningVar()
    bn.forward(x, y);
    // END README "Use"

    String where = BatchNorm2d.class.getModule().isNamed() ? "module-path" : "class-path";
    check(args.length == 1 && args[0].equals(where),
        "expected the library on the " + String.join(" ", args) + " but it is on the " + where);
    check(bn.numBatchesTracked() == 1, "numBatchesTracked " + bn.numBatchesTracked());
    // running mean = 0.9 * 0 + 0.1 * 3 (the data's mean), within sampling noise
    check(Math.abs(bn.runningMean()[0] - 0.3) < 0.01, "runningMean[0] " + bn.runningMean()[0]);
    check(Float.isFinite(y.data()[0]) && Float.isFinite(dx.data()[0]), "non-finite output");
    check(bn.weightGrad()[0] != 0f, "weightGrad[0] is 0");
    System.out.println("README 'Use' snippet ran on the " + where + ": " + bn + ", y[0] = "
        + y.data()[0] + ", dx[0] = " + dx.data()[0]);
  }

  private static void check(boolean ok, String what) {
    if (!ok) {
      System.err.println("README snippet check failed: " + what);
      System.exit(1);
    }
  }
}
