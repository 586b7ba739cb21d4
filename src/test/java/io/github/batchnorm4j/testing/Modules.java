package io.github.batchnorm4j.testing;

import io.github.batchnorm4j.BatchNorm;
import io.github.batchnorm4j.BatchNorm1d;
import io.github.batchnorm4j.BatchNorm2d;
import io.github.batchnorm4j.BatchNorm3d;

/** Builds batchnorm4j modules from the configurations that PyTorch fixtures describe. */
public final class Modules {

  private Modules() {}

  /**
   * Builds a module.
   *
   * @param kind "1d", "2d", "3d" or a class name "BatchNorm1d", "BatchNorm2d", "BatchNorm3d"
   * @param momentum the momentum, or null for the cumulative moving average (PyTorch's
   *     momentum=None)
   */
  public static BatchNorm build(
      String kind, int numFeatures, double eps, Double momentum, boolean affine, boolean track) {
    BatchNorm.Builder<? extends BatchNorm> b;
    switch (kind.replace("BatchNorm", "")) {
      case "1d":
        b = BatchNorm1d.builder(numFeatures);
        break;
      case "2d":
        b = BatchNorm2d.builder(numFeatures);
        break;
      case "3d":
        b = BatchNorm3d.builder(numFeatures);
        break;
      default:
        throw new IllegalArgumentException("unknown module kind " + kind);
    }
    b.eps(eps).affine(affine).trackRunningStats(track);
    if (momentum == null) {
      b.cumulativeMovingAverage();
    } else {
      b.momentum(momentum);
    }
    return b.build();
  }

  /** "1d" for rank 2 or 3, "2d" for rank 4, "3d" for rank 5. */
  public static String kindOfRank(int rank) {
    switch (rank) {
      case 2:
      case 3:
        return "1d";
      case 4:
        return "2d";
      case 5:
        return "3d";
      default:
        throw new IllegalArgumentException("no batch norm for rank " + rank);
    }
  }
}
