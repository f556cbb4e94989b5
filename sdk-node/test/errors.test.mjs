// ErrorInfo and JSON-safe values.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NonRetryableError } from '../src/index.mjs';
import { errorInfo, jsonSafeReplacer } from '../src/errors.mjs';

// The runtime class must match what index.d.ts promises (checked by tsc).
/** @type {typeof import('../index.js').NonRetryableError} */
const Declared = NonRetryableError;

test('errorInfo names a subclass by its class when it keeps the inherited name', () => {
  class QuotaExceeded extends Error {}
  const info = errorInfo(new QuotaExceeded('over'));
  assert.equal(info.type, 'QuotaExceeded');
  assert.equal(info.message, 'over');
  assert.equal(info.retryable, true);
});

test('NonRetryableError is an Error marked not retryable', () => {
  const err = new Declared('permanent', { cause: new Error('root') });
  assert.ok(err instanceof Error);
  assert.deepEqual({ ...errorInfo(err), stack: '' }, { type: 'NonRetryableError', message: 'permanent', stack: '', retryable: false });
});

test('errorInfo describes thrown non-Errors', () => {
  assert.deepEqual(errorInfo({ code: 7 }), { type: 'Object', message: '{"code":7}', stack: '', retryable: true });
  assert.equal(errorInfo(undefined).message, 'undefined');
  assert.equal(errorInfo(null).type, 'null');
  assert.equal(errorInfo({ retryable: false }).retryable, false);
});

test('the JSON-safe replacer cuts cycles only, not shared objects', () => {
  const shared = { n: 1 };
  /** @type {Record<string, unknown>} */
  const root = { a: shared, b: shared, list: [shared] };
  root.loop = { back: root };
  assert.deepEqual(JSON.parse(JSON.stringify(root, jsonSafeReplacer())), {
    a: { n: 1 },
    b: { n: 1 },
    list: [{ n: 1 }],
    loop: { back: '[Circular]' },
  });
});
