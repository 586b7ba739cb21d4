package io.github.batchnorm4j;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A {@link StatisticsExchange} for k threads of one JVM: data-parallel training where each thread
 * runs a replica of the network on its share of the batch. Create one group per set of replicas and
 * give worker r's view, {@link #worker(int) worker(r)}, to the {@link SyncBatchNorm}s of replica r.
 *
 * <pre>
 * InProcessExchange group = InProcessExchange.create(4);
 * SyncBatchNorm bn = new SyncBatchNorm(new BatchNorm2d(64), group.worker(rank));  // on thread rank
 * </pre>
 *
 * <p>Each exchange waits until all k workers have contributed, then gives every worker the same
 * contributions in rank order (copies, so a worker cannot disturb another's). A worker that waits
 * longer than the timeout (default 60 s) breaks the group: it and every worker waiting or arriving
 * later get an {@link IllegalStateException} naming the ranks that did not arrive. The typical cause
 * is a replica that skipped the exchange: one in eval mode while the others train, or one that
 * stopped after an error. A broken group stays broken; create a new one. An interrupted wait also
 * breaks the group.
 */
public final class InProcessExchange {

  private final int size;
  private final long timeoutNanos;
  private final Object lock = new Object();

  // Guarded by lock.
  private double[][] slots;
  private int arrived;
  private long generation;
  private double[][] published;
  private String broken;

  private InProcessExchange(int size, Duration timeout) {
    this.size = size;
    this.timeoutNanos = KernelInfo.saturatedNanos(timeout);
    this.slots = new double[size][];
  }

  /**
   * A group of {@code workers} workers with a 60 s timeout.
   *
   * @param workers k &gt;= 1
   * @return the group, whose {@link #worker(int)} views the workers use
   * @throws IllegalArgumentException if workers &lt; 1
   */
  public static InProcessExchange create(int workers) {
    return create(workers, Duration.ofSeconds(60));
  }

  /**
   * A group of {@code workers} workers.
   *
   * @param workers k &gt;= 1
   * @param timeout how long a worker waits for the others in one exchange, &gt; 0 (one beyond about
   *     292 years as that)
   * @return the group, whose {@link #worker(int)} views the workers use
   * @throws IllegalArgumentException if workers &lt; 1, or timeout is null or not positive
   */
  public static InProcessExchange create(int workers, Duration timeout) {
    if (workers < 1) {
      throw new IllegalArgumentException("workers must be >= 1 but is " + workers);
    }
    if (timeout == null || timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("timeout must be > 0 but is " + timeout);
    }
    return new InProcessExchange(workers, timeout);
  }

  /** {@return the number of workers k} */
  public int size() {
    return size;
  }

  /**
   * Worker r's view of the group. Each rank's view should be used by one thread at a time.
   *
   * @param rank in [0, k)
   * @return a view whose {@link StatisticsExchange#rank()} is {@code rank}
   * @throws IllegalArgumentException if rank is out of range
   */
  public StatisticsExchange worker(int rank) {
    if (rank < 0 || rank >= size) {
      throw new IllegalArgumentException("rank must be in [0, " + size + ") but is " + rank);
    }
    return new Worker(rank);
  }

  /** {@return whether a timeout or interruption has broken the group} */
  public boolean isBroken() {
    synchronized (lock) {
      return broken != null;
    }
  }

  private double[][] gather(int rank, double[] contribution) {
    if (contribution == null) {
      throw new IllegalArgumentException("contribution of rank " + rank + " must not be null");
    }
    double[] copy = contribution.clone();
    double[][] result;
    synchronized (lock) {
      if (broken != null) {
        throw new IllegalStateException("the exchange group is broken: " + broken);
      }
      if (slots[rank] != null) {
        throw new IllegalStateException(
            "rank " + rank + " contributed twice to one exchange of " + size + " workers"
                + " (two threads with the same rank?)");
      }
      slots[rank] = copy;
      arrived++;
      long myGeneration = generation;
      if (arrived == size) {
        published = slots;
        slots = new double[size][];
        arrived = 0;
        generation++;
        lock.notifyAll();
        result = published;
      } else {
        long deadline = System.nanoTime() + timeoutNanos;
        while (generation == myGeneration && broken == null) {
          long left = deadline - System.nanoTime();
          if (left <= 0) {
            breakGroup("rank " + rank + " waited " + timeoutNanos / 1_000_000 + " ms, but rank(s) "
                + missing() + " did not arrive (a worker in eval mode, or one that stopped,"
                + " skips the exchange)");
            break;
          }
          try {
            lock.wait(left / 1_000_000, (int) (left % 1_000_000));
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            breakGroup("rank " + rank + " was interrupted while waiting for rank(s) " + missing());
            break;
          }
        }
        if (generation == myGeneration) {
          throw new IllegalStateException("the exchange group is broken: " + broken);
        }
        result = published;
      }
    }
    double[][] mine = new double[size][];
    for (int r = 0; r < size; r++) {
      mine[r] = result[r].clone();
    }
    return mine;
  }

  private List<Integer> missing() {
    List<Integer> ranks = new ArrayList<>();
    for (int r = 0; r < size; r++) {
      if (slots[r] == null) {
        ranks.add(r);
      }
    }
    return ranks;
  }

  private void breakGroup(String reason) {
    if (broken == null) {
      broken = reason;
    }
    lock.notifyAll();
  }

  private final class Worker implements StatisticsExchange {
    private final int rank;

    Worker(int rank) {
      this.rank = rank;
    }

    @Override
    public int rank() {
      return rank;
    }

    @Override
    public int worldSize() {
      return size;
    }

    @Override
    public double[][] allGather(double[] contribution) {
      return gather(rank, contribution);
    }

    @Override
    public String toString() {
      return "InProcessExchange.worker(" + rank + " of " + size + ")";
    }
  }
}
