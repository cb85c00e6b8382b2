// The dashboard's entry: which page the path names (/, /namespaces/<ns>, /namespaces/<ns>/jobs/<name>).
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { connection } from './connection.js';
import { fill, h } from './dom.js';
import { jobPage } from './job-page.js';
import { jobsPage } from './jobs-page.js';

const main = document.getElementById('main')!;
const crumbs = document.getElementById('crumbs')!;
const conn = connection(document.getElementById('connection')!);
const parts = location.pathname.split('/').filter((p) => p !== '').map(decodeURIComponent);

if (parts[0] === 'namespaces' && parts[1] !== undefined && parts[2] === 'jobs' && parts[3] !== undefined) {
  document.title = `${parts[3]} · SimCLRJobs`;
  fill(crumbs, h('a', { href: `/namespaces/${encodeURIComponent(parts[1])}` }, parts[1]), ' / ', h('span', { 'aria-current': 'page' }, parts[3]));
  jobPage(main, conn, parts[1], parts[3]);
} else if (parts[0] === 'namespaces' && parts[1] !== undefined) {
  document.title = `${parts[1]} · SimCLRJobs`;
  fill(crumbs, h('span', { 'aria-current': 'page' }, parts[1]));
  jobsPage(main, conn, parts[1]);
} else {
  jobsPage(main, conn, undefined);
}
