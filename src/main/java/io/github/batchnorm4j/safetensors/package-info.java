/**
 * Reading and writing the safetensors format, in which PyTorch checkpoints are shared: see
 * {@link io.github.batchnorm4j.safetensors.SafeTensors}. Malformed files raise the checked
 * {@link io.github.batchnorm4j.safetensors.SafeTensorsException}, never an unchecked exception or an
 * unbounded allocation.
 */
package io.github.batchnorm4j.safetensors;
