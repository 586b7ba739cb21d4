package io.github.batchnorm4j;

/**
 * Where the channel dimension sits in a dense row-major tensor.
 *
 * <ul>
 *   <li>{@link #CHANNELS_FIRST}: (N, C, *spatial): NCHW, NCDHW, NCL. PyTorch's default, and
 *       batchnorm4j's.
 *   <li>{@link #CHANNELS_LAST}: (N, *spatial, C): NHWC, NDHWC, NLC. Keras's and TensorFlow's default,
 *       DL4J's NHWC, and the physical order of PyTorch's {@code torch.channels_last} memory format.
 * </ul>
 *
 * A 2-D input (N, C) is the same in both layouts. The statistics, formulas and accuracy do not
 * depend on the layout: only the position of each element in the array does. For (N, C, H, W) the
 * element (n, c, h, w) is at {@code ((n * C + c) * H + h) * W + w} channels-first and at
 * {@code ((n * H + h) * W + w) * C + c} channels-last.
 */
public enum Layout {
  /** (N, C, *spatial), for example NCHW. */
  CHANNELS_FIRST,
  /** (N, *spatial, C), for example NHWC. */
  CHANNELS_LAST;

  /**
   * {@return the index of the channel dimension in a shape of this rank: 1 channels-first, rank - 1
   * channels-last}
   *
   * @param rank the rank, &gt;= 2
   * @throws IllegalArgumentException if rank &lt; 2
   */
  public int channelAxis(int rank) {
    if (rank < 2) {
      throw new IllegalArgumentException(
          "rank must be >= 2 (a batch axis and a channel axis) but is " + rank + " (" + this + ")");
    }
    return this == CHANNELS_FIRST ? 1 : rank - 1;
  }
}
