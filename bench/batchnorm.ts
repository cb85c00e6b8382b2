// BatchNorm in training mode, forward and backward together: our lowering (BatchNormTrain: batch statistics, then
// ONNX BatchNormalization in inference mode; backward a * dy plus a per-channel affine of x - mean) against the one it
// replaced, written out here in primitive ops (y = xhat * gamma + beta over xhat = (x - mean) * invstd; the expanded
// closed-form backward over xhat). Both programs return y, dx, dgamma and dbeta for the same x and dy, and must agree.
// Interleaved runs; time is ORT's own per run (its profiler's model_run), so feeding and fetching the tensors does not
// count.
// Usage: npx tsx bench/batchnorm.ts [--batch 256] [--threads 2] [--reps 31]
//   (default shapes: make run's four stages, width 1/2 at 16 px, 2 x 128 views)
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Engine, type Program } from '../trainer/engine/index.js';
import { latestProfile } from '../trainer/engine/profile.js';
import { Graph, gradients, op, type Value } from '../trainer/graph/index.js';
import { Rng } from '../trainer/data/index.js';

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '256' },
    threads: { type: 'string', default: '2' },
    reps: { type: 'string', default: '31' },
  },
});
const [n, reps] = [Number(values.batch), Number(values.reps)];
const shapes: [number, number, number, number][] = [[n, 32, 16, 16], [n, 64, 8, 8], [n, 128, 4, 4], [n, 256, 2, 2]];
const EPS = 1e-5;
const WARMUP = 3;

type Build = (g: Graph, x: Value, gamma: Value, beta: Value, dy: Value) => void;

const ours: Build = (g, x, gamma, beta, dy) => {
  const y = op.batchNormTrain(x, gamma, beta, EPS).y;
  const [dx, dgamma, dbeta] = gradients({ seeds: [[y, dy]] }, [x, gamma, beta]);
  for (const [name, v] of [['y', y], ['dx', dx], ['dgamma', dgamma], ['dbeta', dbeta]] as const) g.output(name, v!);
};

const previous: Build = (g, x, gamma, beta, dy) => {
  const c = x.shape[1]!;
  const axes = [0, 2, 3];
  const kept = [1, c, 1, 1];
  const m = x.size / c;
  const xc = op.sub(x, op.reduceMean(x, axes, true));
  const invstd = op.div(1, op.sqrt(op.add(op.reduceMean(op.mul(xc, xc), axes, true), EPS)));
  const xhat = op.mul(xc, invstd);
  g.output('y', op.add(op.mul(xhat, op.reshape(gamma, kept)), op.reshape(beta, kept)));
  const sumDy = op.reduceSum(dy, axes, true);
  const sumDyXhat = op.reduceSum(op.mul(dy, xhat), axes, true);
  const centred = op.sub(op.sub(dy, op.mul(sumDy, 1 / m)), op.mul(xhat, op.mul(sumDyXhat, 1 / m)));
  g.output('dx', op.mul(centred, op.mul(op.reshape(gamma, kept), invstd)));
  g.output('dgamma', op.reshape(sumDyXhat, [c]));
  g.output('dbeta', op.reshape(sumDy, [c]));
};

const rng = Rng.fromSeed(7);
const random = (size: number, scale: number, offset: number): Float32Array =>
  Float32Array.from({ length: size }, () => offset + scale * rng.uniform(-1, 1));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const dir = mkdtempSync(join(tmpdir(), 'bench-batchnorm-'));

console.log(`BatchNorm training forward + backward, ORT intra-op threads ${values.threads}, ${reps} interleaved runs`);
for (const shape of shapes) {
  const c = shape[1];
  const size = shape.reduce((a, b) => a * b);
  const feeds = { x: random(size, 2, 0.3), dy: random(size, 1, 0), gamma: random(c, 0.5, 1), beta: random(c, 0.5, 0) };
  const forms: { name: string; program: Program; prefix: string }[] = [];
  for (const [name, build] of [['ours', ours], ['previous', previous]] as const) {
    const prefix = join(dir, `${name}-${c}`);
    const engine = await Engine.create({ threads: Number(values.threads), spinning: false, profilePrefix: prefix });
    const g = new Graph(`bn_${name}`);
    build(g, g.input('x', shape), g.input('gamma', [c]), g.input('beta', [c]), g.input('dy', shape));
    forms.push({ name, program: await engine.compile(g), prefix });
  }
  const outs: Record<string, Float32Array>[] = [];
  for (let r = 0; r < WARMUP + reps; r++) {
    for (const [i, f] of forms.entries()) outs[i] = await f.program.run(feeds);
  }
  for (const f of forms) await f.program.release();
  const times = forms.map((f) => {
    const events = JSON.parse(readFileSync(latestProfile(f.prefix), 'utf8')) as { name: string; dur: number }[];
    return median(events.filter((e) => e.name === 'model_run').slice(WARMUP).map((e) => e.dur / 1000));
  });
  let worst = 0;
  for (const k of ['y', 'dx', 'dgamma', 'dbeta']) {
    const [a, b] = [outs[0]![k]!, outs[1]![k]!];
    const scale = b.reduce((s, v) => Math.max(s, Math.abs(v)), 0);
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / scale);
  }
  if (worst > 1e-4) throw new Error(`[${shape.join(', ')}]: ours and the previous lowering differ by ${worst.toExponential(2)}`);
  console.log(
    `[${shape.join(', ')}]: ours ${times[0]!.toFixed(2)} ms, previous ${times[1]!.toFixed(2)} ms in ORT (median): ` +
      `previous / ours ${(times[1]! / times[0]!).toFixed(2)}x; outputs agree to ${worst.toExponential(1)} of their scale`,
  );
}
rmSync(dir, { recursive: true, force: true });
