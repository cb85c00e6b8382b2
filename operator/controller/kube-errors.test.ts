import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiException } from '@kubernetes/client-node';
import { apiMessage, ignoreNotFound, isAlreadyExists, isConflict, isNotFound } from './kube-errors.js';

const apiErr = (code: number, reason: string): ApiException<string> =>
  new ApiException(code, 'x', JSON.stringify({ kind: 'Status', code, reason, message: `m-${reason}` }), {});

test('classifies NotFound, AlreadyExists and Conflict from client-node errors', () => {
  assert.equal(isNotFound(apiErr(404, 'NotFound')), true);
  assert.equal(isAlreadyExists(apiErr(409, 'AlreadyExists')), true);
  assert.equal(isConflict(apiErr(409, 'AlreadyExists')), false);
  assert.equal(isConflict(apiErr(409, 'Conflict')), true);
  assert.equal(isNotFound(new Error('boom')), false);
  assert.equal(apiMessage(apiErr(422, 'Invalid')), 'm-Invalid');
});

test('ignoreNotFound swallows 404 only', async () => {
  await ignoreNotFound(Promise.reject(apiErr(404, 'NotFound')));
  await assert.rejects(ignoreNotFound(Promise.reject(apiErr(500, 'InternalError'))));
});
