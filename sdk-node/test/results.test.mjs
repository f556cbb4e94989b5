// invoke.result: what an api handler returns must fit the wire; when it does
// not, the invocation fails as the handler's own, non-retryable, failure.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Child, step } from './child.mjs';

/** @type {Child} */
let child;

before(async () => {
  child = new Child();
  assert.ok((await child.initialize([step('bad-result.step.mjs'), step('unsendable.step.mjs'), step('half-emoji.step.mjs')])).result);
});
after(() => child.close());

test('a result JSON cannot hold fails with -32000, not retryable', async () => {
  const { error } = await child.response(child.invoke(step('unsendable.step.mjs'), { type: 'api' }, {}));
  assert.equal(error.code, -32000);
  assert.equal(error.data.type, 'TypeError');
  assert.equal(error.data.retryable, false);
});

test('a result without an integer status fails as InvalidApiResponse, not retryable', async () => {
  const { error } = await child.response(child.invoke(step('bad-result.step.mjs'), { type: 'api' }, {}));
  assert.equal(error.code, -32000);
  assert.equal(error.data.type, 'InvalidApiResponse');
  assert.equal(error.data.retryable, false);
});

test('half of an emoji is sent as U+FFFD in results, logs and requests, never as a lone escape', async () => {
  // framing.utf8.replace: the broker refuses "\\ud83d" alone (framing.utf8); the call goes through.
  const id = child.invoke(step('half-emoji.step.mjs'), { type: 'api' }, {});
  const emit = await child.next((m) => m.method === 'emit', 'the emit');
  assert.deepEqual(emit.params.data, { text: '\ufffd' });
  child.send({ jsonrpc: '2.0', id: emit.id, result: { eventId: 'e-1' } });
  const { result } = await child.response(id);
  assert.deepEqual(result.body, { text: 'cut \ufffd', '\ufffd': 'a key' });
  const log = child.inbox.find((m) => m.method === 'log' && String(m.params.message).startsWith('logged'));
  assert.equal(log?.params.message, 'logged \ufffd');
});
