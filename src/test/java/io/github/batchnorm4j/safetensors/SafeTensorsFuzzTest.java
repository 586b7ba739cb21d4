package io.github.batchnorm4j.safetensors;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.EnumMap;
import java.util.Map;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the safetensors reader (see {@link FuzzInputs}): every input, valid or broken, must be read
 * or rejected with {@link SafeTensorsException}, never with another exception, and with bounded
 * allocation. The suite runs a few thousand inputs; {@link SafeTensorsFuzz} runs 100,000 or more.
 */
class SafeTensorsFuzzTest {

  @Property(tries = 2000)
  void everyInputIsReadOrRejectedWithTheDocumentedException(@ForAll long seed) {
    FuzzInputs.Input in = FuzzInputs.generate(seed);
    FuzzInputs.Result r = FuzzInputs.check(in.bytes());
    assertThat(r.outcome()).as("%s input of %d bytes (seed %d): %s", in.strategy(), in.bytes().length,
        seed, r.failure()).isNotEqualTo(FuzzInputs.Outcome.FAILED);
  }

  /** Valid files round-trip bit for bit: read, write, read gives the same bytes. */
  @Property(tries = 500)
  void validFilesRoundTrip(@ForAll @LongRange(min = 0, max = Long.MAX_VALUE) long seed) throws Exception {
    byte[] file = FuzzInputs.validFile(new java.util.SplittableRandom(seed));
    SafeTensors st = SafeTensors.read(file);
    assertThat(SafeTensors.toBytes(st.tensors(), st.metadata())).isEqualTo(file);
  }

  /** Every strategy is exercised, and the broken ones are really rejected most of the time. */
  @Test
  void strategiesProduceWhatTheyClaim() {
    Map<FuzzInputs.Strategy, int[]> counts = new EnumMap<>(FuzzInputs.Strategy.class);
    for (long seed = 0; seed < 1000; seed++) {
      FuzzInputs.Input in = FuzzInputs.generate(seed);
      FuzzInputs.Result r = FuzzInputs.check(in.bytes());
      assertThat(r.outcome()).as("%s seed %d: %s", in.strategy(), seed, r.failure())
          .isNotEqualTo(FuzzInputs.Outcome.FAILED);
      counts.computeIfAbsent(in.strategy(), k -> new int[2])[r.outcome() == FuzzInputs.Outcome.ACCEPTED ? 0 : 1]++;
    }
    assertThat(counts).hasSize(FuzzInputs.Strategy.values().length);
    assertThat(counts.get(FuzzInputs.Strategy.VALID)[1]).as("valid files rejected").isZero();
    for (FuzzInputs.Strategy s : new FuzzInputs.Strategy[] {FuzzInputs.Strategy.OFFSETS_PAST_END,
        FuzzInputs.Strategy.NOT_UTF8, FuzzInputs.Strategy.DEEP_JSON, FuzzInputs.Strategy.TRAILING_BYTES,
        FuzzInputs.Strategy.BAD_NUMBERS}) {
      assertThat(counts.get(s)[0]).as(s + " accepted").isZero();
    }
  }
}
