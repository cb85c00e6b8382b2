// TensorBoard curves within an epoch: every --log-interval steps one point of step/loss (the mean NT-Xent loss of the
// steps since the last point, so no step goes unseen), step/lr (the rate the last step used) and
// step/images_per_second (global images over the wall time of those steps, data loading included). The per-epoch
// train/... scalars stay as they are; a 2-epoch run otherwise draws a curve of two points.

/** Where points go: an EventWriter, or anything with its addScalars. */
export interface ScalarSink {
  addScalars(values: Readonly<Record<string, number>>, step: number): void;
}

export interface StepPoint {
  /** The global step just completed (1-based: the number of optimizer steps done). */
  step: number;
  loss: number;
  lr: number;
  /** Images the step consumed across all replicas. */
  images: number;
}

export class StepScalars {
  private lossSum = 0;
  private steps = 0;
  private images = 0;
  private seconds = 0;
  private last: number | undefined;

  /** `interval` 0 writes nothing; `now` (ms) is performance.now unless a test drives the clock. */
  constructor(
    private readonly sink: ScalarSink | undefined,
    private readonly interval: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Call where steps start again after a pause (each epoch, after evaluation), so the pause is not counted. */
  startClock(): void {
    this.last = this.now();
  }

  record(p: StepPoint): void {
    if (this.sink === undefined || this.interval <= 0) return;
    const t = this.now();
    this.seconds += (t - (this.last ?? t)) / 1000;
    this.last = t;
    this.lossSum += p.loss;
    this.steps++;
    this.images += p.images;
    if (p.step % this.interval !== 0) return;
    this.sink.addScalars(
      {
        'step/loss': this.lossSum / this.steps,
        'step/lr': p.lr,
        ...(this.seconds > 0 ? { 'step/images_per_second': this.images / this.seconds } : {}),
      },
      p.step,
    );
    this.lossSum = this.steps = this.images = this.seconds = 0;
  }
}
