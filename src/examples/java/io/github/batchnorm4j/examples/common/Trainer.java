package io.github.batchnorm4j.examples.common;

import io.github.batchnorm4j.Tensor;
import io.github.batchnorm4j.examples.data.Mnist;
import io.github.batchnorm4j.examples.nn.Param;
import io.github.batchnorm4j.examples.nn.Sgd;
import io.github.batchnorm4j.examples.nn.SmallCnn;
import io.github.batchnorm4j.examples.nn.SoftmaxCrossEntropy;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * The training loop shared by the demo and the examples: mini-batch SGD with momentum on MNIST,
 * with a test evaluation (in eval mode) after every epoch.
 *
 * <p>The order of the training images comes from its own random generator seeded with
 * {@link Config#seed()}, so two runs with the same seed see exactly the same batches in the same
 * order, whatever the network.
 */
public final class Trainer {

  private Trainer() {}

  /** What to train with. */
  public record Config(int epochs, int batchSize, double learningRate, double momentum,
      long seed) {

    /** The number of optimizer steps in one epoch over {@code trainCount} images. */
    public int stepsPerEpoch(int trainCount) {
      return (trainCount + batchSize - 1) / batchSize;
    }
  }

  /** Test loss and accuracy after one epoch, and the mean training loss over that epoch. */
  public record EpochResult(int epoch, double trainLoss, double testLoss, double testAccuracy) {}

  /** The loss and accuracy of a model on a data set. */
  public record Evaluation(double loss, double accuracy) {}

  /**
   * Everything one run recorded.
   *
   * @param stepLoss the training loss of every step, NaN after a divergence
   * @param stepAccuracy the accuracy on each step's own training batch
   * @param divergedAtStep the first step whose loss was not finite, or -1
   */
  public record History(String name, double[] stepLoss, double[] stepAccuracy,
      List<EpochResult> epochs, double seconds, int divergedAtStep) {

    public boolean diverged() {
      return divergedAtStep >= 0;
    }

    /** The mean training loss over steps [from, to), skipping nothing: NaN if any diverged. */
    public double meanLoss(int from, int to) {
      double sum = 0;
      for (int i = from; i < to; i++) {
        sum += stepLoss[i];
      }
      return sum / (to - from);
    }
  }

  /** Called after each training step's forward pass, for examples that look inside the model. */
  @FunctionalInterface
  public interface StepListener {
    void afterForward(int step, SmallCnn model);
  }

  /**
   * Trains {@code model} in place and returns what happened.
   *
   * @param bar shows progress; may be null
   * @param listener called after every step's forward; may be null
   */
  public static History train(String name, SmallCnn model, Mnist.Split train, Mnist.Split test,
      Config config, ProgressBar bar, StepListener listener) {
    long start = System.nanoTime();
    List<Param> params = model.params();
    Sgd sgd = new Sgd(params, config.learningRate(), config.momentum());
    Random order = new Random(config.seed());
    int steps = config.stepsPerEpoch(train.count());
    double[] stepLoss = new double[steps * config.epochs()];
    double[] stepAccuracy = new double[steps * config.epochs()];
    java.util.Arrays.fill(stepLoss, Double.NaN);
    java.util.Arrays.fill(stepAccuracy, Double.NaN);
    List<EpochResult> epochs = new ArrayList<>();
    int diverged = -1;
    int step = 0;
    for (int epoch = 1; epoch <= config.epochs(); epoch++) {
      int[] indices = shuffled(train.count(), order);
      model.train();
      double epochLossSum = 0;
      for (int b = 0; b < steps; b++, step++) {
        int from = b * config.batchSize();
        int to = Math.min(train.count(), from + config.batchSize());
        Mnist.Split batch = train.gather(indices, from, to);
        if (diverged < 0) {
          sgd.zeroGrad();
          Tensor logits = model.forward(SmallCnn.imagesTensor(batch.images(), to - from));
          if (listener != null) {
            listener.afterForward(step, model);
          }
          SoftmaxCrossEntropy.Result result = SoftmaxCrossEntropy.compute(logits, batch.labels());
          if (!Double.isFinite(result.loss())) {
            diverged = step; // the weights are now garbage; stop updating them
          } else {
            stepLoss[step] = result.loss();
            stepAccuracy[step] = accuracy(SoftmaxCrossEntropy.argmax(logits), batch.labels());
            epochLossSum += result.loss();
            model.backward(result.gradLogits());
            sgd.step();
          }
        }
        if (bar != null) {
          bar.update(step + 1, String.format(Locale.ROOT, "epoch %d loss %.3f", epoch,
              diverged >= 0 ? Double.NaN : stepLoss[step]));
        }
      }
      // Eval mode treats every image on its own, so the batch size only trades speed for memory.
      Evaluation eval = evaluate(model, test, 100);
      epochs.add(new EpochResult(epoch, diverged >= 0 ? Double.NaN : epochLossSum / steps,
          eval.loss(), eval.accuracy()));
    }
    model.train();
    return new History(name, stepLoss, stepAccuracy, epochs, (System.nanoTime() - start) / 1e9,
        diverged);
  }

  /** Loss and accuracy on {@code data} in eval mode, in batches; leaves the model in eval mode. */
  public static Evaluation evaluate(SmallCnn model, Mnist.Split data, int batchSize) {
    model.eval();
    double lossSum = 0;
    int correct = 0;
    for (int from = 0; from < data.count(); from += batchSize) {
      int to = Math.min(data.count(), from + batchSize);
      float[] images = java.util.Arrays.copyOfRange(data.images(), from * Mnist.IMAGE_SIZE,
          to * Mnist.IMAGE_SIZE);
      int[] labels = java.util.Arrays.copyOfRange(data.labels(), from, to);
      Tensor logits = model.forward(SmallCnn.imagesTensor(images, to - from));
      lossSum += SoftmaxCrossEntropy.compute(logits, labels).loss() * (to - from);
      int[] predicted = SoftmaxCrossEntropy.argmax(logits);
      for (int i = 0; i < predicted.length; i++) {
        correct += predicted[i] == labels[i] ? 1 : 0;
      }
    }
    return new Evaluation(lossSum / data.count(), (double) correct / data.count());
  }

  /** The fraction of predictions equal to the labels. */
  public static double accuracy(int[] predicted, int[] labels) {
    int correct = 0;
    for (int i = 0; i < labels.length; i++) {
      correct += predicted[i] == labels[i] ? 1 : 0;
    }
    return (double) correct / labels.length;
  }

  /** A random permutation of 0..n-1 (Fisher-Yates). */
  public static int[] shuffled(int n, Random random) {
    int[] indices = new int[n];
    for (int i = 0; i < n; i++) {
      indices[i] = i;
    }
    for (int i = n - 1; i > 0; i--) {
      int j = random.nextInt(i + 1);
      int t = indices[i];
      indices[i] = indices[j];
      indices[j] = t;
    }
    return indices;
  }
}
