// The job page's curves (uPlot: canvas line charts with axes, a legend and a hover cursor, ~50 kB, no dependencies).
// Each chart sits in a <figure> whose caption says in words what the canvas shows (points, range, latest value),
// for keyboard and screen-reader users and for the browser test. Dashed vertical lines mark where a restarted gang
// resumed from its checkpoint.
import uPlot from 'uplot';
import type { History } from './api.js';
import { h } from './dom.js';

export interface CurveSpec {
  id: string;
  title: string;
  /** One or more series over the same x (step). */
  series: { label: string; color: string; format: (v: number | undefined) => string }[];
  /** x and one y array per series from a history. */
  data(history: History): [number[], ...(number | null)[][]];
}

export interface Curve {
  figure: HTMLElement;
  update(history: History): void;
}

function resumeLines(steps: () => number[]): uPlot.Plugin {
  return {
    hooks: {
      draw: (u: uPlot) => {
        const { ctx, bbox } = u;
        ctx.save();
        ctx.strokeStyle = '#b45309';
        ctx.setLineDash([5, 4]);
        ctx.lineWidth = Math.max(1, devicePixelRatio);
        for (const step of steps()) {
          const x = Math.round(u.valToPos(step, 'x', true));
          if (x < bbox.left || x > bbox.left + bbox.width) continue;
          ctx.beginPath();
          ctx.moveTo(x, bbox.top);
          ctx.lineTo(x, bbox.top + bbox.height);
          ctx.stroke();
        }
        ctx.restore();
      },
    },
  };
}

function caption(spec: CurveSpec, data: [number[], ...(number | null)[][]], resumes: number): string {
  const xs = data[0];
  if (xs.length === 0) return `${spec.title}: no points yet`;
  const parts = spec.series.map((s, i) => {
    const ys = data[i + 1]!;
    let last = ys.length - 1;
    while (last >= 0 && ys[last] === null) last--;
    return last < 0 ? `${s.label} –` : `${s.label} ${s.format(ys[last] ?? undefined)} at step ${xs[last]}`;
  });
  const restarts = resumes === 0 ? '' : `; ${resumes} resume${resumes === 1 ? '' : 's'} marked`;
  return `${spec.title}: ${xs.length} points, steps ${xs[0]}–${xs.at(-1)}; latest ${parts.join(', ')}${restarts}`;
}

/** A chart that takes the width of its figure (and follows it when the window changes size). */
export function createCurve(spec: CurveSpec): Curve {
  let resumes: number[] = [];
  const plotBox = h('div', { class: 'plot' });
  const cap = h('figcaption', { id: `${spec.id}-caption` });
  const figure = h('figure', { class: 'curve', 'data-curve': spec.id, 'data-points': 0, 'aria-describedby': `${spec.id}-caption` },
    h('h3', {}, spec.title), plotBox, cap);
  const plot = new uPlot({
    width: 320,
    height: 180,
    scales: { x: { time: false } },
    axes: [{ label: 'step' }, { size: 60 }],
    series: [{ label: 'step' }, ...spec.series.map((s) => ({
      label: s.label, stroke: s.color, width: 1.5, spanGaps: true, points: { show: false },
      value: (_u: uPlot, v: number | null) => s.format(v ?? undefined),
    }))],
    plugins: [resumeLines(() => resumes)],
    legend: { live: true },
  }, [[], ...spec.series.map(() => [])] as uPlot.AlignedData, plotBox);
  new ResizeObserver(() => {
    if (plotBox.clientWidth > 0 && plotBox.clientWidth !== plot.width) plot.setSize({ width: plotBox.clientWidth, height: 180 });
  }).observe(plotBox);
  return {
    figure,
    update(history: History): void {
      resumes = history.resumes.map((r) => r.step);
      const data = spec.data(history);
      plot.setData(data as uPlot.AlignedData);
      figure.setAttribute('data-points', String(data[0].length));
      cap.textContent = caption(spec, data, resumes.length);
    },
  };
}

/** Training points' x and one column. */
export const trainColumn = (hist: History, pick: (p: History['train'][number]) => number | undefined):
  [number[], (number | null)[]] => [hist.train.map((p) => p.step), hist.train.map((p) => pick(p) ?? null)];
