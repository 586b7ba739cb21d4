package io.github.batchnorm4j.spark;

import java.io.Serializable;

/**
 * Builds, on an executor, a network with the same weights and structure as the driver's: Spark
 * ships the factory (serialized) instead of the network, whose modules are not serializable. A
 * factory typically captures the weights as arrays (or a safetensors byte array) and copies them
 * into a freshly built network. The running statistics it starts with do not matter: those of the
 * layers already computed are written in before use.
 */
@FunctionalInterface
public interface NetworkFactory extends Serializable {

  /** A new network, equal to the driver's in everything but the running statistics. */
  BatchNormNetwork create();
}
