// Our SimCLR training step against the same step in PyTorch on the same CPU cores (bench/train-step-torch.py: same
// model, loss, optimizer, batch and thread count), in alternating rounds so background load hits both alike. Prints
// per round each side's median step (wall) and CPU-ms per step, and the ratio of images/s (ours / PyTorch).
// PyTorch comes from the benchmarks' venv (bench/python-venv.ts).
// Usage: npx tsx bench/vs-pytorch.ts [--rounds 3] [--steps 6] [--width 0.5] [--batch 128] [--size 16] [--head 256]
//   [--nce 64] [--threads 2]   (defaults: make run's recipe)
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensurePython, lastJsonLine, PYTHON, run } from './python-venv.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    steps: { type: 'string', default: '6' },
    width: { type: 'string', default: '0.5' },
    batch: { type: 'string', default: '128' },
    size: { type: 'string', default: '16' },
    head: { type: 'string', default: '256' },
    nce: { type: 'string', default: '64' },
    threads: { type: 'string', default: '2' },
  },
});

interface StepTimes { stepMs: number[]; cpuMs: number[]; losses: number[]; torch?: string }

const HERE = dirname(fileURLToPath(import.meta.url));
const compiled = HERE.includes(join('dist', 'bench'));
const TORCH_SCRIPT = join(HERE, 'train-step-torch.py').replace(/dist\/bench/, 'bench'); // the .py stays in bench/
const model = ['--width', values.width!, '--batch', values.batch!, '--size', values.size!, '--head', values.head!, '--nce', values.nce!, '--threads', values.threads!, '--steps', values.steps!];

function ours(): StepTimes {
  const script = join(HERE, compiled ? 'train-step.js' : 'train-step.ts');
  const node = compiled ? [script] : ['--import', 'tsx', script];
  return lastJsonLine(run(process.execPath, [...node, ...model, '--optimizer', 'adam', '--profile', 'off', '--json']));
}

const pytorch = (): StepTimes => lastJsonLine(run(PYTHON, [TORCH_SCRIPT, ...model]));
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;

ensurePython(['torch'], ['torch']);
const b = Number(values.batch);
console.log(`vs-pytorch: ResNet-18 (CIFAR stem) w=${values.width}, ${values.size} px, batch ${b} (x2 views), head ${values.head}/${values.nce}, Adam, ${values.threads} threads; median of ${values.steps} steps per side per round`);
const ratios: number[] = [];
for (let r = 0; r < Number(values.rounds); r++) {
  // Alternate which side runs first, so a slow spell of the host does not always fall on the same one.
  const torchFirst = r % 2 === 1 ? pytorch() : undefined;
  const our = ours();
  const torch = torchFirst ?? pytorch();
  const [mo, mt] = [median(our.stepMs), median(torch.stepMs)];
  ratios.push(mt / mo);
  console.log(`round ${r + 1}: ours ${mo.toFixed(0)} ms (${median(our.cpuMs).toFixed(0)} CPU-ms), PyTorch ${torch.torch ?? ''} ${mt.toFixed(0)} ms (${median(torch.cpuMs).toFixed(0)} CPU-ms) per step; ours/PyTorch images/s ${(mt / mo).toFixed(2)}x`);
  console.log(`  first losses: ours ${our.losses.slice(0, 3).map((l) => l.toFixed(3)).join(' ')} | PyTorch ${torch.losses.slice(0, 3).map((l) => l.toFixed(3)).join(' ')}`);
}
console.log(`ours / PyTorch images/s: ${ratios.map((x) => x.toFixed(2)).join(', ')} (median ${median(ratios).toFixed(2)}x)`);
