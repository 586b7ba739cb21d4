package io.github.batchnorm4j.torch;

import static io.github.batchnorm4j.testing.TorchTolerances.assertOutput;
import static io.github.batchnorm4j.testing.TorchTolerances.assertParameterGradient;
import static io.github.batchnorm4j.testing.TorchTolerances.assertRunningStat;
import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import io.github.batchnorm4j.Activation;
import io.github.batchnorm4j.BatchNorm1d;
import io.github.batchnorm4j.BatchNorm2d;
import io.github.batchnorm4j.DType;
import io.github.batchnorm4j.Layout;
import io.github.batchnorm4j.Shape;
import io.github.batchnorm4j.Tensor;
import io.github.batchnorm4j.TypedTensor;
import io.github.batchnorm4j.safetensors.SafeTensors;
import io.github.batchnorm4j.testing.TestData;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Interop with live PyTorch (libtorch 2.7.1 through DJL's PyTorch engine, offline):
 *
 * <ul>
 *   <li>a safetensors file written by batchnorm4j is decoded by DJL ({@link NDList#decode}, which
 *       creates libtorch tensors through the PyTorch engine's manager) into tensors with identical
 *       names, dtypes, shapes and bytes (F32, F64, F16, I64; DJL 0.36 cannot create BF16 tensors
 *       from a buffer without aborting), and libtorch's batch norm with those tensors gives
 *       batchnorm4j's eval output; a file DJL writes reads back identically;
 *   <li>channels-last: libtorch's batch norm on a {@code channels_last} tensor (NHWC memory viewed
 *       as NCHW by a permutation, exactly PyTorch's channels_last strides) agrees with a
 *       channels-last batchnorm4j module: y, dx, dweight, dbias and the running statistics, in
 *       training and eval mode.
 * </ul>
 */
class LiveInteropTest {

  private static Engine engine;
  private static NDManager manager;

  @BeforeAll
  static void open() {
    if (System.getProperty("ai.djl.offline") == null) {
      System.setProperty("ai.djl.offline", "true");
    }
    engine = Engine.getEngine("PyTorch");
    manager = engine.newBaseManager(Device.cpu());
  }

  @AfterAll
  static void close() {
    manager.close();
  }

  private static BatchNorm2d trained2d(SplittableRandom rnd) {
    BatchNorm2d bn = BatchNorm2d.builder(6).eps(1e-3).momentum(0.3).build();
    for (int c = 0; c < 6; c++) {
      bn.weight()[c] = (float) (0.5 + rnd.nextDouble());
      bn.bias()[c] = (float) rnd.nextGaussian();
    }
    for (int step = 0; step < 3; step++) {
      bn.forward(Tensor.of(Shape.of(4, 6, 5, 7),
          TestData.gaussian(rnd, 4 * 6 * 5 * 7, 1 + step, step)));
    }
    return bn;
  }

  @Test
  void filesWeWriteLoadInPyTorchWithIdenticalTensors() throws Exception {
    SplittableRandom rnd = new SplittableRandom(2026);
    BatchNorm2d bn = trained2d(rnd);
    BatchNorm1d noAffine = BatchNorm1d.builder(5).affine(false).build();
    noAffine.forward(Tensor.of(Shape.of(8, 5), TestData.gaussian(rnd, 40, 2, 1)));
    Map<String, TypedTensor> file = new LinkedHashMap<>(bn.stateDict("features.1."));
    file.putAll(noAffine.stateDict("head.bn."));
    // the same tensors in other floating dtypes. Not BF16: creating a bfloat16 tensor from a buffer
    // through DJL 0.36 (NDList.decode or NDManager.create) aborts the JVM inside libtorch.
    for (DType d : new DType[] {DType.F64, DType.F16}) {
      bn.stateDict().forEach((k, v) -> {
        if (v.dtype() == DType.F32) {
          file.put(d.name().toLowerCase() + "." + k, v.convertTo(d));
        }
      });
    }
    byte[] bytes = SafeTensors.toBytes(file, Map.of("format", "pt"));

    try (NDManager m = manager.newSubManager()) {
      NDList decoded = NDList.decode(m, new java.io.ByteArrayInputStream(bytes));
      assertThat(decoded).hasSize(file.size());
      for (NDArray a : decoded) {
        TypedTensor ours = file.get(a.getName());
        assertThat(ours).as(a.getName()).isNotNull();
        assertThat(a).as(a.getName()).isInstanceOf(PtNDArray.class);
        assertThat(a.getShape().getShape()).as(a.getName())
            .containsExactly(java.util.Arrays.stream(ours.shape().toArray()).asLongStream().toArray());
        assertThat(a.getDataType()).as(a.getName()).isEqualTo(djlType(ours.dtype()));
        assertThat(a.toByteArray()).as(a.getName() + " bytes").isEqualTo(ours.toByteArray());
      }
      assertThat(decoded.get("features.1.num_batches_tracked").getLong()).isEqualTo(3L);

      // libtorch's eval batch norm with the tensors it loaded gives our eval output
      float[] x = TestData.gaussian(rnd, 3 * 6 * 4 * 4, 2, 1);
      Shape shape = Shape.of(3, 6, 4, 4);
      PtNDArray xa = (PtNDArray) m.create(x, new ai.djl.ndarray.types.Shape(3, 6, 4, 4));
      PtNDArray y = JniUtils.batchNorm(xa,
          (PtNDArray) decoded.get("features.1.running_mean"), (PtNDArray) decoded.get("features.1.running_var"),
          (PtNDArray) decoded.get("features.1.weight"), (PtNDArray) decoded.get("features.1.bias"),
          false, 0.3, 1e-3);
      BatchNorm2d reloaded = BatchNorm2d.builder(6).eps(1e-3).momentum(0.3).build();
      reloaded.loadStateDict(SafeTensors.read(bytes).tensors(), "features.1.", true);
      float[] ours = reloaded.eval().forward(Tensor.of(shape, x)).data();
      assertOutput("eval y with tensors libtorch loaded", shape.toArray(), y.toFloatArray(), ours);

      // and the reverse: a file DJL encodes reads back with identical tensors
      NDList list = new NDList();
      for (String k : new String[] {"features.1.weight", "features.1.num_batches_tracked", "f16.running_var"}) {
        NDArray a = decoded.get(k);
        list.add(a);
      }
      byte[] djlFile = list.encode(NDList.Encoding.SAFETENSORS);
      SafeTensors back = SafeTensors.read(djlFile);
      for (NDArray a : list) {
        assertThat(back.get(a.getName())).as(a.getName()).isEqualTo(file.get(a.getName()));
      }
    }
  }

  private static DataType djlType(DType d) {
    switch (d) {
      case F32:
        return DataType.FLOAT32;
      case F64:
        return DataType.FLOAT64;
      case F16:
        return DataType.FLOAT16;
      case BF16:
        return DataType.BFLOAT16;
      case I64:
        return DataType.INT64;
      default:
        throw new IllegalArgumentException(d.name());
    }
  }

  /**
   * Channels-last against PyTorch's channels_last, and the fused ReLU in both layouts against
   * PyTorch's batch norm then ReLU: training forward and backward with parameter gradients and
   * running statistics, then eval forward and backward. Two shapes: one small enough for the
   * scalar kernels, one large enough for the Vector API kernels and two threads.
   */
  @Test
  void layoutsAndFusedReluMatchPyTorch() {
    int[][] shapes = {{4, 5, 7, 6}, {8, 12, 13, 24}};
    for (int[] shape : shapes)
    for (Layout layout : Layout.values())
    for (boolean relu : new boolean[] {false, true}) {
      if (layout == Layout.CHANNELS_FIRST && !relu) {
        continue; // the default variant: LiveTorchBatchNormTest and the differential test
      }
      boolean last = layout == Layout.CHANNELS_LAST;
      SplittableRandom rnd = new SplittableRandom((relu ? 1 : 2) + (last ? 10 : 20) + shape[3]);
      int n = shape[0];
      int h = shape[1];
      int w = shape[2];
      int c = shape[3];
      BatchNorm2d ours = BatchNorm2d.builder(c).layout(layout).momentum(0.2).threads(2)
          .activation(relu ? Activation.RELU : Activation.NONE).build();
      float[] weight = TestData.gaussian(rnd, c, 0.3, 1);
      float[] bias = TestData.gaussian(rnd, c, 0.5, 0);
      System.arraycopy(weight, 0, ours.weight(), 0, c);
      System.arraycopy(bias, 0, ours.bias(), 0, c);
      float[] runningMean = new float[c];
      float[] runningVar = new float[c];
      java.util.Arrays.fill(runningVar, 1f);
      for (boolean training : new boolean[] {true, true, false}) {
        if (!training) {
          ours.eval();
        }
        float[] x = TestData.gaussian(rnd, n * h * w * c, 1.5, 2);
        float[] dy = TestData.gaussian(rnd, n * h * w * c, 1, 0);
        Shape nhwc = Shape.of(n, h, w, c);
        Shape ourShape = last ? nhwc : Shape.of(n, c, h, w);
        ours.zeroGrad();
        float[] y = ours.forward(Tensor.of(ourShape, x)).data();
        float[] dx = ours.backward(Tensor.of(ourShape, dy)).data();
        String at = layout + " " + ourShape + (relu ? " relu " : " ")
            + (training ? "training" : "eval") + " ";

        try (NDManager m = manager.newSubManager()) {
          ai.djl.ndarray.types.Shape cs = new ai.djl.ndarray.types.Shape(c);
          ai.djl.ndarray.types.Shape dataShape = last ? new ai.djl.ndarray.types.Shape(n, h, w, c)
              : new ai.djl.ndarray.types.Shape(n, c, h, w);
          PtNDArray xa = (PtNDArray) m.create(x, dataShape);
          PtNDArray wa = (PtNDArray) m.create(weight, cs);
          PtNDArray ba = (PtNDArray) m.create(bias, cs);
          PtNDArray rm = (PtNDArray) m.create(runningMean, cs);
          PtNDArray rv = (PtNDArray) m.create(runningVar, cs);
          PtNDArray dya = (PtNDArray) m.create(dy, dataShape);
          xa.setRequiresGradient(true);
          wa.setRequiresGradient(true);
          ba.setRequiresGradient(true);
          float[] ty;
          try (GradientCollector gc = engine.newGradientCollector()) {
            // NHWC memory viewed as (N, C, H, W): PyTorch's channels_last strides
            PtNDArray nchwView = last ? JniUtils.permute(xa, new long[] {0, 3, 1, 2}) : xa;
            PtNDArray out = JniUtils.batchNorm(nchwView, rm, rv, wa, ba, training, 0.2, 1e-5);
            if (relu) {
              out = (PtNDArray) out.getNDArrayInternal().relu();
            }
            PtNDArray outOurs = last ? JniUtils.permute(out, new long[] {0, 2, 3, 1}) : out;
            gc.backward(outOurs.mul(dya).sum());
            ty = outOurs.stopGradient().toFloatArray();
          }
          int[] s = ourShape.toArray();
          assertOutput(at + "y", s, ty, y);
          assertOutput(at + "dx", s, xa.getGradient().toFloatArray(), dx);
          assertParameterGradient(at + "dweight", wa.getGradient().toFloatArray(), ours.weightGrad());
          assertParameterGradient(at + "dbias", ba.getGradient().toFloatArray(), ours.biasGrad());
          runningMean = rm.toFloatArray();
          runningVar = rv.toFloatArray();
          assertRunningStat(at + "running mean", runningMean, ours.runningMean());
          assertRunningStat(at + "running var", runningVar, ours.runningVar());
        }
      }
    }
  }
}
