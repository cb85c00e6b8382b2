import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressBar, formatDuration, renderBar } from './progress-bar.js';

function stream(isTTY: boolean): { out: string[]; isTTY: boolean; columns: number; write(s: string): boolean } {
  const out: string[] = [];
  return { out, isTTY, columns: 80, write: (s: string) => out.push(s) > 0 };
}

test('renders the fraction, counts, fields and ETA within the width', () => {
  const line = renderBar({ label: 'epoch 1/10', current: 117, total: 234, fields: { loss: '5.12' }, etaSeconds: 75 }, 80);
  assert.match(line, /^epoch 1\/10 \[#+\.+\] 117\/234 \| loss 5\.12 \| eta 1m15s$/);
  const bar = /\[([#.]+)\]/.exec(line)?.[1] ?? '';
  assert.equal(bar.split('#').length - 1, Math.round(bar.length / 2));
  assert.ok(renderBar({ label: 'x'.repeat(100), current: 1, total: 2 }, 60).length <= 60);
  assert.deepEqual([formatDuration(5), formatDuration(3700), formatDuration(NaN)], ['5s', '1h01m', '?']);
});

test('draws only on a TTY, throttled, always drawing the final state', () => {
  const piped = stream(false);
  const quiet = new ProgressBar(piped);
  quiet.update({ label: 'a', current: 1, total: 2 });
  quiet.done();
  assert.deepEqual(piped.out, []);
  const tty = stream(true);
  const bar = new ProgressBar(tty, 100);
  bar.update({ label: 'a', current: 1, total: 10 }, 1000);
  bar.update({ label: 'a', current: 2, total: 10 }, 1050); // throttled
  bar.update({ label: 'a', current: 10, total: 10 }, 1060); // final: drawn anyway
  bar.done();
  assert.equal(tty.out.length, 3);
  assert.match(tty.out[1], /10\/10/);
  assert.equal(tty.out[2], '\n');
});
