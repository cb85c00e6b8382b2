// Our SimCLR training step against the same step in PyTorch on the same CPU cores (bench/train-step-torch.py: same
// model, loss, optimizer, batch and thread count), in alternating rounds so background load hits both alike. Prints
// per round each side's median step (wall), CPU-ms per step and images/s, the ratio of images/s (ours / PyTorch),
// and both sides' losses step by step. PyTorch comes from the benchmarks' venv (bench/python-venv.ts), or from
// --python (a python3 that imports torch: the GPU machine's, which has no network).
// Usage: npx tsx bench/vs-pytorch.ts [--rounds 3] [--steps 6] [--width 0.5] [--batch 128] [--size 16] [--head 256]
//   [--nce 64] [--threads 2] [--provider cpu|webgpu|cuda] [--device cpu|cuda] [--python PATH]
//   (defaults: make run's recipe, both on the CPU; bench/gpu/run.sh runs it on a GPU)
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
    provider: { type: 'string', default: 'cpu' },
    device: { type: 'string', default: 'cpu' },
    python: { type: 'string' },
  },
});

interface StepTimes { stepMs: number[]; cpuMs: number[]; losses: number[]; torch?: string; device?: string }

const HERE = dirname(fileURLToPath(import.meta.url));
const compiled = HERE.includes(join('dist', 'bench'));
const TORCH_SCRIPT = join(HERE, 'train-step-torch.py').replace(/dist\/bench/, 'bench'); // the .py stays in bench/
const model = ['--width', values.width!, '--batch', values.batch!, '--size', values.size!, '--head', values.head!, '--nce', values.nce!, '--threads', values.threads!, '--steps', values.steps!];

function ours(): StepTimes {
  const script = join(HERE, compiled ? 'train-step.js' : 'train-step.ts');
  const node = compiled ? [script] : ['--import', 'tsx', script];
  return lastJsonLine(run(process.execPath, [...node, ...model, '--provider', values.provider!, '--optimizer', 'adam', '--profile', 'off', '--json']));
}

const python = values.python ?? PYTHON;
const pytorch = (): StepTimes => lastJsonLine(run(python, [TORCH_SCRIPT, ...model, '--device', values.device!]));
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;

if (values.python === undefined) ensurePython(['torch'], ['torch']);
const b = Number(values.batch);
const imagesPerS = (ms: number): string => ((b * 1000) / ms).toFixed(b * 1000 >= 100 * ms ? 0 : 1); // batch images/s, as train-step.ts counts
console.log(`vs-pytorch: ResNet-18 (CIFAR stem) w=${values.width}, ${values.size} px, batch ${b} (x2 views), head ${values.head}/${values.nce}, Adam, ${values.threads} threads; ours on ORT's ${values.provider} provider, PyTorch on ${values.device}; median of ${values.steps} steps per side per round`);
const ratios: number[] = [];
for (let r = 0; r < Number(values.rounds); r++) {
  // Alternate which side runs first, so a slow spell of the host does not always fall on the same one.
  const torchFirst = r % 2 === 1 ? pytorch() : undefined;
  const our = ours();
  const torch = torchFirst ?? pytorch();
  const [mo, mt] = [median(our.stepMs), median(torch.stepMs)];
  ratios.push(mt / mo);
  console.log(`round ${r + 1}: ours (${values.provider}) ${mo.toFixed(0)} ms (${median(our.cpuMs).toFixed(0)} CPU-ms, ${imagesPerS(mo)} images/s), PyTorch ${torch.torch ?? ''} (${torch.device ?? 'cpu'}) ${mt.toFixed(0)} ms (${median(torch.cpuMs).toFixed(0)} CPU-ms, ${imagesPerS(mt)} images/s) per step; ours/PyTorch images/s ${(mt / mo).toFixed(2)}x`);
  console.log(`  losses after each step (the first is the uncounted warm-up): ours ${our.losses.map((l) => l.toFixed(3)).join(' ')} | PyTorch ${torch.losses.map((l) => l.toFixed(3)).join(' ')}`);
}
console.log(`ours / PyTorch images/s: ${ratios.map((x) => x.toFixed(2)).join(', ')} (median ${median(ratios).toFixed(2)}x)`);
