/** A user's module: the README's snippet run on the module path. */
module example.use {
  requires io.github.batchnorm4j;
}
