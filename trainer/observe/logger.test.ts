import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, formatLogLine } from './logger.js';

function sink(isTTY: boolean): { lines: string[]; isTTY: boolean; write(chunk: string): boolean } {
  const lines: string[] = [];
  return { lines, isTTY, write: (chunk: string) => lines.push(chunk) > 0 };
}

test('not a TTY: one JSON object per line with the bound fields', () => {
  const dest = sink(false);
  const log = createLogger({ destination: dest, bindings: { uid: 'run', rank: 0 } });
  log.info({ step: 3, loss: 5.5 }, 'step done');
  log.debug('hidden at the default level');
  assert.equal(dest.lines.length, 1);
  const record = JSON.parse(dest.lines[0]);
  assert.deepEqual([record.level, record.msg, record.uid, record.rank, record.step, record.loss], [30, 'step done', 'run', 0, 3, 5.5]);
  assert.ok(dest.lines[0].endsWith('\n'));
});

test('a TTY: compact human lines; the level option filters', () => {
  const dest = sink(true);
  const log = createLogger({ destination: dest, level: 'warn' });
  log.info('dropped');
  log.warn({ path: '/ckpt/a', step: 2 }, 'skipping checkpoint');
  assert.equal(dest.lines.length, 1);
  assert.match(dest.lines[0], /^\r\x1b\[K\d\d:\d\d:\d\d\.\d{3} WARN  skipping checkpoint path=\/ckpt\/a step=2\n$/);
  assert.equal(formatLogLine('not json'), 'not json');
});
