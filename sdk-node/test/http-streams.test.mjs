// Streamed HTTP in the Node SDK: the request body read with `http.read`
// (SPEC http.body-stream) as a Readable at ctx.bodyStream, and the response
// written with `http.write` (http.stream) from ctx.streamResponse.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Child, step } from './child.mjs';

const STREAMED = { method: 'POST', path: '/body', body: null, bodyStream: true, headers: {}, pathParams: {}, queryParams: {} };

/** @param {string} text @param {boolean} [done] */
const piece = (text, done = false) => ({ chunk: Buffer.from(text).toString('base64'), done });

/** @param {Child} child */
async function nextWrite(child) {
  const write = await child.sent('http.write');
  child.reply(write, null);
  return { params: write.params, chunk: Buffer.from(write.params.chunk, 'base64').toString() };
}

test('a body is pulled one http.read at a time, each waiting for its answer', async () => {
  const child = new Child();
  try {
    await child.initialize([step('body-stream.step.mjs')]);
    const id = child.invoke(step('body-stream.step.mjs'), { type: 'api' }, STREAMED);
    const first = await child.sent('http.read');
    assert.equal(typeof first.params.invocationId, 'string');
    await child.response(child.call('ping'));
    assert.equal(child.inbox.filter((m) => m.method === 'http.read').length, 0, 'a second read before the first was answered');
    child.reply(first, piece('abc'));
    const head = await nextWrite(child);
    assert.deepEqual([head.params.status, head.params.headers, head.chunk], [202, { 'x-kind': 'sizes' }, '3\n']);
    child.reply(await child.sent('http.read'), piece('x'.repeat(5000)));
    const second = await nextWrite(child);
    assert.equal(second.params.status, undefined);
    assert.equal(second.chunk, '5000\n');
    child.reply(await child.sent('http.read'), piece('', true));
    assert.deepEqual((await child.response(id)).result, { status: 200, body: { total: 5003 } });
  } finally {
    child.close();
  }
});

test('a body cut short fails the stream with a BodyStreamError carrying the reason', async () => {
  const child = new Child();
  try {
    await child.initialize([step('body-stream.step.mjs')]);
    const id = child.invoke(step('body-stream.step.mjs'), { type: 'api' }, STREAMED);
    child.reply(await child.sent('http.read'), piece('ab'));
    await nextWrite(child);
    child.reply(await child.sent('http.read'), { chunk: '', done: true, error: 'the client closed the connection' });
    assert.equal((await nextWrite(child)).chunk, 'cut: BodyStreamError: the client closed the connection\n');
    assert.deepEqual((await child.response(id)).result, { status: 200, body: { total: 2 } });
  } finally {
    child.close();
  }
});
