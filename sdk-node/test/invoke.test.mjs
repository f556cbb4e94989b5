// SPEC §2.2 and §2.3: invoking handlers, their context services, errors,
// timeouts and cancellation, with the test playing the broker.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Child, step } from './child.mjs';

const API = { type: 'api' };
const CRON = { type: 'cron' };
/** @param {string} topic */
const event = (topic) => ({ type: 'event', topic, eventId: `e-${topic}`, messageGroupId: null });

const STEPS = ['api.step.ts', 'flow.step.ts', 'behaviours.step.ts', 'plain.step.js', 'module.step.mjs', 'common.step.cjs', 'typed.step.cts', 'cron.step.mjs', 'noop.step.mjs', 'bad-result.step.mjs', 'zod-body.step.ts', 'bytes.step.mjs'].map(step);

describe('invoke', () => {
  /** @type {Child} */
  let child;

  before(async () => {
    child = new Child();
    const init = await child.initialize(STEPS);
    for (const entry of init.result.steps) assert.ok('config' in entry, JSON.stringify(entry));
  });
  after(() => child.close());

  /**
   * @param {unknown} input
   * @param {Record<string, unknown>} [extra]
   * @returns {string} the id of an invoke of the behaviours step
   */
  const behave = (input, extra) => child.invoke(step('behaviours.step.ts'), event('behave'), input, extra);

  test('an api handler gets the request and its result is the answer', async () => {
    const request = {
      method: 'POST',
      path: '/echo/42',
      body: { text: 'hi' },
      headers: { 'content-type': 'application/json' },
      pathParams: { id: '42' },
      queryParams: { tag: ['a', 'b'], q: 'x' },
    };
    const response = await child.response(child.invoke(step('api.step.ts'), API, request, { traceId: 'trace-api' }));
    assert.deepEqual(response.result, {
      status: 201,
      body: { method: 'POST', path: '/echo/42', body: { text: 'hi' }, pathParams: { id: '42' }, queryParams: { tag: ['a', 'b'], q: 'x' }, traceId: 'trace-api' },
      headers: { 'x-step': 'echo' },
    });
  });

  test('the handler gets the invocation\'s traceparent as sent (invoke.traceparent)', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const request = { method: 'POST', path: '/echo/1', body: null, headers: {}, pathParams: { id: '1' }, queryParams: {} };
    const response = await child.response(child.invoke(step('api.step.ts'), API, request, { traceparent }));
    assert.equal(response.result.body.traceparent, traceparent);
  });

  test('a base64 body is a Buffer to the handler and bytes go back as base64', async () => {
    const response = await child.response(child.invoke(step('bytes.step.mjs'), API, { body: 'AP8=', bodyEncoding: 'base64' }));
    assert.deepEqual(response.result, { status: 200, body: 'AP8A/w==', bodyEncoding: 'base64' });
  });

  test('.js, .mjs, .cjs and .cts handlers answer', async () => {
    const request = { method: 'GET', path: '/', body: null, headers: {}, pathParams: {}, queryParams: { a: '1' } };
    assert.deepEqual((await child.response(child.invoke(step('plain.step.js'), API, request))).result, { status: 200, body: { from: 'js', query: { a: '1' } } });
    assert.deepEqual((await child.response(child.invoke(step('module.step.mjs'), API, request))).result, { status: 200, body: { from: 'mjs' } });
    assert.deepEqual((await child.response(child.invoke(step('common.step.cjs'), API, request))).result, { status: 200, body: { from: 'cjs' } });
    assert.equal((await child.response(child.invoke(step('typed.step.cts'), event('cts'), {}))).result, null);
  });

  // zod's semantics (issue 18, item 4): z.object() strips unknown keys, so
  // the handler gets the body zod would give; middleware runs first and sees it as sent.
  test('a handler with a zod body schema gets the body without the keys zod strips', async () => {
    const sent = { name: 'Rex', extra: true, owner: { id: 1, secret: 'x' } };
    const response = await child.response(child.invoke(step('zod-body.step.ts'), API, { method: 'POST', path: '/zod-body', body: sent, headers: {}, pathParams: {}, queryParams: {} }));
    assert.deepEqual(response.result, { status: 200, body: { handler: { name: 'Rex', owner: { id: 1 } }, middleware: sent } });
  });

  test('an event handler answers null whatever it returns', async () => {
    const id = behave({ action: 'ok' });
    assert.deepEqual(await child.response(id), { jsonrpc: '2.0', id, result: null });
  });

  // rpc.concurrent, invoke.context: each call carries its invocation's id; events see topic, eventId, attempt.
  test('two event invocations use emit and state concurrently, answered out of order', async () => {
    const counter = step('flow.step.ts');
    const first = child.invoke(counter, event('count'), { key: 'a' }, { invocationId: 'inv-a', attempt: 2 });
    const second = child.invoke(counter, event('count'), { key: 'b' }, { invocationId: 'inv-b' });
    /** @param {string} invocationId */
    const from = (invocationId) => (/** @type {import('./child.mjs').Message} */ m) => m.params.invocationId === invocationId;

    const getA = await child.sent('state.get', from('inv-a'));
    const getB = await child.sent('state.get', from('inv-b'));
    assert.deepEqual(getA.params, { invocationId: 'inv-a', groupId: 'counters', key: 'a' });
    assert.notEqual(getA.id, getB.id);
    child.reply(getB, 10);
    child.reply(getA, null);

    const setB = await child.sent('state.set', from('inv-b'));
    const setA = await child.sent('state.set', from('inv-a'));
    assert.deepEqual(setA.params, { invocationId: 'inv-a', groupId: 'counters', key: 'a', value: 1 });
    assert.deepEqual(setB.params, { invocationId: 'inv-b', groupId: 'counters', key: 'b', value: 11 });
    child.reply(setA, 1);
    child.reply(setB, 11);

    const emitA = await child.sent('emit', from('inv-a'));
    const emitB = await child.sent('emit', from('inv-b'));
    assert.deepEqual(emitA.params, { invocationId: 'inv-a', topic: 'counted', data: { key: 'a', stored: 1 } });
    assert.deepEqual(emitB.params.data, { key: 'b', stored: 11 });
    child.reply(emitB, { eventId: 'ev-b' });
    child.reply(emitA, { eventId: 'ev-a' });

    assert.equal((await child.response(second)).result, null);
    assert.equal((await child.response(first)).result, null);
    const logA = await child.sent('log', from('inv-a'));
    assert.deepEqual(logA.params, {
      invocationId: 'inv-a',
      level: 'info',
      message: 'counted',
      fields: { key: 'a', stored: 1, emitted: 'ev-a', topic: 'count', eventId: 'e-count', attempt: 2 },
    });
    assert.equal('id' in logA, false, 'log is a notification');
    assert.equal((await child.sent('log', from('inv-b'))).params.fields.emitted, 'ev-b');
  });

  test('a broker error answer rejects in the handler, which then fails', async () => {
    const id = behave({ action: 'wait-state', group: 'err' });
    const get = await child.sent('state.get', (m) => m.params.groupId === 'err');
    child.send({ jsonrpc: '2.0', id: get.id, error: { code: -32006, message: 'unknown invocation', data: { why: 'test' } } });
    const { error } = await child.response(id);
    assert.equal(error.code, -32000);
    assert.equal(error.data.type, 'RpcError');
    assert.equal(error.data.message, 'unknown invocation');
  });

  test('a thrown error answers -32000 with its type, message, stack, retryable', async () => {
    const { error } = await child.response(behave({ action: 'throw' }));
    assert.equal(error.code, -32000);
    assert.equal(error.data.type, 'RangeError');
    assert.equal(error.data.message, 'out of range');
    assert.match(error.data.stack, /RangeError: out of range\n\s+at /);
    assert.equal(error.data.retryable, true);
  });

  test('NonRetryableError, or any error with retryable = false, is not retryable', async () => {
    const nonRetryable = (await child.response(behave({ action: 'throw-nonretryable' }))).error;
    assert.equal(nonRetryable.code, -32000);
    assert.equal(nonRetryable.data.type, 'NonRetryableError');
    assert.equal(nonRetryable.data.retryable, false);
    const permanent = (await child.response(behave({ action: 'throw-permanent' }))).error;
    assert.equal(permanent.data.type, 'PermanentError');
    assert.equal(permanent.data.retryable, false);
  });

  test('a thrown non-Error is stringified', async () => {
    const { error } = await child.response(behave({ action: 'throw-string' }));
    assert.equal(error.code, -32000);
    assert.equal(error.data.message, 'a plain string');
    assert.equal(error.data.retryable, true);
  });

  test('an api handler that returns no status fails, not retryable', async () => {
    const { error } = await child.response(child.invoke(step('bad-result.step.mjs'), API, {}));
    assert.equal(error.code, -32000);
    assert.equal(error.data.type, 'InvalidApiResponse');
    assert.equal(error.data.retryable, false);
  });

  test('a handler over its timeoutMs is answered -32001 and its signal aborts', async () => {
    const id = behave({ action: 'wait-abort' }, { timeoutMs: 50, invocationId: 'inv-timeout' });
    const { error } = await child.response(id);
    assert.equal(error.code, -32001);
    const log = await child.sent('log', (m) => m.params.invocationId === 'inv-timeout');
    assert.deepEqual(log.params.fields, { reason: 'TimeoutError' });
  });

  test('$/cancel aborts a running handler and answers -32002', async () => {
    const id = behave({ action: 'hang' });
    child.send({ jsonrpc: '2.0', method: '$/cancel', params: { id } });
    assert.equal((await child.response(id)).error.code, -32002);
  });

  // invoke.cancel, rpc.answer-once: a finished invocation keeps its one answer.
  test('$/cancel of a finished or unknown invocation is ignored', async () => {
    const id = behave({ action: 'ok' });
    assert.equal((await child.response(id)).result, null);
    child.send({ jsonrpc: '2.0', method: '$/cancel', params: { id } });
    child.send({ jsonrpc: '2.0', method: '$/cancel', params: { id: 'never-sent' } });
    assert.deepEqual((await child.request('ping')).result, {});
    assert.deepEqual(child.inbox, []);
  });

  test('ping is answered while a handler is still running', async () => {
    const slow = behave({ action: 'wait-state', group: 'slow' });
    const get = await child.sent('state.get', (m) => m.params.groupId === 'slow');
    assert.deepEqual((await child.request('ping')).result, {});
    child.reply(get, null);
    assert.equal((await child.response(slow)).result, null);
  });

  test('console output and stdout writes from a handler go to stderr', async () => {
    assert.equal((await child.response(behave({ action: 'console' }))).result, null);
    for (const mark of ['LOG-MARK', 'INFO-MARK', 'DEBUG-MARK', 'DIR-MARK', 'TABLE-MARK', 'WRITE-MARK']) await child.stderrContains(mark);
    assert.deepEqual(child.garbage, []);
  });

  test('log fields are made JSON-safe: errors kept, cycles cut, bigints as strings', async () => {
    const id = behave({ action: 'log-fields' }, { invocationId: 'inv-fields' });
    assert.equal((await child.response(id)).result, null);
    const { params } = await child.sent('log', (m) => m.params.invocationId === 'inv-fields');
    assert.equal(params.level, 'error');
    assert.equal(params.fields.err.name, 'TypeError');
    assert.equal(params.fields.err.message, 'inner');
    assert.match(params.fields.err.stack, /TypeError: inner/);
    assert.deepEqual(params.fields.cyclic, { name: 'loop', self: '[Circular]' });
    assert.equal(params.fields.big, '10');
  });

  test('a cron handler receives only the context', async () => {
    const id = child.invoke(step('cron.step.mjs'), CRON, null, { invocationId: 'inv-cron' });
    assert.equal((await child.response(id)).result, null);
    const log = await child.sent('log', (m) => m.params.invocationId === 'inv-cron');
    assert.deepEqual(log.params.fields, { argc: 1, hasEmit: true });
  });

  test('an unknown step is answered -32003', async () => {
    assert.equal((await child.response(child.invoke(step('nope.step.ts'), API, {}))).error.code, -32003);
    assert.equal((await child.response(child.invoke(step('noop.step.mjs'), API, {}))).error.code, -32003);
  });

  test('bad invoke params name the field', async () => {
    const cases = [
      [{ step: 42 }, '$.params.step'],
      [{ trigger: 'api' }, '$.params.trigger'],
      [{ trigger: { type: 'queue' } }, '$.params.trigger.type'],
      [{ trigger: { type: 'event', eventId: 'e' } }, '$.params.trigger.topic'],
      [{ invocationId: 7 }, '$.params.invocationId'],
      [{ timeoutMs: 'soon' }, '$.params.timeoutMs'],
    ];
    for (const [params, path] of cases) {
      const id = child.invoke(step('api.step.ts'), API, {}, /** @type {Record<string, unknown>} */ (params));
      const { error } = await child.response(id);
      assert.equal(error.code, -32602, JSON.stringify(params));
      assert.deepEqual(error.data, { path });
    }
  });
});
