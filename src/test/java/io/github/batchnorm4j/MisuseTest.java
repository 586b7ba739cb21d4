package io.github.batchnorm4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.batchnorm4j.safetensors.SafeTensors;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * Misuse that used to give silently wrong numbers (issue 15) is now rejected: one module used by
 * two threads at once, a backward writing dx into the saved input, and zero-element shapes that
 * were refused as too large.
 */
class MisuseTest {

  private static float[] random(int n, long seed) {
    SplittableRandom rnd = new SplittableRandom(seed);
    float[] a = new float[n];
    for (int i = 0; i < a.length; i++) {
      a[i] = (float) rnd.nextGaussian();
    }
    return a;
  }

  /**
   * Two threads call forward and backward on one module until their calls overlap. Before the
   * guard nothing was thrown (the test failed after its time budget) and counter updates were
   * lost; now an overlapping call throws and every forward that returned was counted.
   */
  @Test
  void concurrentUseOfOneModuleIsRejectedAndNoCounterUpdateIsLost() throws Exception {
    BatchNorm2d bn = new BatchNorm2d(8);
    Shape shape = Shape.of(16, 8, 32, 32);
    AtomicInteger completedForwards = new AtomicInteger();
    AtomicReference<IllegalStateException> rejected = new AtomicReference<>();
    AtomicReference<Throwable> other = new AtomicReference<>();
    long deadline = System.nanoTime() + 20_000_000_000L;
    CountDownLatch start = new CountDownLatch(1);
    List<Thread> threads = new ArrayList<>();
    for (int t = 0; t < 2; t++) {
      Tensor x = Tensor.of(shape, random(shape.numel(), t));
      Tensor dy = Tensor.of(shape, random(shape.numel(), 10 + t));
      Tensor y = Tensor.zeros(shape);
      Tensor dx = Tensor.zeros(shape);
      Thread thread = new Thread(() -> {
        try {
          start.await();
          while (rejected.get() == null && System.nanoTime() < deadline) {
            try {
              bn.forward(x, y);
              completedForwards.incrementAndGet();
              bn.backward(dy, dx);
            } catch (IllegalStateException e) {
              rejected.compareAndSet(null, e);
            }
          }
        } catch (Throwable e) {
          other.compareAndSet(null, e);
        }
      });
      thread.start();
      threads.add(thread);
    }
    start.countDown();
    for (Thread thread : threads) {
      thread.join();
    }
    assertThat(other.get()).isNull();
    assertThat(rejected.get()).as("an overlapping call is rejected").isNotNull();
    assertThat(rejected.get())
        .hasMessageContaining("BatchNorm2d.")
        .hasMessageContaining("must not be used by two threads at once");
    assertThat(bn.numBatchesTracked()).as("no lost updates").isEqualTo(completedForwards.get());
    // The module is usable again afterwards: the flag was released.
    bn.forward(Tensor.of(shape, random(shape.numel(), 3)));
  }

  @Test
  void aRejectedCallReleasesTheGuard() {
    BatchNorm2d bn = new BatchNorm2d(2);
    assertThatThrownBy(() -> bn.forward(null, null)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> bn.backward(null, null)).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("before any forward");
    Tensor x = Tensor.of(Shape.of(2, 2, 3, 1), random(12, 1));
    bn.forward(x);
    assertThat(bn.backward(Tensor.of(x.shape(), random(12, 2))).shape()).isEqualTo(x.shape());
  }

  /** Before: the first backward was right, the second silently used the overwritten input. */
  @Test
  void backwardIntoTheSavedInputIsRejectedAndChangesNothing() {
    Shape shape = Shape.of(4, 3, 5);
    BatchNorm1d bn = new BatchNorm1d(3);
    float[] xs = random(shape.numel(), 1);
    float[] xsBefore = xs.clone();
    Tensor x = Tensor.of(shape, xs);
    bn.forward(x);
    Tensor dy = Tensor.of(shape, random(shape.numel(), 2));
    assertThatThrownBy(() -> bn.backward(dy, x))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("gradInput must not share its array with the input")
        .hasMessageContaining("(4, 3, 5)");
    assertThat(xs).containsExactly(xsBefore);
    assertThat(bn.weightGrad()).containsOnly(0f);
    // a separate array, twice, gives the same dx both times
    Tensor dx1 = bn.backward(dy);
    Tensor dx2 = bn.backward(dy);
    assertThat(dx2.data()).containsExactly(dx1.data());
  }

  @Test
  void withAFusedReluBackwardIntoTheSavedOutputIsRejected() {
    Shape shape = Shape.of(4, 3, 5);
    BatchNorm1d bn = BatchNorm1d.builder(3).activation(Activation.RELU).build();
    Tensor x = Tensor.of(shape, random(shape.numel(), 1));
    Tensor y = Tensor.zeros(shape);
    bn.forward(x, y);
    Tensor dy = Tensor.of(shape, random(shape.numel(), 2));
    assertThatThrownBy(() -> bn.backward(dy, y))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("with the output saved by the last forward");
  }

  @Test
  void frozenWithReluRejectsBackwardIntoTheSavedOutput() {
    Shape shape = Shape.of(2, 3, 2, 2);
    FrozenBatchNorm2d frozen = FrozenBatchNorm2d.builder(3).activation(Activation.RELU).build();
    Tensor y = Tensor.zeros(shape);
    frozen.forward(Tensor.of(shape, random(shape.numel(), 1)), y);
    Tensor dy = Tensor.of(shape, random(shape.numel(), 2));
    assertThatThrownBy(() -> frozen.backward(dy, y))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("gradInput must not share its array with the output");
  }

  @Test
  void anyZeroElementShapeIsAccepted() {
    assertThat(Shape.of(65536, 65536, 0).numel()).isZero();
    assertThat(Shape.of(0, Integer.MAX_VALUE, Integer.MAX_VALUE, 2).numel()).isZero();
    assertThat(Shape.of(65536, 65536, 0)).hasToString("(65536, 65536, 0)");
    assertThat(Tensor.zeros(Shape.of(65536, 65536, 0)).data()).isEmpty();
    assertThatThrownBy(() -> Shape.of(65536, 65536, -1)).hasMessageContaining("must be >= 0");
    assertThatThrownBy(() -> Shape.of(65536, 65536, 1)).hasMessageContaining("Integer.MAX_VALUE");
    // An empty batch through a module, as PyTorch treats it: empty output, running statistics
    // unchanged, the counter still incremented by the module.
    BatchNorm2d bn = new BatchNorm2d(3);
    assertThat(bn.forward(Tensor.zeros(Shape.of(0, 3, 2, 2))).data()).isEmpty();
    assertThat(bn.runningMean()).containsOnly(0f);
    assertThat(bn.runningVar()).containsOnly(1f);
    assertThat(bn.numBatchesTracked()).isEqualTo(1);
    assertThat(bn.backward(Tensor.zeros(Shape.of(0, 3, 2, 2))).data()).isEmpty();
    assertThat(bn.weightGrad()).containsOnly(0f);
  }

  /** A valid safetensors file with a (65536, 65536, 0) F32 tensor and an (2^40, 2^40, 0) one. */
  @Test
  void safetensorsWithZeroElementShapesAreRead() throws Exception {
    String header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[65536,65536,0],\"data_offsets\":[0,0]},"
        + "\"b\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776,0],\"data_offsets\":[0,0]}}";
    byte[] json = header.getBytes(StandardCharsets.UTF_8);
    ByteBuffer file = ByteBuffer.allocate(8 + json.length).order(ByteOrder.LITTLE_ENDIAN);
    file.putLong(json.length).put(json);
    java.nio.file.Path path = java.nio.file.Files.createTempFile("zero-element", ".safetensors");
    SafeTensors read;
    try {
      java.nio.file.Files.write(path, file.array());
      // "b" cannot become a Shape (int sizes) but is valid and must not fail the file
      read = SafeTensors.read(path, name -> name.equals("a"));
    } finally {
      java.nio.file.Files.delete(path);
    }
    assertThat(read.get("a").shape()).isEqualTo(Shape.of(65536, 65536, 0));
    byte[] again = SafeTensors.toBytes(Map.of("a", read.get("a")), Map.of());
    assertThat(SafeTensors.read(again).get("a").shape()).isEqualTo(Shape.of(65536, 65536, 0));
  }
}
