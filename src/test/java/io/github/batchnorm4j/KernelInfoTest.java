package io.github.batchnorm4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.batchnorm4j.internal.KernelOps;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * {@link KernelInfo} against the JVM the tests run in: the default surefire run has {@code
 * jdk.incubator.vector} (and {@code -Dbatchnorm4j.warmup=false}), the {@code
 * scalar-without-vector-module} run has not. Fresh JVMs with the warm-up are in {@link
 * KernelWarmUpTest}.
 */
class KernelInfoTest {

  @Test
  void describesThisJvm() throws InterruptedException {
    boolean module = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
    boolean forced = KernelOps.forcesScalar(System.getProperty(KernelInfo.SIMD_PROPERTY));
    // With the warm-up off (as surefire runs) or absent, this returns at once.
    assertThat(KernelInfo.awaitWarmUp(Duration.ofSeconds(60))).isTrue();
    KernelInfo k = KernelInfo.current();

    assertThat(k.javaFeatureVersion()).isEqualTo(Runtime.version().feature());
    assertThat(k.vectorModulePresent()).isEqualTo(module);
    assertThat(k.reason()).isEqualTo(KernelOps.selectionReason());
    assertThat(k.warmingUp()).isFalse();
    assertThat(k.flagWouldHelp()).isEqualTo(!module && !forced);
    if (module && !forced) {
      // On a machine with 256- or 512-bit vectors, as KernelSelectionTest assumes.
      assertThat(k.implementation()).isEqualTo("vector");
      assertThat(k.simdActive()).isTrue();
      assertThat(k.vectorBits()).isIn(256, 512);
      assertThat(k.toString()).startsWith("kernels: vector, " + k.vectorBits() + "-bit")
          .contains("(SIMD active)").doesNotContain(KernelInfo.VECTOR_FLAG + " for SIMD");
    } else {
      assertThat(k.implementation()).isEqualTo("scalar");
      assertThat(k.simdActive()).isFalse();
      assertThat(k.vectorBits()).isZero();
      assertThat(k.warmUp()).isEmpty();
      assertThat(k.toString()).startsWith("kernels: scalar, Java " + k.javaFeatureVersion());
      if (!module && !forced) {
        assertThat(k.toString()).contains("start the JVM with " + KernelInfo.VECTOR_FLAG);
        assertThat(k.reason()).contains(KernelInfo.VECTOR_FLAG);
      }
    }
    if (System.getProperty(KernelInfo.WARM_UP_PROPERTY) != null) {
      assertThat(k.warmUp()).isEmpty();
    }
  }

  @Test
  void theConstantsAreTheOptionsToType() {
    assertThat(KernelInfo.VECTOR_FLAG).isEqualTo("--add-modules jdk.incubator.vector");
    assertThat(KernelInfo.FORCE_SCALAR_OPTION).isEqualTo("-Dbatchnorm4j.simd=false");
    assertThat(KernelInfo.SIMD_PROPERTY).isEqualTo("batchnorm4j.simd");
    assertThat(KernelInfo.WARM_UP_PROPERTY).isEqualTo("batchnorm4j.warmup");
    assertThat(KernelInfo.minVectorElements()).isEqualTo(KernelOps.MIN_VECTOR_ELEMENTS);
  }

  @Test
  void awaitWarmUpNeedsATimeoutAndTakesAnyLength() throws InterruptedException {
    assertThatThrownBy(() -> KernelInfo.awaitWarmUp(null))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("timeout must not be null");
    // longer than a long of nanoseconds holds: waits (here not at all: the tests run no warm-up)
    assertThat(KernelInfo.awaitWarmUp(Duration.ofSeconds(Long.MAX_VALUE))).isTrue();
    assertThat(KernelInfo.awaitWarmUp(Duration.ofSeconds(Long.MIN_VALUE))).isTrue();
    assertThat(KernelInfo.saturatedNanos(java.time.temporal.ChronoUnit.FOREVER.getDuration()))
        .isEqualTo(Long.MAX_VALUE);
    assertThat(KernelInfo.saturatedNanos(Duration.ofSeconds(Long.MIN_VALUE)))
        .isEqualTo(Long.MIN_VALUE);
    assertThat(KernelInfo.saturatedNanos(Duration.ofMillis(3))).isEqualTo(3_000_000);
  }
}
