// The fused training step's gradient forms on the WebGPU provider: the device forms a webgpu graph builds (forward
// Conv, dX ConvTranspose, dW the textbook Conv) against the CPU's forms (Gathers of patches, one-hot Convs with N*C
// groups, per-tap GEMMs; what trainer/graph chose by timing ORT's CPU kernels) lowered for WebGPU, on the same
// provider. Each variant runs in a child process with a fresh, empty Mesa shader cache, since lavapipe compiles a
// session's shaders at its first run and Mesa keeps them on disk: session creation, first run (mostly shader
// compiling), then the median of the next runs. Both variants must give the same loss to 1e-5 (rounding only).
// Needs WebGPU: lavapipe's env (make lavapipe; source "$(scripts/lavapipe.sh)/env.sh") or a GPU's Vulkan driver.
// Usage: npx tsx bench/webgpu-forms.ts [--batch 16] [--size 12] [--width 0.0625] [--reps 5] [--rounds 1]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { Rng } from '../trainer/data/index.js';
import type { KernelTarget } from '../trainer/graph/index.js';
import { initParameters, type ModelConfig } from '../trainer/models/index.js';
import { buildTrainGraph } from '../trainer/train/step.js';

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '16' },
    size: { type: 'string', default: '12' },
    width: { type: 'string', default: '0.0625' },
    reps: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '1' },
    child: { type: 'string' },
  },
});
const [batch, size, width, reps] = [Number(values.batch), Number(values.size), Number(values.width), Number(values.reps)];

interface Timing {
  forms: KernelTarget;
  nodes: number;
  createMs: number;
  firstRunMs: number;
  stepMs: number;
  loss: number;
}

/** One variant in this process: the step graph built with `forms`' choices, lowered for and run on WebGPU. */
async function measure(forms: KernelTarget): Promise<Timing> {
  const model: ModelConfig = { arch: 'resnet18', stem: 'cifar', widthMultiplier: width, inputChannels: 1, headLatentSize: 32, nceSize: 16, numClasses: 4 };
  const { graph, specs } = buildTrainGraph({ model, batchSize: batch, height: size, width: size, temperature: 0.5 }, forms);
  let t = performance.now();
  const session = await ort.InferenceSession.create(graph.toOnnx({ target: 'webgpu' }), {
    executionProviders: ['webgpu'],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    extra: { session: { disable_cpu_ep_fallback: '1' } },
  });
  const createMs = performance.now() - t;
  const init = initParameters(specs, 7);
  const rng = Rng.fromSeed(5);
  const feeds: Record<string, ort.Tensor> = {};
  for (const v of [...graph.inputs, ...graph.params].filter((x) => session.inputNames.includes(x.name))) {
    const n = v.shape.reduce((a, b) => a * b, 1);
    const data = init.get(v.name) ?? (v.name === 'targets' ? Float32Array.from({ length: n }, (_x, i) => (i % 4 === Math.floor(i / 4) % 4 ? 1 : 0)) : Float32Array.from({ length: n }, () => rng.uniform(-1, 1)));
    feeds[v.name] = new ort.Tensor('float32', Float32Array.from(data), [...v.shape]);
  }
  t = performance.now();
  const first = await session.run(feeds);
  const firstRunMs = performance.now() - t;
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    t = performance.now();
    await session.run(feeds);
    times.push(performance.now() - t);
  }
  await session.release();
  times.sort((a, b) => a - b);
  return { forms, nodes: graph.nodes.length, createMs, firstRunMs, stepMs: times[Math.floor(times.length / 2)]!, loss: (first['loss']!.data as Float32Array)[0]! };
}

/** Runs one variant in a child process with its own empty shader cache. */
function inChild(forms: KernelTarget): Timing {
  const cache = mkdtempSync(join(tmpdir(), 'mesa-cache-'));
  try {
    const args = [...process.execArgv, fileURLToPath(import.meta.url), '--child', forms, '--batch', String(batch), '--size', String(size), '--width', String(width), '--reps', String(reps)];
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, MESA_SHADER_CACHE_DIR: cache }, maxBuffer: 1 << 24 });
    const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
    if (r.status !== 0 || !line) throw new Error(`variant ${forms} failed (exit ${r.status}): ${r.stderr.slice(-2000)}`);
    return JSON.parse(line) as Timing;
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
}

if (values.child) {
  console.log(JSON.stringify(await measure(values.child as KernelTarget)));
} else {
  console.log(`ResNet-18 (CIFAR stem) width ${width}, batch ${batch}, ${size} px, on WebGPU; each variant with an empty Mesa shader cache`);
  console.log('forms       nodes  create ms  first run ms  step ms (median of ' + reps + ')  loss');
  const ratios: { first: number; step: number }[] = [];
  for (let round = 0; round < Number(values.rounds); round++) {
    const [device, cpuForms] = [inChild('webgpu'), inChild('cpu')];
    for (const r of [device, cpuForms]) {
      const name = r.forms === 'cpu' ? 'cpu forms' : 'device';
      console.log(`${name.padEnd(10)} ${String(r.nodes).padStart(6)} ${r.createMs.toFixed(0).padStart(10)} ${r.firstRunMs.toFixed(0).padStart(13)} ${r.stepMs.toFixed(1).padStart(24)}  ${r.loss}`);
    }
    if (Math.abs(device.loss - cpuForms.loss) > 1e-5 * Math.abs(cpuForms.loss)) throw new Error(`losses differ: ${device.loss} vs ${cpuForms.loss}`);
    ratios.push({ first: cpuForms.firstRunMs / device.firstRunMs, step: cpuForms.stepMs / device.stepMs });
  }
  console.log(`cpu forms / device forms: first run ${ratios.map((r) => r.first.toFixed(2)).join(', ')}x; step ${ratios.map((r) => r.step.toFixed(2)).join(', ')}x`);
}
