// startInformer against a scripted fake apiserver: 410 Gone on the watch -> relist; a failing list -> retried.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { pino } from 'pino';
import { podLister, podsPath, startInformer } from './informers.js';

const pod = (name: string, rv: string): V1Pod => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'ml', resourceVersion: rv,
    labels: { 'simclr.dev/job-name': 'j' } },
});

type Script = { lists: number; watches: number; list(n: number): V1Pod[] | 'fail'; watch(n: number, res: ServerResponse): void };

async function fakeApiserver(script: Script): Promise<{ kc: KubeConfig; close(): void }> {
  const open = new Set<ServerResponse>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/api/v1/pods') {
      res.writeHead(404).end();
      return;
    }
    if (url.searchParams.get('watch') === 'true') {
      open.add(res);
      res.writeHead(200, { 'content-type': 'application/json' });
      script.watch(++script.watches, res);
      return;
    }
    const items = script.list(++script.lists);
    if (items === 'fail') {
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code: 500 }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: String(10 * script.lists) },
      items }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return { kc, close: () => { for (const r of open) r.destroy(); server.close(); } };
}

const until = async (what: string, ok: () => boolean): Promise<void> => {
  const deadline = Date.now() + 5000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

test('a watch that ends with 410 Gone is followed by a fresh list; deletions seen in the relist are delivered', async () => {
  const script: Script = {
    lists: 0, watches: 0,
    list: (n) => (n === 1 ? [pod('a', '1'), pod('b', '2')] : [pod('a', '1')]),
    watch: (n, res) => {
      if (n === 1) res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } })}\n`);
      // later watches stay open
    },
  };
  const api = await fakeApiserver(script);
  const changed: string[] = [];
  const inf = await startInformer(api.kc, podsPath(undefined), podLister(api.kc, undefined),
    { onChange: (p) => changed.push(p.metadata?.name ?? '') }, pino({ level: 'silent' }), 'simclr.dev/job-name');
  try {
    await until('relist after 410', () => script.lists >= 2);
    await until('b removed from the cache', () => inf.get('b', 'ml') === undefined);
    assert.deepEqual(inf.list().map((p) => p.metadata?.name), ['a']);
    assert.ok(changed.filter((n) => n === 'b').length >= 2, 'b added then deleted');
  } finally {
    await inf.stop();
    api.close();
  }
});

test('a failing list is retried with backoff until it works', async () => {
  const script: Script = {
    lists: 0, watches: 0,
    list: (n) => (n === 1 ? 'fail' : [pod('c', '3')]),
    watch: () => {},
  };
  const api = await fakeApiserver(script);
  const inf = await startInformer(api.kc, podsPath(undefined), podLister(api.kc, undefined),
    { onChange: () => {} }, pino({ level: 'silent' }));
  try {
    await until('second list', () => inf.get('c', 'ml') !== undefined);
    assert.equal(script.lists, 2);
  } finally {
    await inf.stop();
    api.close();
  }
});
