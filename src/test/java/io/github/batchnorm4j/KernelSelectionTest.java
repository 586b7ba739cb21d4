package io.github.batchnorm4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.batchnorm4j.internal.KernelOps;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The kernels are chosen once: the Vector API ones when {@code jdk.incubator.vector} is in the boot
 * layer and nothing forces scalar, else the scalar ones. The default test run has the module; the
 * surefire execution {@code scalar-without-vector-module} runs this class (and a few others)
 * without it.
 */
class KernelSelectionTest {

  @Test
  void theChoiceFollowsTheModuleAndTheProperty() {
    boolean modulePresent = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
    boolean forced = KernelOps.forcesScalar(System.getProperty(KernelOps.SIMD_PROPERTY));
    KernelOps chosen = KernelOps.get();
    if (!modulePresent) {
      assertThat(chosen).isSameAs(KernelOps.scalar());
      assertThat(KernelOps.vector()).isEmpty();
      assertThat(KernelOps.selectionReason()).contains("--add-modules jdk.incubator.vector");
    } else if (forced) {
      assertThat(chosen).isSameAs(KernelOps.scalar());
      assertThat(KernelOps.selectionReason()).contains("forced");
    } else {
      // On a machine with 256- or 512-bit vectors (x86 with AVX2 or AVX-512, most ARM servers).
      assertThat(KernelOps.vector()).isPresent();
      assertThat(chosen).isSameAs(KernelOps.vector().orElseThrow());
      assertThat(chosen.name()).startsWith("vector");
    }
  }

  @Test
  void thePropertyForcesScalarWithTheUsualSpellings() {
    for (String off : new String[] {"false", "FALSE", " scalar ", "off", "no"}) {
      assertThat(KernelOps.forcesScalar(off)).as(off).isTrue();
    }
    for (String on : new String[] {"auto", "true", "", "vector"}) {
      assertThat(KernelOps.forcesScalar(on)).as(on).isFalse();
    }
    assertThat(KernelOps.forcesScalar(null)).isFalse();
  }

  /**
   * No method of the Vector API kernels takes or returns a vector. JDK 17's C2 boxes a vector that
   * crosses a call it does not inline, and it may decline to inline even a one-line helper (most
   * likely when the helper already has a large compiled body: "already compiled into a medium
   * method"), depending on compilation timing. It happened: in some forks of a JMH run the eval
   * forward at two threads allocated 1.3 MB per call and ran 200 times slower, and writing out the
   * one-line {@code widen} and {@code narrow} helpers, which this test now forbids, cured it.
   */
  @Test
  void noVectorKernelMethodTakesOrReturnsAVector() throws ClassNotFoundException {
    assumeTrue(KernelOps.vector().isPresent(), "no Vector API kernels in this JVM");
    Class<?> vector = Class.forName("jdk.incubator.vector.Vector");
    Class<?> kernels = KernelOps.vector().orElseThrow().getClass();
    List<String> offenders = new ArrayList<>();
    for (Method m : kernels.getDeclaredMethods()) {
      boolean crosses = vector.isAssignableFrom(m.getReturnType());
      for (Class<?> p : m.getParameterTypes()) {
        crosses |= vector.isAssignableFrom(p);
      }
      if (crosses) {
        offenders.add(m.toString());
      }
    }
    assertThat(kernels.getDeclaredMethods()).isNotEmpty();
    assertThat(offenders).isEmpty();
  }
}
