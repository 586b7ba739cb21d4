package io.github.batchnorm4j;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** toString of the modules and of BatchNormFolding.Folded (issue 15). */
class PrintingTest {

  @Test
  void hyperparametersPrintAsPyTorchDoesRoundedTo15Digits() {
    assertThat(BatchNorm2d.builder(4).momentum(1 - 0.99).eps(1e-3).build())
        .hasToString("BatchNorm2d(4, eps=0.001, momentum=0.01, affine=true, track_running_stats=true)");
    assertThat(new BatchNorm1d(3))
        .hasToString("BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=true, track_running_stats=true)");
    assertThat(BatchNorm3d.builder(2).cumulativeMovingAverage().build()) // PyTorch: momentum=None
        .hasToString("BatchNorm3d(2, eps=1e-05, momentum=None, affine=true, track_running_stats=true)");
    assertThat(BatchNorm3d.builder(2).cumulativeMovingAverage().momentum(1).build())
        .hasToString("BatchNorm3d(2, eps=1e-05, momentum=1.0, affine=true, track_running_stats=true)");
    assertThat(FrozenBatchNorm2d.builder(64).build()).hasToString("FrozenBatchNorm2d(64, eps=1e-05)");
  }

  @Test
  void pythonFloatsFollowsPythonsRepr() {
    assertThat(PythonFloats.format(1e-5)).isEqualTo("1e-05");
    assertThat(PythonFloats.format(1.5e-7)).isEqualTo("1.5e-07");
    assertThat(PythonFloats.format(0.1)).isEqualTo("0.1");
    assertThat(PythonFloats.format(1 - 0.9)).isEqualTo("0.1");
    assertThat(PythonFloats.format(0.0001)).isEqualTo("0.0001");
    assertThat(PythonFloats.format(1)).isEqualTo("1.0");
    assertThat(PythonFloats.format(0)).isEqualTo("0.0");
    assertThat(PythonFloats.format(1e16)).isEqualTo("1e+16");
    assertThat(PythonFloats.format(123.25)).isEqualTo("123.25");
    assertThat(PythonFloats.format(Double.NaN)).isEqualTo("nan");
  }

  @Test
  void foldedPrintsItsShapeAndBiasNotAnArrayIdentity() {
    BatchNorm2d bn = new BatchNorm2d(2);
    bn.eval();
    BatchNormFolding.Folded folded =
        BatchNormFolding.fold(Tensor.of(Shape.of(2, 1, 1, 1), new float[] {1, 2}), null, bn);
    assertThat(folded.toString())
        .doesNotContain("[F@")
        .startsWith("Folded[weight=Tensor(2, 1, 1, 1)")
        .endsWith("bias=[0.0, 0.0]]");
    BatchNorm2d wide = new BatchNorm2d(10);
    String many = BatchNormFolding.fold(Tensor.zeros(Shape.of(10, 1)), null, wide).toString();
    assertThat(many).endsWith(", ... (10 values)]]");
  }
}
