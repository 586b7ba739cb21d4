/**
 * Teaching examples for batchnorm4j: a demo that trains a small convolutional network on MNIST
 * with and without batch normalization, and one small program per tutorial chapter.
 *
 * <p>These classes are compiled as test sources, so they are never part of the library jar and the
 * library keeps zero runtime dependencies. The network layers in {@code nn} exist only to give the
 * batch-norm layer something realistic to sit between; they are written for clarity first.
 */
package io.github.batchnorm4j.examples;
