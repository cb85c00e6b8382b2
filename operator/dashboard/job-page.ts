// One job: its numbers, curves since the job began (rank 0's history, kept in the job's status), one row per rank,
// conditions and events. Progress arrives through the server-sent-events stream; each event also triggers a
// (throttled) re-read of the whole job, so pods, conditions and events follow.
import { ApiFailure, followJob, getJson, jobPath, type History, type JobDetail, type StreamEvent } from './api.js';
import { createCurve, trainColumn, type Curve, type CurveSpec } from './charts.js';
import type { Connection } from './connection.js';
import { fill, h, type Child } from './dom.js';
import * as f from './format.js';

const TERMINAL = new Set(['Succeeded', 'Failed']);

const CURVES: CurveSpec[] = [
  { id: 'loss', title: 'Training loss', series: [{ label: 'loss', color: '#1d4ed8', format: f.loss }],
    data: (hist) => trainColumn(hist, (p) => p.loss) },
  { id: 'lr', title: 'Learning rate', series: [{ label: 'lr', color: '#047857', format: f.lr }],
    data: (hist) => trainColumn(hist, (p) => p.lr) },
  { id: 'throughput', title: 'Images per second', series: [{ label: 'images/s', color: '#7c3aed', format: f.rate }],
    data: (hist) => trainColumn(hist, (p) => p.imagesPerSecond) },
  { id: 'accuracy', title: 'Evaluation top-1',
    series: [{ label: 'kNN', color: '#be123c', format: f.percent }, { label: 'linear', color: '#0f766e', format: f.percent }],
    data: (hist) => [hist.evals.map((e) => e.step), hist.evals.map((e) => e.knnTop1 ?? null), hist.evals.map((e) => e.top1 ?? null)] },
];

const EMPTY_HISTORY: History = { stride: 1, train: [], evals: [], resumes: [] };

function field(label: string, name: string, value: number | string | undefined, text: Child): HTMLElement[] {
  return [h('dt', {}, label), h('dd', { 'data-field': name, 'data-value': value }, text)];
}

function summary(d: JobDetail): HTMLElement {
  const p = d.status.progress ?? {};
  const total = p.totalSteps;
  const epochs = typeof d.spec.training?.['epochs'] === 'number' ? d.spec.training['epochs'] : undefined;
  const dir = p.lastCheckpoint?.replace(/\/[^/]*$/, '');
  const claim = d.spec.checkpoint?.claimName;
  const ready = d.status.replicas?.running ?? 0;
  return h('dl', { class: 'summary' },
    ...field('Phase', 'phase', d.status.phase ?? d.phase, h('span', { class: `phase phase-${d.status.phase ?? d.phase}` }, d.status.phase ?? d.phase)),
    ...field('Ready replicas', 'replicas', ready, `${ready}/${d.replicas}`),
    ...field('Gang restarts', 'restartCount', d.status.restartCount ?? 0, String(d.status.restartCount ?? 0)),
    ...field('Epoch', 'epoch', p.epoch, `${p.epoch ?? f.DASH}${epochs === undefined ? '' : ` of ${epochs}`}`),
    ...field('Step', 'step', p.step, h('span', {},
      total ? h('progress', { max: total, value: Math.min(p.step ?? 0, total), 'aria-label': 'steps done' }) : null,
      ` ${p.step ?? f.DASH}${total === undefined ? '' : ` of ${total}`}`)),
    ...field('Loss', 'loss', p.loss, f.loss(p.loss)),
    ...field('Learning rate', 'lr', p.history?.train.at(-1)?.lr, f.lr(p.history?.train.at(-1)?.lr)),
    ...field('Images/s', 'imagesPerSecond', p.imagesPerSecond, f.rate(p.imagesPerSecond)),
    ...field('ETA', 'etaSeconds', p.etaSeconds, f.duration(p.etaSeconds)),
    ...field(`kNN top-1${p.evalSplit ? ` (${p.evalSplit})` : ''}`, 'knnTop1', p.knnTop1, f.percent(p.knnTop1)),
    ...field(`Linear top-1${p.evalSplit ? ` (${p.evalSplit})` : ''}`, 'top1', p.top1, f.percent(p.top1)),
    ...field('Linear top-5', 'top5', p.top5, f.percent(p.top5)),
    ...field('Newest checkpoint', 'lastCheckpoint', p.lastCheckpoint, p.lastCheckpoint ?? f.DASH),
    ...(d.status.phase === 'Succeeded' && dir !== undefined
      ? field('Exported encoder', 'encoder', `${dir}/encoder.onnx`,
        `${dir}/encoder.onnx${claim === undefined ? '' : ` on volume claim ${claim}`}`)
      : []),
    ...field('Progress read', 'updateTime', p.updateTime, p.updateTime === undefined ? f.DASH : `${f.age(p.updateTime)} ago`),
  );
}

function table(caption: string, head: string[], rows: Child[][], attrs: Record<string, string> = {}): HTMLElement {
  return h('table', attrs, h('caption', {}, caption),
    h('thead', {}, h('tr', {}, ...head.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c) => h('td', {}, c))))));
}

function ranks(d: JobDetail): HTMLElement {
  return table('Ranks (the current gang and any pod still being replaced)',
    ['Rank', 'Pod', 'Phase', 'Node', 'Restart generation', 'Last exit', 'Pod IP'],
    d.pods.map((p) => [
      p.rank === null ? f.DASH : String(p.rank), p.name, h('span', { class: `phase phase-${p.phase}` }, p.phase),
      p.nodeName ?? f.DASH, p.restartGeneration === null ? f.DASH : String(p.restartGeneration),
      p.reason === undefined && p.exitCode === undefined ? f.DASH : `${p.reason ?? ''}${p.exitCode === undefined ? '' : ` (exit code ${p.exitCode})`}`,
      p.podIP ?? f.DASH,
    ]), { class: 'ranks', 'data-section': 'ranks' });
}

function conditions(d: JobDetail): HTMLElement {
  const list = [...(d.status.conditions ?? [])].sort((a, b) => a.lastTransitionTime.localeCompare(b.lastTransitionTime));
  return table('Conditions', ['Since', 'Type', 'Status', 'Reason', 'Message'],
    list.map((c) => [h('time', { datetime: c.lastTransitionTime }, c.lastTransitionTime.replace('T', ' ').replace(/\.\d+Z|Z/, ' UTC')),
      c.type, c.status, c.reason, c.message]), { class: 'conditions', 'data-section': 'conditions' });
}

function events(d: JobDetail): HTMLElement {
  return table('Recent events (newest first)', ['Time', 'Type', 'Reason', 'Message', 'Count'],
    d.events.map((e) => [h('time', { datetime: e.lastTimestamp }, e.lastTimestamp.replace('T', ' ').replace(/\.\d+Z|Z/, ' UTC')),
      e.type, e.reason, e.message, String(e.count)]), { class: 'events', 'data-section': 'events' });
}

/** The two augmented views of the first images of the newest epoch, as rank 0 drew them for TensorBoard. */
function preview(ns: string, name: string, p: NonNullable<JobDetail['preview']>): HTMLElement {
  const img = (view: 1 | 2): HTMLElement => h('figure', { class: 'grid' },
    h('img', { src: `${jobPath(ns, name)}/preview/augmentation${view}.png?step=${p.step}`,
      alt: `View ${view} of the first images of the batch at step ${p.step}` }),
    h('figcaption', {}, `view ${view}`));
  return h('div', { 'data-section': 'preview', 'data-step': p.step },
    h('p', { class: 'hint' }, `The first images of the batch at step ${p.step} (epoch ${p.epoch + 1}), both augmented views.`),
    h('div', { class: 'grids' }, img(1), img(2)));
}

function specSummary(d: JobDetail): HTMLElement {
  const t = d.spec.training ?? {};
  const keys = ['dataset', 'arch', 'batchSize', 'epochs', 'optimizer', 'lr', 'executionProvider'];
  return h('dl', { class: 'spec' }, h('dt', {}, 'Image'), h('dd', {}, d.spec.image ?? f.DASH),
    ...keys.flatMap((k) => (t[k] === undefined ? [] : [h('dt', {}, k), h('dd', {}, String(t[k]))])));
}

export function jobPage(main: HTMLElement, conn: Connection, ns: string, name: string): void {
  const curves: Curve[] = CURVES.map((c) => createCurve(c));
  const top = h('section', { 'aria-labelledby': 'job-title' });
  const details = h('div');
  const previewBox = h('section', { 'aria-label': 'Augmentation preview' }, h('h2', {}, 'Augmentation preview'),
    h('p', { class: 'hint' }, 'None read from rank 0 yet.'));
  const notice = h('p', { class: 'error', role: 'alert', hidden: true });
  fill(main,
    h('h1', { id: 'job-title' }, name, h('span', { class: 'ns' }, ` in ${ns}`)),
    notice,
    top,
    h('section', { 'aria-label': 'Curves' }, h('h2', {}, 'Curves since the job began'),
      h('p', { class: 'hint' }, 'Dashed lines: a restarted gang resumed from its checkpoint there.'),
      h('div', { class: 'curves' }, ...curves.map((c) => c.figure))),
    details,
    previewBox);

  let detail: JobDetail | undefined;
  const render = (): void => {
    if (detail === undefined) return;
    fill(top, summary(detail));
    const history = detail.status.progress?.history ?? EMPTY_HISTORY;
    for (const c of curves) c.update(history);
  };
  let previewStep: number | undefined;
  const renderDetails = (): void => {
    if (detail === undefined) return;
    if (detail.preview !== undefined && detail.preview.step !== previewStep) {
      previewStep = detail.preview.step; // new images only when rank 0 drew new ones
      fill(previewBox, h('h2', {}, 'Augmentation preview'), preview(ns, name, detail.preview));
    }
    const hidden = detail.podsVisible === false
      ? h('p', { class: 'hint', 'data-section': 'pods-hidden' }, `Ranks and events are shown to those who may list pods in ${ns}.`)
      : null;
    fill(details,
      h('section', { 'aria-label': 'Ranks' }, h('h2', {}, 'Ranks'), hidden ?? ranks(detail)),
      h('section', { 'aria-label': 'Conditions' }, h('h2', {}, 'Conditions'), conditions(detail)),
      h('section', { 'aria-label': 'Events' }, h('h2', {}, 'Events'), hidden?.cloneNode(true) ?? events(detail)),
      h('section', { 'aria-label': 'Spec' }, h('h2', {}, 'Spec'), specSummary(detail)));
  };

  let loading: Promise<void> | undefined;
  let again = false;
  const load = async (): Promise<void> => {
    try {
      detail = await getJson<JobDetail>(jobPath(ns, name));
      notice.hidden = true;
      render();
      renderDetails();
    } catch (err) {
      notice.hidden = false;
      notice.textContent = err instanceof ApiFailure ? err.message : `Could not load the job: ${(err as Error).message}`;
    }
  };
  // At most one read in flight; events that arrive meanwhile ask for one more after it.
  const reload = (): void => {
    if (loading !== undefined) {
      again = true;
      return;
    }
    loading = load().finally(() => {
      loading = undefined;
      if (again) {
        again = false;
        window.setTimeout(reload, 1000);
      }
    });
  };
  const onEvent = (e: StreamEvent): void => {
    if (detail !== undefined) {
      detail = { ...detail, phase: e.phase, restartCount: e.restartCount,
        status: { ...detail.status, phase: e.phase, restartCount: e.restartCount, progress: e.progress } };
      render();
    }
    reload();
    if (TERMINAL.has(e.phase)) conn.final(`${e.phase}: final values`);
  };
  reload();
  followJob(ns, name, {
    onEvent,
    onLive: (live) => (live ? conn.fresh() : conn.stale()),
    onDeleted: () => {
      notice.hidden = false;
      notice.textContent = `${ns}/${name} was deleted.`;
      conn.final('deleted');
    },
  });
}
