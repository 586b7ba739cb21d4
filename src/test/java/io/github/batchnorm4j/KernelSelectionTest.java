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

  @Test
  void theWarmUpPropertyUsesTheSameSpellings() {
    for (String off : new String[] {"false", "FALSE", " scalar ", "off", "no"}) {
      assertThat(KernelOps.disablesWarmUp(off)).as(off).isTrue();
    }
    for (String on : new String[] {"auto", "true", "", "on"}) {
      assertThat(KernelOps.disablesWarmUp(on)).as(on).isFalse();
    }
    assertThat(KernelOps.disablesWarmUp(null)).isFalse();
  }

  /**
   * The WARNING for a JVM without the module, for every combination: only where the flag would
   * change the choice (module absent, scalar not forced, a JIT) and the scalar kernels are
   * markedly slower (below Java 25); it names the flag and the property that silences it.
   */
  @Test
  void theMissingModuleWarningForEachJdkAndSetting() {
    for (int feature : new int[] {17, 18, 21, 24, 25, 26, 30}) {
      for (boolean module : new boolean[] {false, true}) {
        for (boolean forced : new boolean[] {false, true}) {
          for (boolean interpreted : new boolean[] {false, true}) {
            boolean helps = !module && !forced && !interpreted;
            assertThat(KernelOps.flagWouldHelp(module, forced, interpreted)).isEqualTo(helps);
            var warning = KernelOps.missingModuleWarning(feature, module, forced, interpreted);
            String what = feature + " " + module + " " + forced + " " + interpreted;
            if (helps && feature < KernelOps.QUIET_FROM_FEATURE) {
              assertThat(warning).as(what).hasValueSatisfying(w -> assertThat(w)
                  .startsWith("batchnorm4j: the Java vector incubator module is not readable")
                  .contains("Java " + feature)
                  .contains("'--add-modules jdk.incubator.vector'")
                  .contains("-Dbatchnorm4j.simd=false"));
            } else {
              assertThat(warning).as(what).isEmpty();
            }
          }
        }
      }
    }
    assertThat(KernelOps.QUIET_FROM_FEATURE).isEqualTo(25);
  }

  /** Without the module the choice and its state say so; with it, no warm-up in surefire. */
  @Test
  void theStateMatchesTheChoice() {
    KernelOps.State state = KernelOps.state();
    if (KernelOps.get() == KernelOps.scalar()) {
      assertThat(state).isEqualTo(KernelOps.State.SCALAR);
      assertThat(KernelOps.vectorBits()).isZero();
      assertThat(KernelOps.warmUpOutcome()).isEmpty();
    } else if (KernelOps.disablesWarmUp(System.getProperty(KernelOps.WARM_UP_PROPERTY))) {
      assertThat(state).isEqualTo(KernelOps.State.VECTOR);
      assertThat(KernelOps.forSize(1 << 20)).isSameAs(KernelOps.get());
    }
    assertThat(KernelOps.forSize(KernelOps.MIN_VECTOR_ELEMENTS - 1)).isSameAs(KernelOps.scalar());
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
