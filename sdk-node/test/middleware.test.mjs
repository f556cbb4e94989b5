// API middleware (Motia's `config.middleware`): run in the child around the
// handler, in order; the broker sees their names only.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Child, step } from './child.mjs';

const API = { type: 'api' };
const PROTECTED = step('middleware.step.ts');

/**
 * @param {Record<string, string>} headers
 * @param {Record<string, string>} [queryParams]
 */
const request = (headers, queryParams = {}) => ({ method: 'GET', path: '/protected', body: null, headers, pathParams: {}, queryParams });

describe('middleware', () => {
  /** @type {Child} */
  let child;
  /** @type {import('./child.mjs').Message} */
  let init;

  before(async () => {
    child = new Child();
    init = await child.initialize([PROTECTED, step('bad-middleware.step.mjs'), step('factory-middleware.step.ts')]);
  });
  after(() => child.close());

  test('the broker gets the middleware names in the config', () => {
    const [entry] = init.result.steps;
    assert.deepEqual(entry.config.middleware, ['logRequest', 'auth', 'misbehave']);
  });

  // Issue 18 item 13: Motia lists middleware as the step file writes them;
  // a factory's anonymous result is named by the call that made it.
  test('factory-made middleware is named by the call in the step file, an inline one by its place', () => {
    const entry = init.result.steps[2];
    assert.deepEqual(entry.config.middleware, ["requireRole('admin')", 'rateLimit({ perMinute: 10 })', 'middleware[2]']);
  });

  test('a middleware list that is not functions is a load error', () => {
    const entry = init.result.steps[1];
    assert.equal(entry.error.type, 'MiddlewareError');
    assert.match(entry.error.message, /config\.middleware\[0\] in .*bad-middleware\.step\.mjs must be a function, not string/);
  });

  test('middleware runs in order around the handler and may change req and the response', async () => {
    const response = await child.response(child.invoke(PROTECTED, API, request({ authorization: 'Bearer ok' })));
    assert.deepEqual(response.result, { status: 200, body: { user: 'alice' }, headers: { 'x-logged': 'yes' } });
    const before = await child.sent('log', (m) => m.params.message === 'before');
    const ran = await child.sent('log', (m) => m.params.message === 'handler ran');
    assert.deepEqual(before.params.fields, { path: '/protected' });
    assert.equal(ran.params.level, 'info');
  });

  test('a middleware that answers without calling next() skips the handler', async () => {
    const response = await child.response(child.invoke(PROTECTED, API, request({}), { invocationId: 'no-token' }));
    assert.deepEqual(response.result, { status: 401, body: { error: 'Unauthorized' }, headers: { 'x-logged': 'yes' } });
    // Logs are written before the answer, so a handler log would be here already.
    const logs = child.inbox.filter((m) => m.method === 'log' && m.params.invocationId === 'no-token');
    assert.deepEqual(
      logs.map((m) => m.params.message),
      ['before'],
    );
  });

  test('a refusal reaches the chain in place of the handler (invoke.refusal)', async () => {
    const refusal = { status: 400, body: { error: 'bad body', issues: [], traceId: 't' } };
    const trigger = { type: 'api', refusal };
    const refused = await child.response(child.invoke(PROTECTED, trigger, request({ authorization: 'Bearer ok' }), { invocationId: 'refused' }));
    assert.deepEqual(refused.result, { ...refusal, headers: { 'x-logged': 'yes' } });
    const logs = child.inbox.filter((m) => m.method === 'log' && m.params.invocationId === 'refused');
    assert.deepEqual(logs.map((m) => m.params.message), ['before']); // the handler did not run
    const stranger = await child.response(child.invoke(PROTECTED, trigger, request({})));
    assert.equal(stranger.result.status, 401);
    const bad = await child.response(child.invoke(PROTECTED, { type: 'api', refusal: 5 }, request({})));
    assert.equal(bad.error.code, -32602);
  });

  test('a middleware that throws fails the invocation like a handler', async () => {
    const response = await child.response(child.invoke(PROTECTED, API, request({ authorization: 'Bearer ok' }, { mode: 'throw' })));
    assert.equal(response.error.code, -32000);
    assert.equal(response.error.data.message, 'middleware exploded');
  });

  test('calling next() twice, or returning nothing, is a clear failure', async () => {
    const twice = await child.response(child.invoke(PROTECTED, API, request({ authorization: 'Bearer ok' }, { mode: 'twice' })));
    assert.equal(twice.error.data.type, 'MiddlewareError');
    assert.match(twice.error.data.message, /middleware misbehave called next\(\) more than once/);
    const nothing = await child.response(child.invoke(PROTECTED, API, request({ authorization: 'Bearer ok' }, { mode: 'nothing' })));
    assert.match(nothing.error.data.message, /middleware misbehave returned undefined: return a response/);
    assert.equal(nothing.error.data.retryable, false);
  });
});
