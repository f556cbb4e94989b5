// invoke.result: what an api handler returns must fit the wire; when it does
// not, the invocation fails as the handler's own, non-retryable, failure.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Child, step } from './child.mjs';

/** @type {Child} */
let child;

before(async () => {
  child = new Child();
  assert.ok((await child.initialize([step('bad-result.step.mjs'), step('unsendable.step.mjs')])).result);
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
