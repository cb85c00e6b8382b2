// --early-stop: which evaluation was the best, and whether the run should stop. The monitored metric is the kNN
// top-1 of the per-epoch evaluation (valid/ when the data set has one, else test; the same bank every epoch): it
// scores the representation h that the exported encoder ships, with labels, and is computed every epoch anyway.
// (The seed monitored its test loss, NT-Xent + the online classifier's cross-entropy; NT-Xent on held-out views
// keeps falling while the representation's accuracy has stopped improving, and it would need another pass.)
// The history lives in a file beside the checkpoints, written after each evaluation, so a resumed run continues
// the count; observations after the step a run resumed from are dropped (they are evaluated again).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../checkpoint/index.js';

export const EARLY_STOP_FILE = 'early-stop.json';

const Observation = z.object({ step: z.number().int().min(0), knnTop1: z.number() });
export type Observation = z.infer<typeof Observation>;
const StateFile = z.object({ metric: z.literal('knnTop1'), history: z.array(Observation) });

export interface Verdict {
  /** The step whose checkpoint scored best so far. */
  readonly bestStep: number;
  readonly bestKnnTop1: number;
  /** Evaluations since the best one. */
  readonly sinceBest: number;
  readonly stop: boolean;
}

export class EarlyStopper {
  private constructor(
    private readonly patience: number,
    private readonly history: Observation[],
  ) {}

  /** The stopper of a run folder: its history up to `resumedStep` (a fresh run: none). */
  static async open(dir: string, patience: number, resumedStep: number): Promise<EarlyStopper> {
    const history = resumedStep === 0 ? [] : ((await readEarlyStopHistory(dir)) ?? []).filter((o) => o.step <= resumedStep);
    return new EarlyStopper(patience, history);
  }

  /** The best checkpoint's step so far (undefined before the first evaluation); rotation must keep it. */
  get bestStep(): number | undefined {
    return this.history.length === 0 ? undefined : this.verdict().bestStep;
  }

  /** Records one evaluation; ties keep the earlier checkpoint (an improvement must be strict). */
  observe(step: number, knnTop1: number): Verdict {
    this.history.push({ step, knnTop1 });
    return this.verdict();
  }

  /** The verdict as of the step a run resumed from, when that step's evaluation is the last recorded (else none). */
  resumedVerdict(step: number): Verdict | undefined {
    return this.history.length > 0 && this.history[this.history.length - 1].step === step ? this.verdict() : undefined;
  }

  verdict(): Verdict {
    const best = bestIndex(this.history);
    const sinceBest = this.history.length - 1 - best;
    return { bestStep: this.history[best].step, bestKnnTop1: this.history[best].knnTop1, sinceBest, stop: sinceBest >= this.patience };
  }

  async save(dir: string): Promise<void> {
    const body = JSON.stringify({ metric: 'knnTop1', history: this.history }, null, 2) + '\n';
    await writeFileAtomic(join(dir, EARLY_STOP_FILE), [Buffer.from(body)]);
  }
}

/** The evaluations recorded in a run folder, or undefined when the run did not use --early-stop. */
export async function readEarlyStopHistory(dir: string): Promise<Observation[] | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, EARLY_STOP_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return StateFile.parse(JSON.parse(text)).history;
}

/** The first evaluation with the highest kNN top-1 (history must not be empty). */
function bestIndex(history: readonly Observation[]): number {
  let best = 0;
  for (let i = 1; i < history.length; i++) if (history[i].knnTop1 > history[best].knnTop1) best = i;
  return best;
}

/** The best checkpoint's step a run folder's early-stop history names, or undefined without one. */
export async function bestStepIn(dir: string): Promise<number | undefined> {
  const history = await readEarlyStopHistory(dir);
  return history === undefined || history.length === 0 ? undefined : history[bestIndex(history)].step;
}
