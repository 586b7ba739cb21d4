package io.github.batchnorm4j;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.module.ModuleDescriptor;
import java.lang.module.ModuleFinder;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The module exports the API packages only (the library and its safetensors codec), and requires nothing beyond java.base. */
class ModuleDescriptorTest {

  @Test
  void exportsOnlyThePublicApi() throws URISyntaxException {
    Path classes = Path.of(Shape.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    ModuleDescriptor module = ModuleFinder.of(classes).find("io.github.batchnorm4j")
        .orElseThrow().descriptor();
    assertThat(module.exports().stream().map(ModuleDescriptor.Exports::source)
        .collect(Collectors.toSet()))
        .containsExactlyInAnyOrder("io.github.batchnorm4j", "io.github.batchnorm4j.safetensors");
    assertThat(module.requires().stream().map(ModuleDescriptor.Requires::name)
        .collect(Collectors.toSet())).containsExactly("java.base");
  }
}
