package io.github.batchnorm4j.bench;

import java.util.SplittableRandom;

/** The benchmark shapes, written "NxCxHxW" in the {@code shape} parameter. */
final class BenchShape {
  final int n;
  final int c;
  final int h;
  final int w;

  private BenchShape(int n, int c, int h, int w) {
    this.n = n;
    this.c = c;
    this.h = h;
    this.w = w;
  }

  static BenchShape parse(String text) {
    String[] p = text.split("x");
    return new BenchShape(Integer.parseInt(p[0].trim()), Integer.parseInt(p[1].trim()),
        Integer.parseInt(p[2].trim()), Integer.parseInt(p[3].trim()));
  }

  int numel() {
    return n * c * h * w;
  }

  /** N(offset, 1) data from a fixed seed. */
  static float[] random(long seed, int size, double offset) {
    SplittableRandom rnd = new SplittableRandom(seed);
    float[] a = new float[size];
    for (int i = 0; i < size; i++) {
      a[i] = (float) (rnd.nextGaussian() + offset);
    }
    return a;
  }
}
