// The seed's flags that map onto ours or are refused up front (issue 23): optimizer names and --representation-size.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, helpText, parseArgs } from './index.js';

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
    assert.ok(!err.message.includes('\n'), 'one line');
    return err;
  }
  assert.fail('expected a ConfigError');
}

test('the seed\'s optimizer names that are our updates map onto ours', () => {
  assert.equal(parseArgs(['--optimizer=lars_momentum']).optimizer, 'lars'); // the seed's default
  assert.equal(parseArgs(['--optimizer=momentum']).optimizer, 'sgd');
  assert.equal(parseArgs(['--optimizer', ' LARS_Momentum ']).optimizer, 'lars'); // the seed lower-cases and strips
  assert.equal(parseArgs(['--optimizer=adam']).optimizer, 'adam');
  assert.match(helpText(), /seed's names: lars_momentum = lars, momentum = sgd/);
});

test('the seed\'s optimizer names we cannot compute are refused with the nearest equivalent', () => {
  const cases: Array<[string, RegExp]> = [
    ['lars_sgd', /--optimizer=lars_sgd .*seed.*--optimizer=lars --momentum=0/],
    ['lars_adam', /--optimizer=lars_adam .*use --optimizer=lars/],
    ['lars_rmsprop', /--optimizer=lars_rmsprop .*use --optimizer=lars/],
    ['rmsprop', /RMSprop is not implemented/],
    ['adadelta', /Adadelta is not implemented/],
    ['lbfgs', /L-BFGS is not implemented/],
    ['lamb', /LAMB .* is not implemented/],
  ];
  for (const [name, pattern] of cases) {
    const err = errorOf(() => parseArgs([`--optimizer=${name}`]));
    assert.equal(err.flag, 'optimizer');
    assert.match(err.message, pattern);
  }
  // Neither ours nor the seed's: the schema's error lists ours.
  assert.match(errorOf(() => parseArgs(['--optimizer=nadam'])).message, /allowed: lars\|sgd\|adam\|adamw/);
});

test('--representation-size is refused with what sets the representation width', () => {
  for (const value of ['2048', '512']) {
    const err = errorOf(() => parseArgs([`--representation-size=${value}`]));
    assert.equal(err.flag, 'representation-size');
    assert.match(err.message, /seed implementation: the representation is the encoder's pooled output.*--arch and --width-multiplier.*drop the flag/);
  }
  assert.ok(!helpText().includes('--representation-size'), 'not offered in --help');
});
