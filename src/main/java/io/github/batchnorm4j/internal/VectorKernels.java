package io.github.batchnorm4j.internal;

import static jdk.incubator.vector.VectorOperators.D2F;
import static jdk.incubator.vector.VectorOperators.F2D;
import static jdk.incubator.vector.VectorOperators.LE;

import java.util.Arrays;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The kernels on the incubating Vector API ({@code jdk.incubator.vector}). The only class of the
 * library that uses it: {@link KernelOps} loads it by name, and only when the module is present, so
 * that the library still runs on a plain JDK 17. It is compiled separately, without {@code
 * --release} (incubator modules are not in the JDK's {@code ct.sym}); see the POM.
 *
 * <h2>Double arithmetic, and float lanes for the long sums</h2>
 * Elementwise results are computed in double and rounded once: each step loads L floats with a
 * float species of half the preferred width (256 bits for L = 8 on AVX-512), widens them lane for
 * lane to an L-lane double vector ({@code convertShape(F2D)}: one {@code vcvtps2pd}), computes in
 * double, and narrows the result lane for lane back to float ({@code D2F}). Lane-count-preserving
 * conversions are the ones C2 compiles to single instructions on JDK 17 as well as on later JDKs.
 *
 * <p>The conversions cost as much as the arithmetic, so the sums of runs of at least {@link
 * #FLOAT_MIN_RUN} values (the statistics) or {@link #FLOAT_GROUP} values (the backward's) add most
 * of their terms in float lanes, in blocks of at most {@link #FLOAT_BLOCK} terms a lane, and only
 * the blocks' sums in double; the statistics take each lane around a local mean, so that the float
 * squares are of deviations ({@link #shiftedSumsFloat} says why that matters), and the backward
 * keeps {@code sum g} in double lanes. In L2, one thread: the statistics 1.2 (runs of 196) to 1.5
 * (3136) times faster, the backward's sums 1.5 to 1.8 times. The variance stays within a float
 * ulp or so of exact ({@code FloatLaneSumsTest}), where the double lanes gave 1e-14; a result that
 * is not finite is redone in double lanes, so a float overflow never shows.
 *
 * <h2>Loop shape</h2>
 * A block is {@code planes} runs of {@code len} floats. Each kernel walks the runs one by one (the
 * sums of runs shorter than 8 L excepted, see {@code shiftedSumsFlat}): a run's whole groups of
 * vectors in a plain counted loop, then its remaining whole vectors, then its last {@code len % L}
 * values as the end of one more vector that overlaps the body. A sum clears that vector's lanes
 * that were already counted, bit for bit (an AND with a mask from {@link #KEEP}, so that an
 * infinity stays counted once); an elementwise pass recomputes the overlapped values to the same
 * bits, except in place, where they would be read back already written, and the tail is scalar.
 *
 * <p>Short planes (fewer than L values; one for BatchNorm1d's (N, C)) have kernels that walk
 * whole rows instead, the channels side by side ({@code shiftedSumsAcross} and the other {@code
 * ...Across} and {@code ...Rows} overrides): each channel's values are still added, and each
 * value still computed, exactly as the plane kernels do, so the bits are the same.
 *
 * <p>JDK 17's C2 keeps vectors in registers only while they circulate in one simple loop: a vector
 * carried from one loop into an enclosing or a following loop, or passed to a helper method that
 * is not inlined, is boxed, which allocates in every iteration and runs a hundred times slower. So
 * each loop starts its own vectors (broadcasts included), and a sum's partial vectors leave a run
 * through the calling thread's scratch array ({@link #acc}), lane by lane. No method of this class
 * takes or returns a vector, not even a one-line load-and-widen: with such helpers the eval pass
 * at two threads ran 200 times slower in some JMH forks and not others, most likely because C2
 * declines to inline a helper that already has a large compiled body ("already compiled into a
 * medium method"), which depends on compilation timing, and then boxes every vector crossing the
 * call. {@code KernelSelectionTest} checks the signatures.
 *
 * <p>For the same reason, inside a loop, a vector carried around it is never the receiver of an
 * operation: {@code s = a.add(s)}, not {@code s = s.add(a)} (the same sum, bit for bit). (The
 * short-plane matrix kernels still store their carried sums after the loop with {@code
 * s0.intoArray(...)}: once per tile, not per iteration.) The carried vector's
 * static type is the abstract {@code DoubleVector}, so C2 can bind a call on it only through the
 * call site's receiver-type profile; where that profile is missing or unusable it makes a virtual
 * call, and both vectors are boxed in every iteration: 24 bytes a value in the eval backward
 * with weight gradients, which one CI run once measured with the default flags. A vector fresh
 * from a load or conversion has its exact class, and a call on it binds without a profile
 * (docs/kernels.md, "JDK 17's C2 and the Vector API", has the measurement and the sites left).
 *
 * <h2>Reproducibility</h2>
 * A sum adds its run's vectors in groups (vector j of a group to accumulator j), folds the
 * accumulators together and adds them, lane by lane, to the scratch lanes; the remaining vectors
 * and the masked tail vector go to the scratch lanes directly. At the end the lanes are added in
 * lane order (not with {@code reduceLanes}, whose order may differ between the interpreter and
 * compiled code). The order depends on the block's geometry only. Elementwise results use {@code
 * fma} in the vector body and {@link Math#fma} in a scalar tail: the same correctly rounded
 * operation, so an element's bits do not depend on where it falls.
 */
final class VectorKernels extends KernelOps {

  private static final VectorSpecies<Double> DS = DoubleVector.SPECIES_PREFERRED;
  private static final VectorSpecies<Float> FS =
      VectorSpecies.of(float.class, VectorShape.forBitSize(DS.vectorBitSize() / 2));
  private static final int L = DS.length();

  private static final VectorSpecies<Long> LS =
      VectorSpecies.of(long.class, VectorShape.forBitSize(DS.vectorBitSize()));

  /**
   * L zero masks then L all-ones masks: the L lanes from offset t keep the last t lanes of a
   * vector and clear the others, bit for bit.
   */
  private static final long[] KEEP = new long[2 * L];

  static {
    Arrays.fill(KEEP, L, 2 * L, -1L);
  }

  /** Per-thread lanes of up to three sums (L lanes each), zeroed by {@link #acc}. */
  private static final ThreadLocal<double[]> SCRATCH =
      ThreadLocal.withInitial(() -> new double[3 * L]);

  /**
   * The one-value-per-plane sums walk tiles of about this many values (at least 8 rows), channel
   * group by channel group, so that a tile read by the first group is in cache for the others.
   */
  private static final int MATRIX_TILE = 1 << 15;

  /** Per-thread scratch of the one-value-per-plane kernels ({@link #matrixScratch}). */
  private static final ThreadLocal<double[][]> MATRIX_SCRATCH =
      ThreadLocal.withInitial(() -> new double[][] {new double[0]});

  /**
   * Runs at least this long are summed run by run; shorter ones in one flat loop over the block
   * (measured crossover: 49-value runs sum faster flat, 64-value runs by run).
   */
  private static final int RUN_BY_RUN = 8 * L;

  /** The values of one step of the float-lane sums: four float vectors of L lanes. */
  private static final int FLOAT_GROUP = 4 * L;

  /**
   * Runs at least this long have their statistics summed mostly in float lanes ({@link
   * #shiftedSumsFloat}); shorter ones, whose blocks would be too short to repay moving their
   * moments to double, in double lanes.
   */
  private static final int FLOAT_MIN_RUN = 4 * FLOAT_GROUP;

  /** Per-thread pivots of the float-lane statistics ({@link #shiftedSumsFloat}): 4 L floats. */
  private static final ThreadLocal<float[]> FLOAT_PIVOTS =
      ThreadLocal.withInitial(() -> new float[4 * L]);

  private VectorKernels() {
    super(ChannelParallel.MIN_AUTOMATIC_ELEMENTS);
  }

  /**
   * Returns the kernels, or null unless the preferred double vector has 256 or 512 bits (4 or 8
   * lanes), the shapes these loops are written and tested for.
   */
  static KernelOps create() {
    if (DS.vectorBitSize() < 256 || (L != 4 && L != 8) || FS.length() != L) {
      return null;
    }
    return new VectorKernels();
  }

  @Override
  public String name() {
    return "vector " + DS.vectorBitSize() + "-bit (" + L + " double lanes)";
  }

  /** The calling thread's scratch lanes, zeroed. */
  private static double[] acc() {
    double[] acc = SCRATCH.get();
    Arrays.fill(acc, 0.0);
    return acc;
  }

  /**
   * The most doubles of {@link #matrixScratch} a thread keeps between calls (512 KiB): the short
   * planes' kernels need a few per channel of one row, so this covers rows of about 20,000
   * channels; a larger request gets an array of its own that is not kept.
   */
  private static final int RETAINED_SCRATCH = 1 << 16;

  /**
   * The calling thread's scratch of at least {@code size} doubles, zeroed; it grows when a larger
   * one is needed, up to {@link #RETAINED_SCRATCH}, so steady-state calls allocate nothing.
   */
  private static double[] matrixScratch(int size) {
    if (size > RETAINED_SCRATCH) {
      return new double[size];
    }
    double[][] holder = MATRIX_SCRATCH.get();
    if (holder[0].length < size) {
      holder[0] = new double[size];
    }
    Arrays.fill(holder[0], 0, size, 0.0);
    return holder[0];
  }

  /** The L lanes of {@code acc} from {@code from}, added in lane order. */
  private static double laneSum(double[] acc, int from) {
    double sum = 0;
    for (int lane = from; lane < from + L; lane++) {
      sum += acc[lane];
    }
    return sum;
  }

  @Override
  void shiftedSums(float[] x, int base, int stride, int planes, int len, double shift,
      double[] out, int o) {
    if (len < RUN_BY_RUN) {
      shiftedSumsFlat(x, base, stride, planes, len, shift, out, o);
      return;
    }
    if (len >= FLOAT_MIN_RUN) {
      shiftedSumsFloat(x, base, stride, planes, len, shift, out, o);
      if (Double.isFinite(out[o]) && out[o + 1] >= TINY_MEAN_SQUARE * planes * len
          && out[o + 1] < Double.POSITIVE_INFINITY) {
        return;
      }
      // A float square or sum overflowed, or the data hold an infinity or a NaN, or the squares
      // are so small that float lanes may have lost them below float's normal range: in double.
    }
    shiftedSumsDouble(x, base, stride, planes, len, shift, out, o);
  }

  /**
   * {@link #shiftedSums} of runs of at least {@link #FLOAT_MIN_RUN} values, mostly in float lanes.
   * A run is cut into blocks of at most {@link #FLOAT_BLOCK} steps of {@link #FLOAT_GROUP} values.
   * Each of the 4 L lanes of a step (four vectors of L) takes its values relative to its own
   * pivot p: the lane's mean over the previous block, or over the call's first block (read once
   * more for it). Its float sums s = sum (x - p) and q = sum (x - p)^2 thus hold few terms, about
   * centred: q is close to the lane's own sum of squared deviations, and its rounding (some {@link
   * #FLOAT_BLOCK} float ulps of it) is relative to the data's local spread, whatever the shift K.
   * (A pivot taken from the data, as K is, can be an outlier, and then q would be many times the
   * deviations it stands for; a local mean moves by at most an outlier's 1 / {@link #FLOAT_BLOCK}.)
   * Each block's moments are then moved to K in double, exactly as far as double goes: {@code S1
   * += s + n (p - K)} and {@code S2 += q + (p - K) (2 s + n (p - K))}, n the block's steps; the
   * rounding of s reaches the variance only as {@code 2 (p - mean) ds}, small because p is a local
   * mean. The rest of a run (fewer than {@link #FLOAT_GROUP} values) is added in double lanes
   * ({@link #sumsAfterGroups}). The pivots depend on the block's geometry and data only, so the
   * result does too. A result that is not finite, or whose squares are too small for float lanes
   * ({@link #TINY_MEAN_SQUARE}), is left for the caller to redo in double.
   */
  private static void shiftedSumsFloat(float[] x, int base, int stride, int planes, int len,
      double shift, double[] out, int o) {
    final double[] acc = acc();
    final float[] pivots = FLOAT_PIVOTS.get();
    final int groups = len - len % FLOAT_GROUP;
    firstPivots(x, base, Math.min(groups, FLOAT_BLOCK * FLOAT_GROUP), pivots);
    for (int p = 0, start = base; p < planes; p++, start += stride) {
      for (int b = start, end = start + groups; b < end; b += FLOAT_BLOCK * FLOAT_GROUP) {
        final int blockEnd = Math.min(end, b + FLOAT_BLOCK * FLOAT_GROUP);
        final FloatVector p0 = FloatVector.fromArray(FS, pivots, 0);
        final FloatVector p1 = FloatVector.fromArray(FS, pivots, L);
        final FloatVector p2 = FloatVector.fromArray(FS, pivots, 2 * L);
        final FloatVector p3 = FloatVector.fromArray(FS, pivots, 3 * L);
        FloatVector s0 = FloatVector.zero(FS);
        FloatVector s1 = FloatVector.zero(FS);
        FloatVector s2 = FloatVector.zero(FS);
        FloatVector s3 = FloatVector.zero(FS);
        FloatVector q0 = FloatVector.zero(FS);
        FloatVector q1 = FloatVector.zero(FS);
        FloatVector q2 = FloatVector.zero(FS);
        FloatVector q3 = FloatVector.zero(FS);
        for (int i = b; i < blockEnd; i += FLOAT_GROUP) {
          FloatVector da = FloatVector.fromArray(FS, x, i).sub(p0);
          FloatVector db = FloatVector.fromArray(FS, x, i + L).sub(p1);
          FloatVector dc = FloatVector.fromArray(FS, x, i + 2 * L).sub(p2);
          FloatVector dd = FloatVector.fromArray(FS, x, i + 3 * L).sub(p3);
          s0 = da.add(s0);
          q0 = da.fma(da, q0);
          s1 = db.add(s1);
          q1 = db.fma(db, q1);
          s2 = dc.add(s2);
          q2 = dc.fma(dc, q2);
          s3 = dd.add(s3);
          q3 = dd.fma(dd, q3);
        }
        final int steps = (blockEnd - b) / FLOAT_GROUP;
        final DoubleVector k = DoubleVector.broadcast(DS, shift);
        final DoubleVector n = DoubleVector.broadcast(DS, (double) steps);
        final FloatVector perStep = FloatVector.broadcast(FS, 1f / steps);
        // Per lane set: the moments moved to K into the double lanes, the next pivots (the
        // block's lane means) into the pivots' array.
        DoubleVector sum = (DoubleVector) s0.convertShape(F2D, DS, 0);
        DoubleVector offset = ((DoubleVector) p0.convertShape(F2D, DS, 0)).sub(k);
        DoubleVector.fromArray(DS, acc, 0).add(offset.fma(n, sum)).intoArray(acc, 0);
        DoubleVector.fromArray(DS, acc, L).add(offset.fma(offset.fma(n, sum.add(sum)),
            (DoubleVector) q0.convertShape(F2D, DS, 0))).intoArray(acc, L);
        s0.fma(perStep, p0).intoArray(pivots, 0);
        sum = (DoubleVector) s1.convertShape(F2D, DS, 0);
        offset = ((DoubleVector) p1.convertShape(F2D, DS, 0)).sub(k);
        DoubleVector.fromArray(DS, acc, 0).add(offset.fma(n, sum)).intoArray(acc, 0);
        DoubleVector.fromArray(DS, acc, L).add(offset.fma(offset.fma(n, sum.add(sum)),
            (DoubleVector) q1.convertShape(F2D, DS, 0))).intoArray(acc, L);
        s1.fma(perStep, p1).intoArray(pivots, L);
        sum = (DoubleVector) s2.convertShape(F2D, DS, 0);
        offset = ((DoubleVector) p2.convertShape(F2D, DS, 0)).sub(k);
        DoubleVector.fromArray(DS, acc, 0).add(offset.fma(n, sum)).intoArray(acc, 0);
        DoubleVector.fromArray(DS, acc, L).add(offset.fma(offset.fma(n, sum.add(sum)),
            (DoubleVector) q2.convertShape(F2D, DS, 0))).intoArray(acc, L);
        s2.fma(perStep, p2).intoArray(pivots, 2 * L);
        sum = (DoubleVector) s3.convertShape(F2D, DS, 0);
        offset = ((DoubleVector) p3.convertShape(F2D, DS, 0)).sub(k);
        DoubleVector.fromArray(DS, acc, 0).add(offset.fma(n, sum)).intoArray(acc, 0);
        DoubleVector.fromArray(DS, acc, L).add(offset.fma(offset.fma(n, sum.add(sum)),
            (DoubleVector) q3.convertShape(F2D, DS, 0))).intoArray(acc, L);
        s3.fma(perStep, p3).intoArray(pivots, 3 * L);
      }
      sumsAfterGroups(x, start, groups, len, shift, acc);
    }
    out[o] = laneSum(acc, 0);
    out[o + 1] = laneSum(acc, L);
  }

  /**
   * The first block's pivots of {@link #shiftedSumsFloat}: the means of the 4 L lanes over the
   * {@code values} values (whole steps) from {@code start}, rounded to float, into {@code pivots}.
   */
  private static void firstPivots(float[] x, int start, int values, float[] pivots) {
    FloatVector t0 = FloatVector.zero(FS);
    FloatVector t1 = FloatVector.zero(FS);
    FloatVector t2 = FloatVector.zero(FS);
    FloatVector t3 = FloatVector.zero(FS);
    for (int i = start, end = start + values; i < end; i += FLOAT_GROUP) {
      t0 = FloatVector.fromArray(FS, x, i).add(t0);
      t1 = FloatVector.fromArray(FS, x, i + L).add(t1);
      t2 = FloatVector.fromArray(FS, x, i + 2 * L).add(t2);
      t3 = FloatVector.fromArray(FS, x, i + 3 * L).add(t3);
    }
    final float perStep = (float) FLOAT_GROUP / values;
    t0.mul(perStep).intoArray(pivots, 0);
    t1.mul(perStep).intoArray(pivots, L);
    t2.mul(perStep).intoArray(pivots, 2 * L);
    t3.mul(perStep).intoArray(pivots, 3 * L);
  }

  /** {@link #shiftedSums} of runs of at least {@link #RUN_BY_RUN} values, all in double lanes. */
  private static void shiftedSumsDouble(float[] x, int base, int stride, int planes, int len,
      double shift, double[] out, int o) {
    final double[] acc = acc();
    final int groups = len - len % (4 * L);
    final int vectors = len - len % L;
    for (int p = 0, start = base; p < planes; p++, start += stride) {
      if (groups > 0) {
        final DoubleVector k = DoubleVector.broadcast(DS, shift);
        DoubleVector s0 = DoubleVector.zero(DS);
        DoubleVector s1 = DoubleVector.zero(DS);
        DoubleVector s2 = DoubleVector.zero(DS);
        DoubleVector s3 = DoubleVector.zero(DS);
        DoubleVector q0 = DoubleVector.zero(DS);
        DoubleVector q1 = DoubleVector.zero(DS);
        DoubleVector q2 = DoubleVector.zero(DS);
        DoubleVector q3 = DoubleVector.zero(DS);
        for (int i = start, end = start + groups; i < end; i += 4 * L) {
          DoubleVector a = ((DoubleVector) FloatVector.fromArray(FS, x, i)
              .convertShape(F2D, DS, 0)).sub(k);
          DoubleVector b = ((DoubleVector) FloatVector.fromArray(FS, x, i + L)
              .convertShape(F2D, DS, 0)).sub(k);
          DoubleVector c = ((DoubleVector) FloatVector.fromArray(FS, x, i + 2 * L)
              .convertShape(F2D, DS, 0)).sub(k);
          DoubleVector d = ((DoubleVector) FloatVector.fromArray(FS, x, i + 3 * L)
              .convertShape(F2D, DS, 0)).sub(k);
          s0 = a.add(s0);
          q0 = a.fma(a, q0);
          s1 = b.add(s1);
          q1 = b.fma(b, q1);
          s2 = c.add(s2);
          q2 = c.fma(c, q2);
          s3 = d.add(s3);
          q3 = d.fma(d, q3);
        }
        DoubleVector.fromArray(DS, acc, 0).add(s0.add(s1).add(s2.add(s3))).intoArray(acc, 0);
        DoubleVector.fromArray(DS, acc, L).add(q0.add(q1).add(q2.add(q3))).intoArray(acc, L);
      }
      sumsAfterGroups(x, start, groups, len, shift, acc);
    }
    out[o] = laneSum(acc, 0);
    out[o + 1] = laneSum(acc, L);
  }

  /**
   * The end of a run's shifted sums, after its first {@code groups} values: the remaining whole
   * vectors, then the last {@code len % L} values as the end of one more vector, into the scratch
   * lanes.
   */
  private static void sumsAfterGroups(float[] x, int start, int groups, int len, double shift,
      double[] acc) {
    final int vectors = len - len % L;
    if (vectors > groups) {
      final DoubleVector k = DoubleVector.broadcast(DS, shift);
      for (int i = start + groups, end = start + vectors; i < end; i += L) {
        DoubleVector a = ((DoubleVector) FloatVector.fromArray(FS, x, i)
            .convertShape(F2D, DS, 0)).sub(k);
        DoubleVector.fromArray(DS, acc, 0).add(a).intoArray(acc, 0);
        a.fma(a, DoubleVector.fromArray(DS, acc, L)).intoArray(acc, L);
      }
    }
    if (vectors < len) {
      // The run's last L values, of which the first L - tail were counted above: those lanes
      // are cleared bit for bit (an AND, not a product, so that an infinity stays counted once).
      final DoubleVector k = DoubleVector.broadcast(DS, shift);
      final LongVector keep = LongVector.fromArray(LS, KEEP, len - vectors);
      DoubleVector a = ((DoubleVector) FloatVector.fromArray(FS, x, start + len - L)
          .convertShape(F2D, DS, 0)).sub(k).reinterpretAsLongs().and(keep)
          .reinterpretAsDoubles();
      DoubleVector.fromArray(DS, acc, 0).add(a).intoArray(acc, 0);
      a.fma(a, DoubleVector.fromArray(DS, acc, L)).intoArray(acc, L);
    }
  }

  // ---- One value per plane (spatial size 1, BatchNorm1d's (N, C)): the channels side by side.
  // shiftedSums and backwardSums add a one-value run in scalar, in row order (see the flat sums);
  // these kernels do the same additions, lane c for channel c, walking the rows in memory order
  // with the channels' sums in scratch (in L1), so each channel's result has the same bits. The
  // lane sums are added to 0.0 as the flat sums add their empty vector lanes.

  @Override
  void shiftedSumsAcross(float[] x, int r0, int r1, int channels, int len, int c0, int c1,
      double[] shift, double[] out, int o, int outStride) {
    if (len != 1) {
      if (len < L) {
        shortSums(x, null, null, null, r0, r1, channels, len, c0, c1, shift, null, out, o,
            outStride,
            FORWARD);
      } else {
        super.shiftedSumsAcross(x, r0, r1, channels, len, c0, c1, shift, out, o, outStride);
      }
      return;
    }
    final int width = c1 - c0;
    final double[] acc = matrixScratch(2 * width); // sums, then squares
    final int groups = width - width % (4 * L);
    final int vectors = width - width % L;
    final int tileRows = Math.max(8, MATRIX_TILE / channels);
    for (int t0 = r0; t0 < r1; t0 += tileRows) {
      final int t1 = Math.min(r1, t0 + tileRows);
      // Groups of 4 L channels: their sums stay in registers down the tile's rows.
      for (int j = 0; j < groups; j += 4 * L) {
        final DoubleVector k0 = DoubleVector.fromArray(DS, shift, c0 + j);
        final DoubleVector k1 = DoubleVector.fromArray(DS, shift, c0 + j + L);
        final DoubleVector k2 = DoubleVector.fromArray(DS, shift, c0 + j + 2 * L);
        final DoubleVector k3 = DoubleVector.fromArray(DS, shift, c0 + j + 3 * L);
        DoubleVector s0 = DoubleVector.fromArray(DS, acc, j);
        DoubleVector s1 = DoubleVector.fromArray(DS, acc, j + L);
        DoubleVector s2 = DoubleVector.fromArray(DS, acc, j + 2 * L);
        DoubleVector s3 = DoubleVector.fromArray(DS, acc, j + 3 * L);
        DoubleVector q0 = DoubleVector.fromArray(DS, acc, width + j);
        DoubleVector q1 = DoubleVector.fromArray(DS, acc, width + j + L);
        DoubleVector q2 = DoubleVector.fromArray(DS, acc, width + j + 2 * L);
        DoubleVector q3 = DoubleVector.fromArray(DS, acc, width + j + 3 * L);
        for (int r = t0, i = t0 * channels + c0 + j; r < t1; r++, i += channels) {
          DoubleVector a = ((DoubleVector) FloatVector.fromArray(FS, x, i)
              .convertShape(F2D, DS, 0)).sub(k0);
          DoubleVector b = ((DoubleVector) FloatVector.fromArray(FS, x, i + L)
              .convertShape(F2D, DS, 0)).sub(k1);
          DoubleVector c = ((DoubleVector) FloatVector.fromArray(FS, x, i + 2 * L)
              .convertShape(F2D, DS, 0)).sub(k2);
          DoubleVector d = ((DoubleVector) FloatVector.fromArray(FS, x, i + 3 * L)
              .convertShape(F2D, DS, 0)).sub(k3);
          s0 = a.add(s0);
          q0 = a.fma(a, q0);
          s1 = b.add(s1);
          q1 = b.fma(b, q1);
          s2 = c.add(s2);
          q2 = c.fma(c, q2);
          s3 = d.add(s3);
          q3 = d.fma(d, q3);
        }
        s0.intoArray(acc, j);
        s1.intoArray(acc, j + L);
        s2.intoArray(acc, j + 2 * L);
        s3.intoArray(acc, j + 3 * L);
        q0.intoArray(acc, width + j);
        q1.intoArray(acc, width + j + L);
        q2.intoArray(acc, width + j + 2 * L);
        q3.intoArray(acc, width + j + 3 * L);
      }
      // The remaining channels, a vector or a lane at a time, their sums in the scratch.
      for (int r = t0, row = t0 * channels + c0; r < t1; r++, row += channels) {
        for (int j = groups; j < vectors; j += L) {
          DoubleVector a = ((DoubleVector) FloatVector.fromArray(FS, x, row + j)
              .convertShape(F2D, DS, 0)).sub(DoubleVector.fromArray(DS, shift, c0 + j));
          DoubleVector.fromArray(DS, acc, j).add(a).intoArray(acc, j);
          a.fma(a, DoubleVector.fromArray(DS, acc, width + j)).intoArray(acc, width + j);
        }
        for (int j = vectors; j < width; j++) {
          double a = x[row + j] - shift[c0 + j];
          acc[j] += a;
          acc[width + j] = Math.fma(a, a, acc[width + j]);
        }
      }
    }
    writeSums(acc, width, 2, out, o, c0, outStride);
  }

  @Override
  void backwardSumsAcross(float[] x, float[] dy, float[] reluOutput, int r0, int r1,
      int channels, int len, int c0, int c1, double[] pivot, double[] out, int o, int outStride) {
    if (len != 1) {
      if (len < L) {
        shortSums(x, dy, reluOutput, null, r0, r1, channels, len, c0, c1, pivot, null, out, o,
            outStride, BACKWARD);
      } else {
        super.backwardSumsAcross(x, dy, reluOutput, r0, r1, channels, len, c0, c1, pivot, out, o,
            outStride);
      }
      return;
    }
    if (reluOutput != null) {
      backwardSumsMatrixMasked(x, dy, reluOutput, r0, r1, channels, c0, c1, pivot, out, o,
          outStride);
      return;
    }
    final int width = c1 - c0;
    final double[] acc = matrixScratch(3 * width); // sum dy, sum dy * c, sum c
    final int d = width;
    final int s = 2 * width;
    final int quads = width - width % (4 * L);
    final int groups = width - width % (2 * L);
    final int vectors = width - width % L;
    final int tileRows = Math.max(8, MATRIX_TILE / channels);
    for (int t0 = r0; t0 < r1; t0 += tileRows) {
      final int t1 = Math.min(r1, t0 + tileRows);
      // Groups of 4 L channels: twelve sums in registers down the tile's rows.
      for (int j = 0; j < quads; j += 4 * L) {
        final DoubleVector p0 = DoubleVector.fromArray(DS, pivot, c0 + j);
        final DoubleVector p1 = DoubleVector.fromArray(DS, pivot, c0 + j + L);
        final DoubleVector p2 = DoubleVector.fromArray(DS, pivot, c0 + j + 2 * L);
        final DoubleVector p3 = DoubleVector.fromArray(DS, pivot, c0 + j + 3 * L);
        DoubleVector g0 = DoubleVector.fromArray(DS, acc, j);
        DoubleVector g1 = DoubleVector.fromArray(DS, acc, j + L);
        DoubleVector g2 = DoubleVector.fromArray(DS, acc, j + 2 * L);
        DoubleVector g3 = DoubleVector.fromArray(DS, acc, j + 3 * L);
        DoubleVector d0 = DoubleVector.fromArray(DS, acc, d + j);
        DoubleVector d1 = DoubleVector.fromArray(DS, acc, d + j + L);
        DoubleVector d2 = DoubleVector.fromArray(DS, acc, d + j + 2 * L);
        DoubleVector d3 = DoubleVector.fromArray(DS, acc, d + j + 3 * L);
        DoubleVector e0 = DoubleVector.fromArray(DS, acc, s + j);
        DoubleVector e1 = DoubleVector.fromArray(DS, acc, s + j + L);
        DoubleVector e2 = DoubleVector.fromArray(DS, acc, s + j + 2 * L);
        DoubleVector e3 = DoubleVector.fromArray(DS, acc, s + j + 3 * L);
        for (int r = t0, i = t0 * channels + c0 + j; r < t1; r++, i += channels) {
          DoubleVector ca = ((DoubleVector) FloatVector.fromArray(FS, x, i)
              .convertShape(F2D, DS, 0)).sub(p0);
          DoubleVector ga = (DoubleVector) FloatVector.fromArray(FS, dy, i)
              .convertShape(F2D, DS, 0);
          g0 = ga.add(g0);
          d0 = ga.fma(ca, d0);
          e0 = ca.add(e0);
          DoubleVector cb = ((DoubleVector) FloatVector.fromArray(FS, x, i + L)
              .convertShape(F2D, DS, 0)).sub(p1);
          DoubleVector gb = (DoubleVector) FloatVector.fromArray(FS, dy, i + L)
              .convertShape(F2D, DS, 0);
          g1 = gb.add(g1);
          d1 = gb.fma(cb, d1);
          e1 = cb.add(e1);
          DoubleVector cc = ((DoubleVector) FloatVector.fromArray(FS, x, i + 2 * L)
              .convertShape(F2D, DS, 0)).sub(p2);
          DoubleVector gc = (DoubleVector) FloatVector.fromArray(FS, dy, i + 2 * L)
              .convertShape(F2D, DS, 0);
          g2 = gc.add(g2);
          d2 = gc.fma(cc, d2);
          e2 = cc.add(e2);
          DoubleVector cd = ((DoubleVector) FloatVector.fromArray(FS, x, i + 3 * L)
              .convertShape(F2D, DS, 0)).sub(p3);
          DoubleVector gd = (DoubleVector) FloatVector.fromArray(FS, dy, i + 3 * L)
              .convertShape(F2D, DS, 0);
          g3 = gd.add(g3);
          d3 = gd.fma(cd, d3);
          e3 = cd.add(e3);
        }
        g0.intoArray(acc, j);
        g1.intoArray(acc, j + L);
        g2.intoArray(acc, j + 2 * L);
        g3.intoArray(acc, j + 3 * L);
        d0.intoArray(acc, d + j);
        d1.intoArray(acc, d + j + L);
        d2.intoArray(acc, d + j + 2 * L);
        d3.intoArray(acc, d + j + 3 * L);
        e0.intoArray(acc, s + j);
        e1.intoArray(acc, s + j + L);
        e2.intoArray(acc, s + j + 2 * L);
        e3.intoArray(acc, s + j + 3 * L);
      }
      // Groups of 2 L channels: their sums stay in registers down the tile's rows.
      for (int j = quads; j < groups; j += 2 * L) {
        final DoubleVector p0 = DoubleVector.fromArray(DS, pivot, c0 + j);
        final DoubleVector p1 = DoubleVector.fromArray(DS, pivot, c0 + j + L);
        DoubleVector g0 = DoubleVector.fromArray(DS, acc, j);
        DoubleVector g1 = DoubleVector.fromArray(DS, acc, j + L);
        DoubleVector d0 = DoubleVector.fromArray(DS, acc, d + j);
        DoubleVector d1 = DoubleVector.fromArray(DS, acc, d + j + L);
        DoubleVector e0 = DoubleVector.fromArray(DS, acc, s + j);
        DoubleVector e1 = DoubleVector.fromArray(DS, acc, s + j + L);
        for (int r = t0, i = t0 * channels + c0 + j; r < t1; r++, i += channels) {
          DoubleVector ca = ((DoubleVector) FloatVector.fromArray(FS, x, i)
              .convertShape(F2D, DS, 0)).sub(p0);
          DoubleVector cb = ((DoubleVector) FloatVector.fromArray(FS, x, i + L)
              .convertShape(F2D, DS, 0)).sub(p1);
          DoubleVector ga = (DoubleVector) FloatVector.fromArray(FS, dy, i)
              .convertShape(F2D, DS, 0);
          DoubleVector gb = (DoubleVector) FloatVector.fromArray(FS, dy, i + L)
              .convertShape(F2D, DS, 0);
          g0 = ga.add(g0);
          d0 = ga.fma(ca, d0);
          e0 = ca.add(e0);
          g1 = gb.add(g1);
          d1 = gb.fma(cb, d1);
          e1 = cb.add(e1);
        }
        g0.intoArray(acc, j);
        g1.intoArray(acc, j + L);
        d0.intoArray(acc, d + j);
        d1.intoArray(acc, d + j + L);
        e0.intoArray(acc, s + j);
        e1.intoArray(acc, s + j + L);
      }
      // The remaining channels, a vector or a lane at a time, their sums in the scratch.
      for (int r = t0, row = t0 * channels + c0; r < t1; r++, row += channels) {
        for (int j = groups; j < vectors; j += L) {
          DoubleVector c = ((DoubleVector) FloatVector.fromArray(FS, x, row + j)
              .convertShape(F2D, DS, 0)).sub(DoubleVector.fromArray(DS, pivot, c0 + j));
          DoubleVector g = (DoubleVector) FloatVector.fromArray(FS, dy, row + j)
              .convertShape(F2D, DS, 0);
          DoubleVector.fromArray(DS, acc, j).add(g).intoArray(acc, j);
          g.fma(c, DoubleVector.fromArray(DS, acc, d + j)).intoArray(acc, d + j);
          DoubleVector.fromArray(DS, acc, s + j).add(c).intoArray(acc, s + j);
        }
        for (int j = vectors; j < width; j++) {
          double c = x[row + j] - pivot[c0 + j];
          double g = dy[row + j];
          acc[j] += g;
          acc[d + j] = Math.fma(g, c, acc[d + j]);
          acc[s + j] += c;
        }
      }
    }
    writeSums(acc, width, 3, out, o, c0, outStride);
  }

  @Override
  void scaleGradAcross(float[] x, float[] dy, float[] reluOutput, float[] dx, int r0, int r1,
      int channels, int len, int c0, int c1, double[] center, double[] scale, double[] out, int o,
      int outStride) {
    if (len != 1) {
      if (len < L) {
        shortSums(x, dy, reluOutput, dx, r0, r1, channels, len, c0, c1, center, scale, out, o,
            outStride, SCALE_GRAD);
      } else {
        super.scaleGradAcross(x, dy, reluOutput, dx, r0, r1, channels, len, c0, c1, center, scale,
            out, o, outStride);
      }
      return;
    }
    if (reluOutput != null) {
      scaleGradMatrixMasked(x, dy, reluOutput, dx, r0, r1, channels, c0, c1, center, scale, out,
          o, outStride);
      return;
    }
    final int width = c1 - c0;
    // The eval backward with parameter gradients, rarely on a hot path: the sums in scratch.
    final double[] acc = matrixScratch(2 * width); // sum dy, sum dy * (x - center)
    final int vectors = width - width % L;
    for (int r = r0, row = r0 * channels + c0; r < r1; r++, row += channels) {
      for (int j = 0; j < vectors; j += L) {
        DoubleVector g = (DoubleVector) FloatVector.fromArray(FS, dy, row + j)
            .convertShape(F2D, DS, 0);
        DoubleVector c = ((DoubleVector) FloatVector.fromArray(FS, x, row + j)
            .convertShape(F2D, DS, 0)).sub(DoubleVector.fromArray(DS, center, c0 + j));
        DoubleVector.fromArray(DS, acc, j).add(g).intoArray(acc, j);
        g.fma(c, DoubleVector.fromArray(DS, acc, width + j)).intoArray(acc, width + j);
        DoubleVector result = g.mul(DoubleVector.fromArray(DS, scale, c0 + j));
        ((FloatVector) result.convertShape(D2F, FS, 0)).intoArray(dx, row + j);
      }
      for (int j = vectors; j < width; j++) {
        double g = dy[row + j];
        acc[j] += g;
        acc[width + j] = Math.fma(g, x[row + j] - center[c0 + j], acc[width + j]);
        dx[row + j] = (float) (g * scale[c0 + j]);
      }
    }
    writeSums(acc, width, 2, out, o, c0, outStride);
  }

  /**
   * Writes the {@code sums} per-channel sums kept in scratch ({@code acc[k * width + j]} for sum k
   * of channel c0 + j) to {@code out[o + c * outStride + k]}, each added to 0.0 as the plane
   * kernels add their empty vector lanes (so a -0.0 sum becomes 0.0 there too).
   */
  private static void writeSums(double[] acc, int width, int sums, double[] out, int o, int c0,
      int outStride) {
    for (int j = 0; j < width; j++) {
      int at = o + (c0 + j) * outStride;
      for (int k = 0; k < sums; k++) {
        out[at + k] = 0.0 + acc[k * width + j];
      }
    }
  }

  /** The offset within a row of {@code row} values after a step of L values from {@code at}. */
  private static int afterVector(int at, int row) {
    at += L;
    while (at >= row) {
      at -= row;
    }
    return at;
  }

  private static final int FORWARD = 0;
  private static final int BACKWARD = 1;
  private static final int SCALE_GRAD = 2;

  /**
   * The sums of planes shorter than a vector (2 to L - 1 values), rows in memory order, each
   * channel's sums in scratch: in scalar, as the flat sums add such planes (see {@link
   * #shiftedSumsFlat}), one value after the other in memory order, so the bits are the same.
   * {@code kind} picks the sums: the statistics (x - shift[c]), the training backward's (dy,
   * dy * (x - pivot[c]), x - pivot[c]), or the eval backward's (dy, dy * (x - center[c])) with dx.
   */
  private static void shortSums(float[] x, float[] dy, float[] reluOutput, float[] dx, int r0,
      int r1, int channels, int len, int c0, int c1, double[] center, double[] scale,
      double[] out, int o, int outStride, int kind) {
    final int width = c1 - c0;
    final double[] acc = matrixScratch(3 * width);
    final int stride = channels * len;
    for (int r = r0, row = r0 * stride + c0 * len; r < r1; r++, row += stride) {
      for (int j = 0, e = row; j < width; j++) {
        final double k = center[c0 + j];
        double a0 = acc[j];
        double a1 = acc[width + j];
        double a2 = acc[2 * width + j];
        for (int end = e + len; e < end; e++) {
          if (kind == FORWARD) {
            double d = x[e] - k;
            a0 += d;
            a1 = Math.fma(d, d, a1);
          } else if (kind == BACKWARD) {
            double c = x[e] - k;
            double g = reluOutput != null && reluOutput[e] <= 0f ? 0.0 : dy[e];
            a0 += g;
            a1 = Math.fma(g, c, a1);
            a2 += c;
          } else {
            double g = reluOutput != null && reluOutput[e] <= 0f ? 0.0 : dy[e];
            a0 += g;
            a1 = Math.fma(g, x[e] - k, a1);
            dx[e] = (float) (g * scale[c0 + j]);
          }
        }
        acc[j] = a0;
        acc[width + j] = a1;
        acc[2 * width + j] = a2;
      }
    }
    writeSums(acc, width, kind == BACKWARD ? 3 : 2, out, o, c0, outStride);
  }

  // The elementwise passes of planes shorter than a vector (and of fewer than L channels with one
  // value per plane): the rows are one flat block whose value i belongs to channel (i % row) /
  // len, so the vector at i takes its constants from arrays that repeat the row's (row + L
  // entries, from i % row). Every value gets the arithmetic of the plane kernels' scalar tail.

  /**
   * {@link #normalizeRows} for planes shorter than a vector, as one flat block: y = fma(x,
   * alpha[c], shift[c]) with c the channel of each value.
   */
  private static void normalizeFlat(float[] x, float[] y, int base, int rows, int channels,
      int len, double[] mean, double[] alpha, double[] beta, boolean relu) {
    final int row = channels * len;
    final int width = row + L;
    final double[] constants = matrixScratch(2 * width); // alphas, then shifts, repeated
    for (int i = 0; i < width; i++) {
      int c = i % row / len;
      constants[i] = alpha[c];
      constants[width + i] = shift(mean[c], alpha[c], beta[c]);
    }
    final int end = base + rows * row;
    int at = 0; // (i - base) % row
    int i = base;
    if (relu) {
      for (; i <= end - L; i += L) {
        DoubleVector v = (DoubleVector) FloatVector.fromArray(FS, x, i).convertShape(F2D, DS, 0);
        DoubleVector z = v.fma(DoubleVector.fromArray(DS, constants, at),
            DoubleVector.fromArray(DS, constants, width + at));
        FloatVector f = (FloatVector) z.convertShape(D2F, FS, 0);
        f.blend(0f, f.compare(LE, 0f)).intoArray(y, i);
        at = afterVector(at, row);
      }
      for (; i < end; i++, at = at + 1 == row ? 0 : at + 1) {
        y[i] = (float) Math.max(Math.fma(x[i], constants[at], constants[width + at]), 0.0);
      }
      return;
    }
    for (; i <= end - L; i += L) {
      DoubleVector v = (DoubleVector) FloatVector.fromArray(FS, x, i).convertShape(F2D, DS, 0);
      DoubleVector result = v.fma(DoubleVector.fromArray(DS, constants, at),
          DoubleVector.fromArray(DS, constants, width + at));
      ((FloatVector) result.convertShape(D2F, FS, 0)).intoArray(y, i);
      at = afterVector(at, row);
    }
    for (; i < end; i++, at = at + 1 == row ? 0 : at + 1) {
      y[i] = (float) Math.fma(x[i], constants[at], constants[width + at]);
    }
  }

  /** {@link #backwardDxRows} for planes shorter than a vector, as {@link #normalizeFlat}. */
  private static void backwardDxFlat(float[] x, float[] dy, float[] dx, int base, int rows,
      int channels, int len, double[] mean, double[] meanDy, double[] k, double[] scale) {
    final int row = channels * len;
    final int width = row + L;
    final double[] constants = matrixScratch(3 * width); // slopes, offsets, scales, repeated
    for (int i = 0; i < width; i++) {
      int c = i % row / len;
      constants[i] = dxSlope(k[c], scale[c]);
      constants[width + i] = dxOffset(mean[c], meanDy[c], k[c], scale[c]);
      constants[2 * width + i] = scale[c];
    }
    final int end = base + rows * row;
    int at = 0;
    int i = base;
    for (; i <= end - L; i += L) {
      DoubleVector inner = ((DoubleVector) FloatVector.fromArray(FS, x, i)
          .convertShape(F2D, DS, 0)).fma(DoubleVector.fromArray(DS, constants, at),
          DoubleVector.fromArray(DS, constants, width + at));
      DoubleVector g = (DoubleVector) FloatVector.fromArray(FS, dy, i).convertShape(F2D, DS, 0);
      DoubleVector result = g.fma(DoubleVector.fromArray(DS, constants, 2 * width + at), inner);
      ((FloatVector) result.convertShape(D2F, FS, 0)).intoArray(dx, i);
      at = afterVector(at, row);
    }
    for (; i < end; i++, at = at + 1 == row ? 0 : at + 1) {
      dx[i] = (float) Math.fma(dy[i], constants[2 * width + at],
          Math.fma(x[i], constants[at], constants[width + at]));
    }
  }

  @Override
  void scaleGradRows(float[] dy, float[] reluOutput, float[] dx, int base, int rows, int channels,
      int len, double[] scale) {
    if (len >= L) {
      super.scaleGradRows(dy, reluOutput, dx, base, rows, channels, len, scale);
      return;
    }
    if (reluOutput != null) {
      scaleGradFlatMasked(dy, reluOutput, dx, base, rows, channels, len, scale);
      return;
    }
    if (len == 1 && channels >= L) {
      scaleGradMatrixRows(dy, dx, base, rows, channels, scale);
      return;
    }
    final int row = channels * len;
    final int width = row + L;
    final double[] constants = matrixScratch(width); // scales, repeated
    for (int i = 0; i < width; i++) {
      constants[i] = scale[i % row / len];
    }
    final int end = base + rows * row;
    int at = 0;
    int i = base;
    for (; i <= end - L; i += L) {
      DoubleVector g = (DoubleVector) FloatVector.fromArray(FS, dy, i).convertShape(F2D, DS, 0);
      DoubleVector result = g.mul(DoubleVector.fromArray(DS, constants, at));
      ((FloatVector) result.convertShape(D2F, FS, 0)).intoArray(dx, i);
      at = afterVector(at, row);
    }
    for (; i < end; i++, at = at + 1 == row ? 0 : at + 1) {
      dx[i] = (float) (dy[i] * constants[at]);
    }
  }

  // One value per plane and at least L channels: each row's channels as consecutive vectors (and
  // a lane tail), with their constants from the per-channel arrays: simple counted loops, faster
  // than the flat walk.

  /** {@link #normalizeRows} for one value per plane and at least L channels. */
  private static void normalizeMatrixRows(float[] x, float[] y, int base, int rows, int channels,
      double[] mean, double[] alpha, double[] beta, boolean relu) {
    final double[] shift = matrixScratch(channels);
    for (int c = 0; c < channels; c++) {
      shift[c] = shift(mean[c], alpha[c], beta[c]);
    }
    final int vectors = channels - channels % L;
    if (relu) {
      for (int r = 0, row = base; r < rows; r++, row += channels) {
        for (int c = 0; c < vectors; c += L) {
          DoubleVector v = (DoubleVector) FloatVector.fromArray(FS, x, row + c)
              .convertShape(F2D, DS, 0);
          DoubleVector z = v.fma(DoubleVector.fromArray(DS, alpha, c),
              DoubleVector.fromArray(DS, shift, c));
          FloatVector f = (FloatVector) z.convertShape(D2F, FS, 0);
          f.blend(0f, f.compare(LE, 0f)).intoArray(y, row + c);
        }
        for (int c = vectors; c < channels; c++) {
          y[row + c] = (float) Math.max(Math.fma(x[row + c], alpha[c], shift[c]), 0.0);
        }
      }
      return;
    }
    for (int r = 0, row = base; r < rows; r++, row += channels) {
      for (int c = 0; c < vectors; c += L) {
        DoubleVector v = (DoubleVector) FloatVector.fromArray(FS, x, row + c)
            .convertShape(F2D, DS, 0);
        DoubleVector result =
            v.fma(DoubleVector.fromArray(DS, alpha, c), DoubleVector.fromArray(DS, shift, c));
        ((FloatVector) result.convertShape(D2F, FS, 0)).intoArray(y, row + c);
      }
      for (int c = vectors; c < channels; c++) {
        y[row + c] = (float) Math.fma(x[row + c], alpha[c], shift[c]);
      }
    }
  }

  /** {@link #backwardDxRows} for one value per plane and at least L channels. */
  private static void backwardDxMatrixRows(float[] x, float[] dy, float[] dx, int base, int rows,
      int channels, double[] mean, double[] meanDy, double[] k, double[] scale) {
    final double[] folded = matrixScratch(2 * channels); // slopes, then offsets
    for (int c = 0; c < channels; c++) {
      folded[c] = dxSlope(k[c], scale[c]);
      folded[channels + c] = dxOffset(mean[c], meanDy[c], k[c], scale[c]);
    }
    final int vectors = channels - channels % L;
    for (int r = 0, row = base; r < rows; r++, row += channels) {
      for (int c = 0; c < vectors; c += L) {
        DoubleVector inner = ((DoubleVector) FloatVector.fromArray(FS, x, row + c)
            .convertShape(F2D, DS, 0)).fma(DoubleVector.fromArray(DS, folded, c),
            DoubleVector.fromArray(DS, folded, channels + c));
        DoubleVector g = (DoubleVector) FloatVector.fromArray(FS, dy, row + c)
            .convertShape(F2D, DS, 0);
        DoubleVector result = g.fma(DoubleVector.fromArray(DS, scale, c), inner);
        ((FloatVector) result.convertShape(D2F, FS, 0)).intoArray(dx, row + c);
      }
      for (int c = vectors; c < channels; c++) {
        dx[row + c] = (float) Math.fma(dy[row + c], scale[c],
            Math.fma(x[row + c], folded[c], folded[channels + c]));
      }
    }
  }

  /** {@link #scaleGradRows} for one value per plane and at least L channels. */
  private static void scaleGradMatrixRows(float[] dy, float[] dx, int base, int rows,
      int channels, double[] scale) {
    final int vectors = channels - channels % L;
    for (int r = 0, row = base; r < rows; r++, row += channels) {
      for (int c = 0; c < vectors; c += L) {
        DoubleVector g = (DoubleVector) FloatVector.fromArray(FS, dy, row + c)
            .convertShape(F2D, DS, 0);
        DoubleVector result = g.mul(DoubleVector.fromArray(DS, scale, c));
        ((FloatVector) result.convertShape(D2F, FS, 0)).intoArray(dx, row + c);
      }
      for (int c = vectors; c < channels; c++) {
        dx[row + c] = (float) (dy[row + c] * scale[c]);
      }
    }
  }

  @Override
  void normalize(float[] x, float[] y, int base, int stride, int planes, int len,
      double mean, double alpha, double beta, boolean relu) {
    final double shift = shift(mean, alpha, beta);
    for (int p = 0, start = base; p < planes; p++, start += stride) {
      if (relu) {
        normalizeRunRelu(x, y, start, len, alpha, shift);
      } else {
        normalizeRun(x, y, start, len, alpha, shift);
      }
    }
  }

  @Override
  void normalizeRows(float[] x, float[] y, int base, int rows, int channels, int len,
      double[] mean, double[] alpha, double[] beta, boolean relu) {
    if (len == 1 && channels >= L) {
      normalizeMatrixRows(x, y, base, rows, channels, mean, alpha, beta, relu);
      return;
    }
    if (len < L) {
      normalizeFlat(x, y, base, rows, channels, len, mean, alpha, beta, relu);
      return;
    }
    for (int r = 0, start = base; r < rows; r++) {
      for (int c = 0; c < channels; c++, start += len) {
        if (relu) {
          normalizeRunRelu(x, y, start, len, alpha[c], shift(mean[c], alpha[c], beta[c]));
        } else {
          normalizeRun(x, y, start, len, alpha[c], shift(mean[c], alpha[c], beta[c]));
        }
      }
    }
  }

  /**
   * {@link #normalizeRun} with the fused ReLU: {@code y = (float) max(fma(x, alpha, shift), 0)},
   * exactly {@link Math#max}'s result (a NaN stays NaN, -0.0 becomes 0.0), as a compare and a
   * blend of the narrowed float lanes. Measured on (32, 256, 14, 14) planes in cache, the ReLU pass
   * against the plain one: 1.17-1.23x this way, 1.45-1.5x with the lanewise MAX (which must honour
   * Math.max's rules for NaN and -0.0, so C2 adds fix-ups), 1.8x with the compare and blend on the
   * wide double lanes. Its own loop, so that the plain pass keeps no extra instruction.
   */
  private static void normalizeRunRelu(float[] x, float[] y, int start, int len, double alpha,
      double shift) {
    final int vectors = len - len % L;
    if (vectors > 0) {
      final DoubleVector a = DoubleVector.broadcast(DS, alpha);
      final DoubleVector b = DoubleVector.broadcast(DS, shift);
      for (int i = start, end = start + vectors; i < end; i += L) {
        DoubleVector z = ((DoubleVector) FloatVector.fromArray(FS, x, i).convertShape(F2D, DS, 0))
            .fma(a, b);
        FloatVector f = (FloatVector) z.convertShape(D2F, FS, 0);
        f.blend(0f, f.compare(LE, 0f)).intoArray(y, i);
      }
    }
    if (vectors == len) {
      return;
    }
    if (vectors > 0 && x != y) { // the overlapping last vector, as in normalizeRun
      final int i = start + len - L;
      DoubleVector z = ((DoubleVector) FloatVector.fromArray(FS, x, i).convertShape(F2D, DS, 0))
          .fma(DoubleVector.broadcast(DS, alpha), DoubleVector.broadcast(DS, shift));
      FloatVector f = (FloatVector) z.convertShape(D2F, FS, 0);
      f.blend(0f, f.compare(LE, 0f)).intoArray(y, i);
    } else {
      for (int i = start + vectors, end = start + len; i < end; i++) {
        y[i] = (float) Math.max(Math.fma(x[i], alpha, shift), 0.0);
      }
    }
  }

  /**
   * The folded shift of {@code y = x * alpha + shift}: in double, the product and the folded shift
   * are exact to ~1e-16 relative, so even at |mean| / std = 1e6 the double error stays below 1e-9
   * of y, far under float's 6e-8, and y is rounded to float once (by the fma and the narrowing).
   */
  private static double shift(double mean, double alpha, double beta) {
    return beta - mean * alpha;
  }

  /** {@code y = (float) fma(x, alpha, shift)} over one run of {@code len} floats. */
  private static void normalizeRun(float[] x, float[] y, int start, int len, double alpha,
      double shift) {
    final int vectors = len - len % L;
    if (vectors > 0) {
      final DoubleVector a = DoubleVector.broadcast(DS, alpha);
      final DoubleVector b = DoubleVector.broadcast(DS, shift);
      for (int i = start, end = start + vectors; i < end; i += L) {
        ((FloatVector) ((DoubleVector) FloatVector.fromArray(FS, x, i).convertShape(F2D, DS, 0))
            .fma(a, b).convertShape(D2F, FS, 0)).intoArray(y, i);
      }
    }
    if (vectors == len) {
      return;
    }
    if (vectors > 0 && x != y) {
      // Out of place, the run's last len % L values are the end of one more vector that overlaps
      // the body; the overlapped values are recomputed to the same bits. In place they would be
      // read back already normalized, so the tail is scalar.
      final int i = start + len - L;
      DoubleVector v = (DoubleVector) FloatVector.fromArray(FS, x, i).convertShape(F2D, DS, 0);
      DoubleVector result =
          v.fma(DoubleVector.broadcast(DS, alpha), DoubleVector.broadcast(DS, shift));
      ((FloatVector) result.convertShape(D2F, FS, 0)).intoArray(y, i);
    } else {
      for (int i = start + vectors, end = start + len; i < end; i++) {
        y[i] = (float) Math.fma(x[i], alpha, shift);
      }
    }
  }

  @Override
  void backwardSums(float[] x, float[] dy, float[] reluOutput, int base, int stride, int planes,
      int len, double pivot, double[] out, int o) {
    if (reluOutput != null) {
      backwardSumsMasked(x, dy, reluOutput, base, stride, planes, len, pivot, out, o);
      return;
    }
    if (len < RUN_BY_RUN) {
      backwardSumsFlat(x, dy, base, stride, planes, len, pivot, out, o);
      return;
    }
    if (len >= FLOAT_GROUP) {
      backwardSumsFloat(x, dy, base, stride, planes, len, pivot, out, o);
      if (floatBackwardSumsHold(out, o, planes, len)) {
        return;
      }
      // A float product or sum overflowed, or the data hold an infinity or a NaN, or the products
      // are so small that float lanes may have lost them below float's normal range: in double.
    }
    backwardSumsDouble(x, dy, base, stride, planes, len, pivot, out, o);
  }

  /** {@link #backwardSums} of long runs, all in double lanes. */
  private static void backwardSumsDouble(float[] x, float[] dy, int base, int stride, int planes,
      int len, double pivot, double[] out, int o) {
    final double[] acc = acc();
    final int groups = len - len % (2 * L);
    final int vectors = len - len % L;
    for (int p = 0, start = base; p < planes; p++, start += stride) {
      if (groups > 0) {
        final DoubleVector pv = DoubleVector.broadcast(DS, pivot);
        DoubleVector g0 = DoubleVector.zero(DS);
        DoubleVector g1 = DoubleVector.zero(DS);
        DoubleVector d0 = DoubleVector.zero(DS);
        DoubleVector d1 = DoubleVector.zero(DS);
        DoubleVector c0 = DoubleVector.zero(DS);
        DoubleVector c1 = DoubleVector.zero(DS);
        for (int i = start, end = start + groups; i < end; i += 2 * L) {
          DoubleVector ca = ((DoubleVector) FloatVector.fromArray(FS, x, i)
              .convertShape(F2D, DS, 0)).sub(pv);
          DoubleVector cb = ((DoubleVector) FloatVector.fromArray(FS, x, i + L)
              .convertShape(F2D, DS, 0)).sub(pv);
          DoubleVector ga = (DoubleVector) FloatVector.fromArray(FS, dy, i)
              .convertShape(F2D, DS, 0);
          DoubleVector gb = (DoubleVector) FloatVector.fromArray(FS, dy, i + L)
              .convertShape(F2D, DS, 0);
          g0 = ga.add(g0);
          d0 = ga.fma(ca, d0);
          c0 = ca.add(c0);
          g1 = gb.add(g1);
          d1 = gb.fma(cb, d1);
          c1 = cb.add(c1);
        }
        DoubleVector.fromArray(DS, acc, 0).add(g0.add(g1)).intoArray(acc, 0);
        DoubleVector.fromArray(DS, acc, L).add(d0.add(d1)).intoArray(acc, L);
        DoubleVector.fromArray(DS, acc, 2 * L).add(c0.add(c1)).intoArray(acc, 2 * L);
      }
      backwardSumsTail(x, dy, start + groups, start + vectors, start + len, pivot, acc);
    }
    out[o] = laneSum(acc, 0);
    out[o + 1] = laneSum(acc, L);
    out[o + 2] = laneSum(acc, 2 * L);
  }

  /**
   * The end of a run of the backward sums in double lanes: whole vectors from {@code from} to
   * {@code vectorsEnd}, then the run's last values up to {@code end} as the end of one more vector
   * whose counted lanes are cleared (see {@link #shiftedSums}), into the scratch lanes.
   */
  private static void backwardSumsTail(float[] x, float[] dy, int from, int vectorsEnd, int end,
      double pivot, double[] acc) {
    for (int i = from; i < vectorsEnd; i += L) {
      DoubleVector c = ((DoubleVector) FloatVector.fromArray(FS, x, i)
          .convertShape(F2D, DS, 0)).sub(DoubleVector.broadcast(DS, pivot));
      DoubleVector g = (DoubleVector) FloatVector.fromArray(FS, dy, i).convertShape(F2D, DS, 0);
      DoubleVector.fromArray(DS, acc, 0).add(g).intoArray(acc, 0);
      g.fma(c, DoubleVector.fromArray(DS, acc, L)).intoArray(acc, L);
      DoubleVector.fromArray(DS, acc, 2 * L).add(c).intoArray(acc, 2 * L);
    }
    if (vectorsEnd < end) {
      final int i = end - L;
      final LongVector keep = LongVector.fromArray(LS, KEEP, end - vectorsEnd);
      DoubleVector c = ((DoubleVector) FloatVector.fromArray(FS, x, i)
          .convertShape(F2D, DS, 0)).sub(DoubleVector.broadcast(DS, pivot)).reinterpretAsLongs()
          .and(keep).reinterpretAsDoubles();
      DoubleVector g = ((DoubleVector) FloatVector.fromArray(FS, dy, i)
          .convertShape(F2D, DS, 0)).reinterpretAsLongs().and(keep).reinterpretAsDoubles();
      DoubleVector.fromArray(DS, acc, 0).add(g).intoArray(acc, 0);
      g.fma(c, DoubleVector.fromArray(DS, acc, L)).intoArray(acc, L);
      DoubleVector.fromArray(DS, acc, 2 * L).add(c).intoArray(acc, 2 * L);
    }
  }

  /**
   * {@link #backwardSums} of runs of at least {@link #FLOAT_GROUP} values in float lanes (four
   * vectors of L a step): c = x - P with P the pivot rounded to float, sum g c and sum c in float
   * over blocks of at most {@link #FLOAT_BLOCK} steps (each lane adds at most that many terms in
   * float), every block's sums then widened and added to the double scratch lanes; sum g in
   * double lanes throughout. The rest of a run (fewer than {@link #FLOAT_GROUP} values) goes
   * through {@link #backwardSumsTail} in double;
   * finally the sums are moved from P to the pivot in double: sum (x - pivot) = sum c + n (P -
   * pivot), sum g (x - pivot) = sum g c + (P - pivot) sum g. A result that is not finite (a float
   * overflow, or an infinity or NaN in the data), or a sum g c too small for float lanes, is left
   * for the caller to redo in double.
   */
  private static void backwardSumsFloat(float[] x, float[] dy, int base, int stride, int planes,
      int len, double pivot, double[] out, int o) {
    final double[] acc = acc();
    final float p32 = (float) pivot;
    final int groups = len - len % FLOAT_GROUP;
    final int vectors = len - len % L;
    for (int p = 0, start = base; p < planes; p++, start += stride) {
      for (int b = start, end = start + groups; b < end; b += FLOAT_BLOCK * FLOAT_GROUP) {
        final FloatVector pv = FloatVector.broadcast(FS, p32);
        DoubleVector g0 = DoubleVector.zero(DS);
        DoubleVector g1 = DoubleVector.zero(DS);
        DoubleVector g2 = DoubleVector.zero(DS);
        DoubleVector g3 = DoubleVector.zero(DS);
        FloatVector d0 = FloatVector.zero(FS);
        FloatVector d1 = FloatVector.zero(FS);
        FloatVector d2 = FloatVector.zero(FS);
        FloatVector d3 = FloatVector.zero(FS);
        FloatVector c0 = FloatVector.zero(FS);
        FloatVector c1 = FloatVector.zero(FS);
        FloatVector c2 = FloatVector.zero(FS);
        FloatVector c3 = FloatVector.zero(FS);
        for (int i = b, blockEnd = Math.min(end, b + FLOAT_BLOCK * FLOAT_GROUP); i < blockEnd;
            i += FLOAT_GROUP) {
          FloatVector ca = FloatVector.fromArray(FS, x, i).sub(pv);
          FloatVector cb = FloatVector.fromArray(FS, x, i + L).sub(pv);
          FloatVector cc = FloatVector.fromArray(FS, x, i + 2 * L).sub(pv);
          FloatVector cd = FloatVector.fromArray(FS, x, i + 3 * L).sub(pv);
          FloatVector ga = FloatVector.fromArray(FS, dy, i);
          FloatVector gb = FloatVector.fromArray(FS, dy, i + L);
          FloatVector gc = FloatVector.fromArray(FS, dy, i + 2 * L);
          FloatVector gd = FloatVector.fromArray(FS, dy, i + 3 * L);
          g0 = ((DoubleVector) ga.convertShape(F2D, DS, 0)).add(g0);
          d0 = ga.fma(ca, d0);
          c0 = ca.add(c0);
          g1 = ((DoubleVector) gb.convertShape(F2D, DS, 0)).add(g1);
          d1 = gb.fma(cb, d1);
          c1 = cb.add(c1);
          g2 = ((DoubleVector) gc.convertShape(F2D, DS, 0)).add(g2);
          d2 = gc.fma(cc, d2);
          c2 = cc.add(c2);
          g3 = ((DoubleVector) gd.convertShape(F2D, DS, 0)).add(g3);
          d3 = gd.fma(cd, d3);
          c3 = cd.add(c3);
        }
        DoubleVector.fromArray(DS, acc, 0).add(g0.add(g1).add(g2.add(g3))).intoArray(acc, 0);
        DoubleVector.fromArray(DS, acc, L).add((DoubleVector) d0.add(d1).add(d2.add(d3))
            .convertShape(F2D, DS, 0)).intoArray(acc, L);
        DoubleVector.fromArray(DS, acc, 2 * L).add((DoubleVector) c0.add(c1).add(c2.add(c3))
            .convertShape(F2D, DS, 0)).intoArray(acc, 2 * L);
      }
      backwardSumsTail(x, dy, start + groups, start + vectors, start + len, p32, acc);
    }
    writeBackwardSums(out, o, laneSum(acc, 0), laneSum(acc, L), laneSum(acc, 2 * L), p32, pivot,
        planes, len);
  }

  @Override
  void backwardDx(float[] x, float[] dy, float[] reluOutput, float[] dx, int base, int stride,
      int planes, int len, double mean, double meanDy, double k, double scale) {
    final double xs = dxSlope(k, scale);
    final double c = dxOffset(mean, meanDy, k, scale);
    for (int p = 0, start = base; p < planes; p++, start += stride) {
      if (reluOutput != null) {
        backwardDxRunMasked(x, dy, reluOutput, dx, start, len, xs, c, scale);
      } else {
        backwardDxRun(x, dy, dx, start, len, xs, c, scale);
      }
    }
  }

  @Override
  void backwardDxRows(float[] x, float[] dy, float[] reluOutput, float[] dx, int base, int rows,
      int channels, int len, double[] mean, double[] meanDy, double[] k, double[] scale) {
    if (reluOutput != null) {
      if (len == 1 && channels >= L) {
        backwardDxMatrixRowsMasked(x, dy, reluOutput, dx, base, rows, channels, mean, meanDy, k,
            scale);
        return;
      }
      if (len < L) {
        backwardDxFlatMasked(x, dy, reluOutput, dx, base, rows, channels, len, mean, meanDy, k,
            scale);
        return;
      }
      for (int r = 0, start = base; r < rows; r++) {
        for (int ch = 0; ch < channels; ch++, start += len) {
          backwardDxRunMasked(x, dy, reluOutput, dx, start, len, dxSlope(k[ch], scale[ch]),
              dxOffset(mean[ch], meanDy[ch], k[ch], scale[ch]), scale[ch]);
        }
      }
      return;
    }
    if (len == 1 && channels >= L) {
      backwardDxMatrixRows(x, dy, dx, base, rows, channels, mean, meanDy, k, scale);
      return;
    }
    if (len < L) {
      backwardDxFlat(x, dy, dx, base, rows, channels, len, mean, meanDy, k, scale);
      return;
    }
    for (int r = 0, start = base; r < rows; r++) {
      for (int ch = 0; ch < channels; ch++, start += len) {
        backwardDxRun(x, dy, dx, start, len, dxSlope(k[ch], scale[ch]),
            dxOffset(mean[ch], meanDy[ch], k[ch], scale[ch]), scale[ch]);
      }
    }
  }

  // dx = scale * (dy - meanDy - (x - mean) * k) = dy * scale + (x * (-k * scale) + c) with
  // c = (mean * k - meanDy) * scale: two fmas in double; as for normalize, the folding costs
  // ~1e-16 relative, far below float resolution, and dx is rounded to float once.

  private static double dxSlope(double k, double scale) {
    return -k * scale;
  }

  private static double dxOffset(double mean, double meanDy, double k, double scale) {
    return (mean * k - meanDy) * scale;
  }

  /** {@code dx = (float) fma(dy, scale, fma(x, xs, c))} over one run of {@code len} floats. */
  private static void backwardDxRun(float[] x, float[] dy, float[] dx, int start, int len,
      double xs, double c, double scale) {
    final int vectors = len - len % L;
    if (vectors > 0) {
      final DoubleVector xv = DoubleVector.broadcast(DS, xs);
      final DoubleVector cv = DoubleVector.broadcast(DS, c);
      final DoubleVector sv = DoubleVector.broadcast(DS, scale);
      for (int i = start, end = start + vectors; i < end; i += L) {
        DoubleVector v = (DoubleVector) FloatVector.fromArray(FS, x, i).convertShape(F2D, DS, 0);
        DoubleVector g = (DoubleVector) FloatVector.fromArray(FS, dy, i).convertShape(F2D, DS, 0);
        DoubleVector result = g.fma(sv, v.fma(xv, cv));
        ((FloatVector) result.convertShape(D2F, FS, 0)).intoArray(dx, i);
      }
    }
    if (vectors == len) {
      return;
    }
    if (vectors > 0 && dx != x && dx != dy) { // see normalizeRun
      final int i = start + len - L;
      DoubleVector v = (DoubleVector) FloatVector.fromArray(FS, x, i).convertShape(F2D, DS, 0);
      DoubleVector g = (DoubleVector) FloatVector.fromArray(FS, dy, i).convertShape(F2D, DS, 0);
      DoubleVector result = g.fma(DoubleVector.broadcast(DS, scale),
          v.fma(DoubleVector.broadcast(DS, xs), DoubleVector.broadcast(DS, c)));
      ((FloatVector) result.convertShape(D2F, FS, 0)).intoArray(dx, i);
    } else {
      for (int i = start + vectors, end = start + len; i < end; i++) {
        dx[i] = (float) Math.fma(dy[i], scale, Math.fma(x[i], xs, c));
      }
    }
  }

  @Override
  void scaleGrad(float[] x, float[] dy, float[] reluOutput, float[] dx, int base, int stride,
      int planes, int len, double center, double scale, boolean sums, double[] out, int o) {
    if (reluOutput != null) {
      scaleGradMasked(x, dy, reluOutput, dx, base, stride, planes, len, center, scale, sums, out,
          o);
      return;
    }
    final int vectors = len - len % L;
    if (!sums) {
      for (int p = 0, start = base; p < planes; p++, start += stride) {
        if (vectors > 0) {
          final DoubleVector sv = DoubleVector.broadcast(DS, scale);
          for (int i = start, end = start + vectors; i < end; i += L) {
            DoubleVector g = (DoubleVector) FloatVector.fromArray(FS, dy, i)
                .convertShape(F2D, DS, 0);
            ((FloatVector) g.mul(sv).convertShape(D2F, FS, 0)).intoArray(dx, i);
          }
        }
        for (int i = start + vectors, end = start + len; i < end; i++) {
          dx[i] = (float) (dy[i] * scale);
        }
      }
      return;
    }
    final double[] acc = acc();
    double tg = 0;
    double td = 0;
    for (int p = 0, start = base; p < planes; p++, start += stride) {
      if (vectors > 0) {
        final DoubleVector sv = DoubleVector.broadcast(DS, scale);
        final DoubleVector cv = DoubleVector.broadcast(DS, center);
        DoubleVector g0 = DoubleVector.zero(DS);
        DoubleVector d0 = DoubleVector.zero(DS);
        for (int i = start, end = start + vectors; i < end; i += L) {
          DoubleVector g = (DoubleVector) FloatVector.fromArray(FS, dy, i)
              .convertShape(F2D, DS, 0);
          g0 = g.add(g0);
          DoubleVector v = (DoubleVector) FloatVector.fromArray(FS, x, i)
              .convertShape(F2D, DS, 0);
          d0 = g.fma(v.sub(cv), d0);
          ((FloatVector) g.mul(sv).convertShape(D2F, FS, 0)).intoArray(dx, i);
        }
        DoubleVector.fromArray(DS, acc, 0).add(g0).intoArray(acc, 0);
        DoubleVector.fromArray(DS, acc, L).add(d0).intoArray(acc, L);
      }
      for (int e = start + vectors, end = start + len; e < end; e++) {
        double g = dy[e];
        tg += g;
        td = Math.fma(g, x[e] - center, td);
        dx[e] = (float) (g * scale);
      }
    }
    out[o] = laneSum(acc, 0) + tg;
    out[o + 1] = laneSum(acc, L) + td;
  }

  /**
   * Short runs (7 x 7 = 49 values, say): all the runs' whole vectors in ONE flat loop, the index
   * jumping to the next run after a run's last vector by branch-free arithmetic, so that a run
   * costs no set-up of its own; then the last vectors that do not fill a group, and the runs'
   * tails, in scalar.
   */
  private static void shiftedSumsFlat(float[] x, int base, int stride, int planes, int len,
      double shift, double[] out, int o) {
    final int perPlane = len / L;
    final int vectors = perPlane * planes;
    final int jump = stride - perPlane * L;
    final DoubleVector k = DoubleVector.broadcast(DS, shift);
    DoubleVector s0 = DoubleVector.zero(DS);
    DoubleVector s1 = DoubleVector.zero(DS);
    DoubleVector s2 = DoubleVector.zero(DS);
    DoubleVector s3 = DoubleVector.zero(DS);
    DoubleVector q0 = DoubleVector.zero(DS);
    DoubleVector q1 = DoubleVector.zero(DS);
    DoubleVector q2 = DoubleVector.zero(DS);
    DoubleVector q3 = DoubleVector.zero(DS);
    int i = base;
    int run = 0;
    for (int group = vectors >> 2; group > 0; group--) {
      int i0 = i;
      int next = run + 1;
      int wrap = ((next - perPlane) >> 31) + 1;
      i += L + (jump & -wrap);
      run = next & (wrap - 1);
      int i1 = i;
      next = run + 1;
      wrap = ((next - perPlane) >> 31) + 1;
      i += L + (jump & -wrap);
      run = next & (wrap - 1);
      int i2 = i;
      next = run + 1;
      wrap = ((next - perPlane) >> 31) + 1;
      i += L + (jump & -wrap);
      run = next & (wrap - 1);
      int i3 = i;
      next = run + 1;
      wrap = ((next - perPlane) >> 31) + 1;
      i += L + (jump & -wrap);
      run = next & (wrap - 1);
      DoubleVector a = ((DoubleVector) FloatVector.fromArray(FS, x, i0)
          .convertShape(F2D, DS, 0)).sub(k);
      DoubleVector b = ((DoubleVector) FloatVector.fromArray(FS, x, i1)
          .convertShape(F2D, DS, 0)).sub(k);
      DoubleVector c = ((DoubleVector) FloatVector.fromArray(FS, x, i2)
          .convertShape(F2D, DS, 0)).sub(k);
      DoubleVector d = ((DoubleVector) FloatVector.fromArray(FS, x, i3)
          .convertShape(F2D, DS, 0)).sub(k);
      s0 = a.add(s0);
      q0 = a.fma(a, q0);
      s1 = b.add(s1);
      q1 = b.fma(b, q1);
      s2 = c.add(s2);
      q2 = c.fma(c, q2);
      s3 = d.add(s3);
      q3 = d.fma(d, q3);
    }
    double ts = 0;
    double tq = 0;
    // The last vectors % 4 vectors, then the runs' tails, in scalar.
    for (int r = vectors & 3; r > 0; r--) {
      for (int e = i; e < i + L; e++) {
        double a = x[e] - shift;
        ts += a;
        tq = Math.fma(a, a, tq);
      }
      int next = run + 1;
      int wrap = ((next - perPlane) >> 31) + 1;
      i += L + (jump & -wrap);
      run = next & (wrap - 1);
    }
    if (len != perPlane * L) {
      for (int p = 0, start = base + perPlane * L; p < planes; p++, start += stride) {
        for (int e = start, end = start - perPlane * L + len; e < end; e++) {
          double a = x[e] - shift;
          ts += a;
          tq = Math.fma(a, a, tq);
        }
      }
    }
    DoubleVector v0 = s0.add(s1).add(s2.add(s3));
    out[o] = v0.lane(0) + v0.lane(1) + v0.lane(2) + v0.lane(3)
        + (L == 8 ? v0.lane(4) + v0.lane(5) + v0.lane(6) + v0.lane(7) : 0.0) + ts;
    DoubleVector v1 = q0.add(q1).add(q2.add(q3));
    out[o + 1] = v1.lane(0) + v1.lane(1) + v1.lane(2) + v1.lane(3)
        + (L == 8 ? v1.lane(4) + v1.lane(5) + v1.lane(6) + v1.lane(7) : 0.0) + tq;
  }

  /** Short runs, as {@link #shiftedSumsFlat}. */
  private static void backwardSumsFlat(float[] x, float[] dy, int base, int stride, int planes,
      int len, double pivot, double[] out, int o) {
    final int perPlane = len / L;
    final int vectors = perPlane * planes;
    final int jump = stride - perPlane * L;
    final DoubleVector pv = DoubleVector.broadcast(DS, pivot);
    DoubleVector g0 = DoubleVector.zero(DS);
    DoubleVector g1 = DoubleVector.zero(DS);
    DoubleVector d0 = DoubleVector.zero(DS);
    DoubleVector d1 = DoubleVector.zero(DS);
    DoubleVector c0 = DoubleVector.zero(DS);
    DoubleVector c1 = DoubleVector.zero(DS);
    int i = base;
    int run = 0;
    for (int group = vectors >> 1; group > 0; group--) {
      int i0 = i;
      int next = run + 1;
      int wrap = ((next - perPlane) >> 31) + 1;
      i += L + (jump & -wrap);
      run = next & (wrap - 1);
      int i1 = i;
      next = run + 1;
      wrap = ((next - perPlane) >> 31) + 1;
      i += L + (jump & -wrap);
      run = next & (wrap - 1);
      DoubleVector ca = ((DoubleVector) FloatVector.fromArray(FS, x, i0)
          .convertShape(F2D, DS, 0)).sub(pv);
      DoubleVector cb = ((DoubleVector) FloatVector.fromArray(FS, x, i1)
          .convertShape(F2D, DS, 0)).sub(pv);
      DoubleVector ga = (DoubleVector) FloatVector.fromArray(FS, dy, i0).convertShape(F2D, DS, 0);
      DoubleVector gb = (DoubleVector) FloatVector.fromArray(FS, dy, i1).convertShape(F2D, DS, 0);
      g0 = ga.add(g0);
      d0 = ga.fma(ca, d0);
      c0 = ca.add(c0);
      g1 = gb.add(g1);
      d1 = gb.fma(cb, d1);
      c1 = cb.add(c1);
    }
    double tg = 0;
    double td = 0;
    double tc = 0;
    if ((vectors & 1) != 0) {
      for (int e = i; e < i + L; e++) {
        double c = x[e] - pivot;
        double g = dy[e];
        tg += g;
        td = Math.fma(g, c, td);
        tc += c;
      }
    }
    if (len != perPlane * L) {
      for (int p = 0, start = base + perPlane * L; p < planes; p++, start += stride) {
        for (int e = start, end = start - perPlane * L + len; e < end; e++) {
          double c = x[e] - pivot;
          double g = dy[e];
          tg += g;
          td = Math.fma(g, c, td);
          tc += c;
        }
      }
    }
    DoubleVector v0 = g0.add(g1);
    out[o] = v0.lane(0) + v0.lane(1) + v0.lane(2) + v0.lane(3)
        + (L == 8 ? v0.lane(4) + v0.lane(5) + v0.lane(6) + v0.lane(7) : 0.0) + tg;
    DoubleVector v1 = d0.add(d1);
    out[o + 1] = v1.lane(0) + v1.lane(1) + v1.lane(2) + v1.lane(3)
        + (L == 8 ? v1.lane(4) + v1.lane(5) + v1.lane(6) + v1.lane(7) : 0.0) + td;
    DoubleVector v2 = c0.add(c1);
    out[o + 2] = v2.lane(0) + v2.lane(1) + v2.lane(2) + v2.lane(3)
        + (L == 8 ? v2.lane(4) + v2.lane(5) + v2.lane(6) + v2.lane(7) : 0.0) + tc;
  }

  // ---- The backward through a fused ReLU: g = y <= 0 ? 0 : dy, y the forward's output. Each
  // kernel loads y next to dy and clears the lanes of dy where y <= 0 (a blend, in float, before
  // widening: exactly the scalar rule, a NaN y passing dy). Their own loops, one accumulator set
  // per run and scalar tails, so that the plain kernels keep no extra instruction.

  /** {@link #backwardSums} with the ReLU mask. */
  private static void backwardSumsMasked(float[] x, float[] dy, float[] y, int base, int stride,
      int planes, int len, double pivot, double[] out, int o) {
    final double[] acc = acc();
    final int vectors = len - len % L;
    double tg = 0;
    double td = 0;
    double tc = 0;
    for (int p = 0, start = base; p < planes; p++, start += stride) {
      if (vectors > 0) {
        final DoubleVector pv = DoubleVector.broadcast(DS, pivot);
        DoubleVector g0 = DoubleVector.zero(DS);
        DoubleVector d0 = DoubleVector.zero(DS);
        DoubleVector c0 = DoubleVector.zero(DS);
        for (int i = start, end = start + vectors; i < end; i += L) {
          DoubleVector c = ((DoubleVector) FloatVector.fromArray(FS, x, i)
              .convertShape(F2D, DS, 0)).sub(pv);
          DoubleVector g = (DoubleVector) FloatVector.fromArray(FS, dy, i)
              .blend(0f, FloatVector.fromArray(FS, y, i).compare(LE, 0f))
              .convertShape(F2D, DS, 0);
          g0 = g.add(g0);
          d0 = g.fma(c, d0);
          c0 = c.add(c0);
        }
        DoubleVector.fromArray(DS, acc, 0).add(g0).intoArray(acc, 0);
        DoubleVector.fromArray(DS, acc, L).add(d0).intoArray(acc, L);
        DoubleVector.fromArray(DS, acc, 2 * L).add(c0).intoArray(acc, 2 * L);
      }
      for (int e = start + vectors, end = start + len; e < end; e++) {
        double c = x[e] - pivot;
        double g = y[e] <= 0f ? 0.0 : dy[e];
        tg += g;
        td = Math.fma(g, c, td);
        tc += c;
      }
    }
    out[o] = laneSum(acc, 0) + tg;
    out[o + 1] = laneSum(acc, L) + td;
    out[o + 2] = laneSum(acc, 2 * L) + tc;
  }

  /**
   * {@link #backwardSumsAcross} for one value per plane with the ReLU mask: as the plain kernel,
   * groups of 2 L channels keep their sums in registers down a tile of rows, the remaining channels
   * in scratch.
   */
  private static void backwardSumsMatrixMasked(float[] x, float[] dy, float[] y, int r0, int r1,
      int channels, int c0, int c1, double[] pivot, double[] out, int o, int outStride) {
    final int width = c1 - c0;
    final double[] acc = matrixScratch(3 * width); // sum g, sum g * c, sum c
    final int d = width;
    final int s = 2 * width;
    final int quads = width - width % (4 * L);
    final int groups = width - width % (2 * L);
    final int vectors = width - width % L;
    final int tileRows = Math.max(8, MATRIX_TILE / channels);
    for (int t0 = r0; t0 < r1; t0 += tileRows) {
      final int t1 = Math.min(r1, t0 + tileRows);
      // Groups of 4 L channels: twelve sums in registers down the tile's rows.
      for (int j = 0; j < quads; j += 4 * L) {
        final DoubleVector p0 = DoubleVector.fromArray(DS, pivot, c0 + j);
        final DoubleVector p1 = DoubleVector.fromArray(DS, pivot, c0 + j + L);
        final DoubleVector p2 = DoubleVector.fromArray(DS, pivot, c0 + j + 2 * L);
        final DoubleVector p3 = DoubleVector.fromArray(DS, pivot, c0 + j + 3 * L);
        DoubleVector g0 = DoubleVector.fromArray(DS, acc, j);
        DoubleVector g1 = DoubleVector.fromArray(DS, acc, j + L);
        DoubleVector g2 = DoubleVector.fromArray(DS, acc, j + 2 * L);
        DoubleVector g3 = DoubleVector.fromArray(DS, acc, j + 3 * L);
        DoubleVector d0 = DoubleVector.fromArray(DS, acc, d + j);
        DoubleVector d1 = DoubleVector.fromArray(DS, acc, d + j + L);
        DoubleVector d2 = DoubleVector.fromArray(DS, acc, d + j + 2 * L);
        DoubleVector d3 = DoubleVector.fromArray(DS, acc, d + j + 3 * L);
        DoubleVector e0 = DoubleVector.fromArray(DS, acc, s + j);
        DoubleVector e1 = DoubleVector.fromArray(DS, acc, s + j + L);
        DoubleVector e2 = DoubleVector.fromArray(DS, acc, s + j + 2 * L);
        DoubleVector e3 = DoubleVector.fromArray(DS, acc, s + j + 3 * L);
        for (int r = t0, i = t0 * channels + c0 + j; r < t1; r++, i += channels) {
          DoubleVector ca = ((DoubleVector) FloatVector.fromArray(FS, x, i)
              .convertShape(F2D, DS, 0)).sub(p0);
          DoubleVector ga = (DoubleVector) FloatVector.fromArray(FS, dy, i)
              .blend(0f, FloatVector.fromArray(FS, y, i).compare(LE, 0f))
              .convertShape(F2D, DS, 0);
          g0 = ga.add(g0);
          d0 = ga.fma(ca, d0);
          e0 = ca.add(e0);
          DoubleVector cb = ((DoubleVector) FloatVector.fromArray(FS, x, i + L)
              .convertShape(F2D, DS, 0)).sub(p1);
          DoubleVector gb = (DoubleVector) FloatVector.fromArray(FS, dy, i + L)
              .blend(0f, FloatVector.fromArray(FS, y, i + L).compare(LE, 0f))
              .convertShape(F2D, DS, 0);
          g1 = gb.add(g1);
          d1 = gb.fma(cb, d1);
          e1 = cb.add(e1);
          DoubleVector cc = ((DoubleVector) FloatVector.fromArray(FS, x, i + 2 * L)
              .convertShape(F2D, DS, 0)).sub(p2);
          DoubleVector gc = (DoubleVector) FloatVector.fromArray(FS, dy, i + 2 * L)
              .blend(0f, FloatVector.fromArray(FS, y, i + 2 * L).compare(LE, 0f))
              .convertShape(F2D, DS, 0);
          g2 = gc.add(g2);
          d2 = gc.fma(cc, d2);
          e2 = cc.add(e2);
          DoubleVector cd = ((DoubleVector) FloatVector.fromArray(FS, x, i + 3 * L)
              .convertShape(F2D, DS, 0)).sub(p3);
          DoubleVector gd = (DoubleVector) FloatVector.fromArray(FS, dy, i + 3 * L)
              .blend(0f, FloatVector.fromArray(FS, y, i + 3 * L).compare(LE, 0f))
              .convertShape(F2D, DS, 0);
          g3 = gd.add(g3);
          d3 = gd.fma(cd, d3);
          e3 = cd.add(e3);
        }
        g0.intoArray(acc, j);
        g1.intoArray(acc, j + L);
        g2.intoArray(acc, j + 2 * L);
        g3.intoArray(acc, j + 3 * L);
        d0.intoArray(acc, d + j);
        d1.intoArray(acc, d + j + L);
        d2.intoArray(acc, d + j + 2 * L);
        d3.intoArray(acc, d + j + 3 * L);
        e0.intoArray(acc, s + j);
        e1.intoArray(acc, s + j + L);
        e2.intoArray(acc, s + j + 2 * L);
        e3.intoArray(acc, s + j + 3 * L);
      }
      for (int j = quads; j < groups; j += 2 * L) {
        final DoubleVector p0 = DoubleVector.fromArray(DS, pivot, c0 + j);
        final DoubleVector p1 = DoubleVector.fromArray(DS, pivot, c0 + j + L);
        DoubleVector g0 = DoubleVector.fromArray(DS, acc, j);
        DoubleVector g1 = DoubleVector.fromArray(DS, acc, j + L);
        DoubleVector d0 = DoubleVector.fromArray(DS, acc, d + j);
        DoubleVector d1 = DoubleVector.fromArray(DS, acc, d + j + L);
        DoubleVector e0 = DoubleVector.fromArray(DS, acc, s + j);
        DoubleVector e1 = DoubleVector.fromArray(DS, acc, s + j + L);
        for (int r = t0, i = t0 * channels + c0 + j; r < t1; r++, i += channels) {
          DoubleVector ca = ((DoubleVector) FloatVector.fromArray(FS, x, i)
              .convertShape(F2D, DS, 0)).sub(p0);
          DoubleVector cb = ((DoubleVector) FloatVector.fromArray(FS, x, i + L)
              .convertShape(F2D, DS, 0)).sub(p1);
          DoubleVector ga = (DoubleVector) FloatVector.fromArray(FS, dy, i)
              .blend(0f, FloatVector.fromArray(FS, y, i).compare(LE, 0f))
              .convertShape(F2D, DS, 0);
          DoubleVector gb = (DoubleVector) FloatVector.fromArray(FS, dy, i + L)
              .blend(0f, FloatVector.fromArray(FS, y, i + L).compare(LE, 0f))
              .convertShape(F2D, DS, 0);
          g0 = ga.add(g0);
          d0 = ga.fma(ca, d0);
          e0 = ca.add(e0);
          g1 = gb.add(g1);
          d1 = gb.fma(cb, d1);
          e1 = cb.add(e1);
        }
        g0.intoArray(acc, j);
        g1.intoArray(acc, j + L);
        d0.intoArray(acc, d + j);
        d1.intoArray(acc, d + j + L);
        e0.intoArray(acc, s + j);
        e1.intoArray(acc, s + j + L);
      }
      for (int r = t0, row = t0 * channels + c0; r < t1; r++, row += channels) {
        for (int j = groups; j < vectors; j += L) {
          DoubleVector c = ((DoubleVector) FloatVector.fromArray(FS, x, row + j)
              .convertShape(F2D, DS, 0)).sub(DoubleVector.fromArray(DS, pivot, c0 + j));
          DoubleVector g = (DoubleVector) FloatVector.fromArray(FS, dy, row + j)
              .blend(0f, FloatVector.fromArray(FS, y, row + j).compare(LE, 0f))
              .convertShape(F2D, DS, 0);
          DoubleVector.fromArray(DS, acc, j).add(g).intoArray(acc, j);
          g.fma(c, DoubleVector.fromArray(DS, acc, d + j)).intoArray(acc, d + j);
          DoubleVector.fromArray(DS, acc, s + j).add(c).intoArray(acc, s + j);
        }
        for (int j = vectors; j < width; j++) {
          double c = x[row + j] - pivot[c0 + j];
          double g = y[row + j] <= 0f ? 0.0 : dy[row + j];
          acc[j] += g;
          acc[d + j] = Math.fma(g, c, acc[d + j]);
          acc[s + j] += c;
        }
      }
    }
    writeSums(acc, width, 3, out, o, c0, outStride);
  }

  /** {@link #backwardDxRun} with the ReLU mask; the tail in scalar. */
  private static void backwardDxRunMasked(float[] x, float[] dy, float[] y, float[] dx, int start,
      int len, double xs, double c, double scale) {
    final int vectors = len - len % L;
    if (vectors > 0) {
      final DoubleVector xv = DoubleVector.broadcast(DS, xs);
      final DoubleVector cv = DoubleVector.broadcast(DS, c);
      final DoubleVector sv = DoubleVector.broadcast(DS, scale);
      for (int i = start, end = start + vectors; i < end; i += L) {
        DoubleVector v = (DoubleVector) FloatVector.fromArray(FS, x, i).convertShape(F2D, DS, 0);
        DoubleVector g = (DoubleVector) FloatVector.fromArray(FS, dy, i)
            .blend(0f, FloatVector.fromArray(FS, y, i).compare(LE, 0f))
            .convertShape(F2D, DS, 0);
        DoubleVector result = g.fma(sv, v.fma(xv, cv));
        ((FloatVector) result.convertShape(D2F, FS, 0)).intoArray(dx, i);
      }
    }
    for (int i = start + vectors, end = start + len; i < end; i++) {
      double g = y[i] <= 0f ? 0.0 : dy[i];
      dx[i] = (float) Math.fma(g, scale, Math.fma(x[i], xs, c));
    }
  }

  /**
   * {@link #backwardDxRows} with the ReLU mask for planes shorter than a vector (one value for
   * channels-last data), as one flat block with repeated constants, as {@link #backwardDxFlat}.
   */
  private static void backwardDxFlatMasked(float[] x, float[] dy, float[] y, float[] dx, int base,
      int rows, int channels, int len, double[] mean, double[] meanDy, double[] k,
      double[] scale) {
    final int row = channels * len;
    final int width = row + L;
    final double[] constants = matrixScratch(3 * width); // slopes, offsets, scales, repeated
    for (int i = 0; i < width; i++) {
      int c = i % row / len;
      constants[i] = dxSlope(k[c], scale[c]);
      constants[width + i] = dxOffset(mean[c], meanDy[c], k[c], scale[c]);
      constants[2 * width + i] = scale[c];
    }
    final int end = base + rows * row;
    int at = 0;
    int i = base;
    for (; i <= end - L; i += L) {
      DoubleVector inner = ((DoubleVector) FloatVector.fromArray(FS, x, i)
          .convertShape(F2D, DS, 0)).fma(DoubleVector.fromArray(DS, constants, at),
          DoubleVector.fromArray(DS, constants, width + at));
      DoubleVector g = (DoubleVector) FloatVector.fromArray(FS, dy, i)
          .blend(0f, FloatVector.fromArray(FS, y, i).compare(LE, 0f))
          .convertShape(F2D, DS, 0);
      DoubleVector result = g.fma(DoubleVector.fromArray(DS, constants, 2 * width + at), inner);
      ((FloatVector) result.convertShape(D2F, FS, 0)).intoArray(dx, i);
      at = afterVector(at, row);
    }
    for (; i < end; i++, at = at + 1 == row ? 0 : at + 1) {
      double g = y[i] <= 0f ? 0.0 : dy[i];
      dx[i] = (float) Math.fma(g, constants[2 * width + at],
          Math.fma(x[i], constants[at], constants[width + at]));
    }
  }

  /** {@link #scaleGrad} with the ReLU mask. */
  private static void scaleGradMasked(float[] x, float[] dy, float[] y, float[] dx, int base,
      int stride, int planes, int len, double center, double scale, boolean sums, double[] out,
      int o) {
    final double[] acc = acc();
    final int vectors = len - len % L;
    double tg = 0;
    double td = 0;
    for (int p = 0, start = base; p < planes; p++, start += stride) {
      if (vectors > 0 && sums) {
        final DoubleVector sv = DoubleVector.broadcast(DS, scale);
        final DoubleVector cv = DoubleVector.broadcast(DS, center);
        DoubleVector g0 = DoubleVector.zero(DS);
        DoubleVector d0 = DoubleVector.zero(DS);
        for (int i = start, end = start + vectors; i < end; i += L) {
          DoubleVector g = (DoubleVector) FloatVector.fromArray(FS, dy, i)
              .blend(0f, FloatVector.fromArray(FS, y, i).compare(LE, 0f))
              .convertShape(F2D, DS, 0);
          g0 = g.add(g0);
          DoubleVector v = (DoubleVector) FloatVector.fromArray(FS, x, i)
              .convertShape(F2D, DS, 0);
          d0 = g.fma(v.sub(cv), d0);
          ((FloatVector) g.mul(sv).convertShape(D2F, FS, 0)).intoArray(dx, i);
        }
        DoubleVector.fromArray(DS, acc, 0).add(g0).intoArray(acc, 0);
        DoubleVector.fromArray(DS, acc, L).add(d0).intoArray(acc, L);
      } else if (vectors > 0) {
        final DoubleVector sv = DoubleVector.broadcast(DS, scale);
        for (int i = start, end = start + vectors; i < end; i += L) {
          DoubleVector g = (DoubleVector) FloatVector.fromArray(FS, dy, i)
              .blend(0f, FloatVector.fromArray(FS, y, i).compare(LE, 0f))
              .convertShape(F2D, DS, 0);
          ((FloatVector) g.mul(sv).convertShape(D2F, FS, 0)).intoArray(dx, i);
        }
      }
      for (int e = start + vectors, end = start + len; e < end; e++) {
        double g = y[e] <= 0f ? 0.0 : dy[e];
        if (sums) {
          tg += g;
          td = Math.fma(g, x[e] - center, td);
        }
        dx[e] = (float) (g * scale);
      }
    }
    if (sums) {
      out[o] = laneSum(acc, 0) + tg;
      out[o + 1] = laneSum(acc, L) + td;
    }
  }

  /** {@link #scaleGradAcross} for one value per plane with the ReLU mask. */
  private static void scaleGradMatrixMasked(float[] x, float[] dy, float[] y, float[] dx, int r0,
      int r1, int channels, int c0, int c1, double[] center, double[] scale, double[] out, int o,
      int outStride) {
    final int width = c1 - c0;
    final double[] acc = matrixScratch(2 * width); // sum g, sum g * (x - center)
    final int vectors = width - width % L;
    for (int r = r0, row = r0 * channels + c0; r < r1; r++, row += channels) {
      for (int j = 0; j < vectors; j += L) {
        DoubleVector g = (DoubleVector) FloatVector.fromArray(FS, dy, row + j)
            .blend(0f, FloatVector.fromArray(FS, y, row + j).compare(LE, 0f))
            .convertShape(F2D, DS, 0);
        DoubleVector c = ((DoubleVector) FloatVector.fromArray(FS, x, row + j)
            .convertShape(F2D, DS, 0)).sub(DoubleVector.fromArray(DS, center, c0 + j));
        DoubleVector.fromArray(DS, acc, j).add(g).intoArray(acc, j);
        g.fma(c, DoubleVector.fromArray(DS, acc, width + j)).intoArray(acc, width + j);
        DoubleVector result = g.mul(DoubleVector.fromArray(DS, scale, c0 + j));
        ((FloatVector) result.convertShape(D2F, FS, 0)).intoArray(dx, row + j);
      }
      for (int j = vectors; j < width; j++) {
        double g = y[row + j] <= 0f ? 0.0 : dy[row + j];
        acc[j] += g;
        acc[width + j] = Math.fma(g, x[row + j] - center[c0 + j], acc[width + j]);
        dx[row + j] = (float) (g * scale[c0 + j]);
      }
    }
    writeSums(acc, width, 2, out, o, c0, outStride);
  }

  /** {@link #scaleGradRows} with the ReLU mask for planes shorter than a vector, flat. */
  private static void scaleGradFlatMasked(float[] dy, float[] y, float[] dx, int base, int rows,
      int channels, int len, double[] scale) {
    final int row = channels * len;
    final int width = row + L;
    final double[] constants = matrixScratch(width); // scales, repeated
    for (int i = 0; i < width; i++) {
      constants[i] = scale[i % row / len];
    }
    final int end = base + rows * row;
    int at = 0;
    int i = base;
    for (; i <= end - L; i += L) {
      DoubleVector g = (DoubleVector) FloatVector.fromArray(FS, dy, i)
          .blend(0f, FloatVector.fromArray(FS, y, i).compare(LE, 0f))
          .convertShape(F2D, DS, 0);
      DoubleVector result = g.mul(DoubleVector.fromArray(DS, constants, at));
      ((FloatVector) result.convertShape(D2F, FS, 0)).intoArray(dx, i);
      at = afterVector(at, row);
    }
    for (; i < end; i++, at = at + 1 == row ? 0 : at + 1) {
      double g = y[i] <= 0f ? 0.0 : dy[i];
      dx[i] = (float) (g * constants[at]);
    }
  }

  /** {@link #backwardDxRows} with the ReLU mask for one value per plane and at least L channels. */
  private static void backwardDxMatrixRowsMasked(float[] x, float[] dy, float[] y, float[] dx,
      int base, int rows, int channels, double[] mean, double[] meanDy, double[] k,
      double[] scale) {
    final double[] folded = matrixScratch(2 * channels); // slopes, then offsets
    for (int c = 0; c < channels; c++) {
      folded[c] = dxSlope(k[c], scale[c]);
      folded[channels + c] = dxOffset(mean[c], meanDy[c], k[c], scale[c]);
    }
    final int vectors = channels - channels % L;
    for (int r = 0, row = base; r < rows; r++, row += channels) {
      for (int c = 0; c < vectors; c += L) {
        DoubleVector inner = ((DoubleVector) FloatVector.fromArray(FS, x, row + c)
            .convertShape(F2D, DS, 0)).fma(DoubleVector.fromArray(DS, folded, c),
            DoubleVector.fromArray(DS, folded, channels + c));
        DoubleVector g = (DoubleVector) FloatVector.fromArray(FS, dy, row + c)
            .blend(0f, FloatVector.fromArray(FS, y, row + c).compare(LE, 0f))
            .convertShape(F2D, DS, 0);
        DoubleVector result = g.fma(DoubleVector.fromArray(DS, scale, c), inner);
        ((FloatVector) result.convertShape(D2F, FS, 0)).intoArray(dx, row + c);
      }
      for (int c = vectors; c < channels; c++) {
        double g = y[row + c] <= 0f ? 0.0 : dy[row + c];
        dx[row + c] = (float) Math.fma(g, scale[c],
            Math.fma(x[row + c], folded[c], folded[channels + c]));
      }
    }
  }
}
