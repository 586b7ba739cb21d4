package io.github.batchnorm4j;

/**
 * The collective that {@link SyncBatchNorm} needs: an all-gather of one {@code double[]} among the
 * k workers (ranks 0 to k - 1) of one data-parallel training step. A training framework implements
 * it with the collective it already uses for gradients (MPI {@code Allgather(v)}, a gRPC or socket
 * rendezvous, an NCCL/Gloo binding); {@link InProcessExchange} implements it for k threads of one
 * JVM.
 *
 * <h2>Contract</h2>
 * <ul>
 *   <li>Every worker of the group calls {@link #allGather(double[])} the same number of times and in
 *       the same order (once per synchronized layer forward, once per synchronized layer backward);
 *       the i-th calls of all workers form one exchange.
 *   <li>The result of every worker is the same: element r is worker r's contribution, unchanged
 *       (same length, same bits), in rank order, whatever order the workers arrived in.
 *   <li>Contributions of one exchange normally have the same length (2 C + a few header values);
 *       an implementation may reject different lengths by throwing (then {@link SyncBatchNorm}
 *       reports a failed exchange) or deliver them (then it reports the mismatch it finds).
 *   <li>On failure (a worker missing, a timeout, a broken connection) it throws an unchecked
 *       exception, preferably on every worker; {@link SyncBatchNorm} then changes nothing.
 * </ul>
 * Message sizes are in docs/distributed.md: per BN layer and training step, one forward exchange
 * of (9 + 2 C) doubles and one backward exchange of (5 + 2 C) doubles per worker.
 */
public interface StatisticsExchange {

  /** {@return this worker's rank, in [0, {@link #worldSize()})} */
  int rank();

  /** {@return the number of workers k &gt;= 1} */
  int worldSize();

  /**
   * Sends this worker's contribution and returns every worker's, in rank order.
   *
   * @param contribution this worker's values. Not modified; the implementation must not keep a
   *     reference that it later changes.
   * @return an array of length {@link #worldSize()}; element r is worker r's contribution (element
   *     {@link #rank()} equal to {@code contribution}). The caller may read but should not modify
   *     the arrays.
   * @throws RuntimeException if the exchange fails; then no worker may rely on its result
   */
  double[][] allGather(double[] contribution);
}
