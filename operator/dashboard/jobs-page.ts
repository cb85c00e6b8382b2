// The jobs list: one row per SimCLRJob, sortable by any column (buttons in the headers, so the keyboard sorts too),
// refreshed every few seconds from the list endpoint (the API streams one job at a time, not lists).
import { getJson, type JobSummary } from './api.js';
import { h, fill, type Child } from './dom.js';
import * as f from './format.js';
import type { Connection } from './connection.js';

interface Column {
  key: string;
  label: string;
  value(j: JobSummary): number | string | undefined;
  cell(j: JobSummary): Child;
  numeric?: boolean;
}

const progressCell = (j: JobSummary): Child => {
  const step = j.step ?? 0;
  const total = j.totalSteps;
  const label = `epoch ${j.epoch ?? f.DASH}${j.epochs === undefined ? '' : `/${j.epochs}`}, step ${j.step ?? f.DASH}${total === undefined ? '' : `/${total}`}`;
  return h('span', { class: 'progress-cell' },
    total === undefined || total === 0 ? null : h('progress', { max: total, value: Math.min(step, total), 'aria-label': label }),
    h('span', { 'data-field': 'step', 'data-value': j.step }, label));
};

const num = (field: string, v: number | undefined, text: string): Child => h('span', { 'data-field': field, 'data-value': v }, text);

const COLUMNS: Column[] = [
  { key: 'namespace', label: 'Namespace', value: (j) => j.namespace, cell: (j) => h('a', { href: `/namespaces/${encodeURIComponent(j.namespace)}` }, j.namespace) },
  { key: 'name', label: 'Name', value: (j) => j.name,
    cell: (j) => h('a', { href: `/namespaces/${encodeURIComponent(j.namespace)}/jobs/${encodeURIComponent(j.name)}`, 'data-field': 'name' }, j.name) },
  { key: 'phase', label: 'Phase', value: (j) => j.phase, cell: (j) => h('span', { class: `phase phase-${j.phase}`, 'data-field': 'phase' }, j.phase) },
  { key: 'replicas', label: 'Ready', value: (j) => j.readyReplicas ?? 0, numeric: true,
    cell: (j) => h('span', { 'data-field': 'replicas' }, `${j.readyReplicas ?? 0}/${j.replicas}`) },
  { key: 'step', label: 'Progress', value: (j) => (j.totalSteps ? (j.step ?? 0) / j.totalSteps : j.step), numeric: true, cell: progressCell },
  { key: 'loss', label: 'Loss', value: (j) => j.loss, numeric: true, cell: (j) => num('loss', j.loss, f.loss(j.loss)) },
  { key: 'imagesPerSecond', label: 'Images/s', value: (j) => j.imagesPerSecond, numeric: true,
    cell: (j) => num('imagesPerSecond', j.imagesPerSecond, f.rate(j.imagesPerSecond)) },
  { key: 'etaSeconds', label: 'ETA', value: (j) => j.etaSeconds, numeric: true, cell: (j) => num('etaSeconds', j.etaSeconds, f.duration(j.etaSeconds)) },
  { key: 'knnTop1', label: 'kNN top-1', value: (j) => j.knnTop1, numeric: true, cell: (j) => num('knnTop1', j.knnTop1, f.percent(j.knnTop1)) },
  { key: 'top1', label: 'Linear top-1', value: (j) => j.top1, numeric: true, cell: (j) => num('top1', j.top1, f.percent(j.top1)) },
  { key: 'createdAt', label: 'Age', value: (j) => (j.createdAt === '' ? undefined : -Date.parse(j.createdAt)), numeric: true,
    cell: (j) => h('time', { datetime: j.createdAt }, f.age(j.createdAt)) },
];

/** `dir` 1 ascending, -1 descending; rows without a value come last either way round. */
function compare(a: number | string | undefined, b: number | string | undefined, dir: number): number {
  if (a === undefined) return b === undefined ? 0 : 1;
  if (b === undefined) return -1;
  return dir * (typeof a === 'number' && typeof b === 'number' ? a - b : String(a).localeCompare(String(b)));
}

export function jobsPage(main: HTMLElement, conn: Connection, namespace: string | undefined): void {
  const columns = namespace === undefined ? COLUMNS : COLUMNS.filter((c) => c.key !== 'namespace');
  let sort = { key: 'name', dir: 1 };
  let jobs: JobSummary[] = [];
  const thead = h('thead');
  const tbody = h('tbody');
  const empty = h('p', { class: 'empty', hidden: true }, namespace === undefined ? 'No SimCLRJobs.' : `No SimCLRJobs in ${namespace}.`);
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  fill(main,
    h('h1', {}, namespace === undefined ? 'SimCLRJobs' : `SimCLRJobs in ${namespace}`),
    error,
    h('table', { class: 'jobs', 'aria-label': 'SimCLRJobs' }, thead, tbody),
    empty);

  const renderHead = (): void => {
    fill(thead, h('tr', {}, ...columns.map((c) => {
      const active = sort.key === c.key;
      const button = h('button', { type: 'button', 'data-sort': c.key }, c.label, active ? (sort.dir > 0 ? ' ▲' : ' ▼') : '');
      button.addEventListener('click', () => {
        sort = { key: c.key, dir: active ? -sort.dir : 1 };
        renderHead();
        renderBody();
      });
      return h('th', { scope: 'col', 'aria-sort': active ? (sort.dir > 0 ? 'ascending' : 'descending') : 'none',
        class: c.numeric ? 'num' : undefined }, button);
    })));
  };
  const renderBody = (): void => {
    const col = columns.find((c) => c.key === sort.key) ?? columns[0]!;
    const rows = [...jobs].sort((a, b) => compare(col.value(a), col.value(b), sort.dir) || compare(a.name, b.name, 1));
    fill(tbody, ...rows.map((j) => h('tr', { 'data-job': `${j.namespace}/${j.name}` },
      ...columns.map((c) => h('td', { class: c.numeric ? 'num' : undefined }, c.cell(j))))));
    empty.hidden = jobs.length > 0;
  };
  const path = namespace === undefined ? '/api/v1/jobs' : `/api/v1/namespaces/${encodeURIComponent(namespace)}/jobs`;
  const refresh = async (): Promise<void> => {
    try {
      jobs = (await getJson<{ items: JobSummary[] }>(path)).items;
      error.hidden = true;
      conn.fresh();
      renderBody();
    } catch (err) {
      conn.stale();
      error.hidden = false;
      error.textContent = `Could not refresh: ${(err as Error).message}`;
    }
  };
  renderHead();
  void refresh();
  window.setInterval(() => void refresh(), 2000);
}
