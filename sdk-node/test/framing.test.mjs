// SPEC §1 and the generic parts of §2: bad lines are answered as values and
// the child keeps reading after each.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Child } from './child.mjs';

describe('bad input', () => {
  /** @type {Child} */
  let child;

  before(async () => {
    child = new Child();
    // rpc.bad-params on initialize comes first: a refused initialize leaves the child uninitialized.
    const bad = await child.initialize(['/abs/ok.step.mjs', 3]);
    assert.equal(bad.error.code, -32602);
    assert.deepEqual(bad.error.data, { path: '$.params.steps[1]' });
    // A small line limit, so an over-long line is cheap to send.
    assert.ok((await child.initialize([], { maxLineBytes: 1024 })).result);
  });
  after(() => child.close());

  /** Proves the child still answers after what came before. */
  async function stillServes() {
    assert.deepEqual((await child.request('ping')).result, {});
  }

  /**
   * @param {string | Uint8Array} line
   * @returns {Promise<import('./child.mjs').Message>} the error answer to that line
   */
  async function answerTo(line) {
    child.write(line);
    return child.next((m) => 'error' in m, `an error answer to ${JSON.stringify(String(line))}`);
  }

  test('malformed JSON gets -32700 with a null id', async () => {
    const answer = await answerTo('{"jsonrpc":"2.0","id":1,"method":\n');
    assert.equal(answer.id, null);
    assert.equal(answer.error.code, -32700);
    await stillServes();
  });

  test('invalid UTF-8 gets -32700 with the id the line starts with (rpc.undecodable), else a null id', async () => {
    const bad = Buffer.from([0xc3, 0x28]);
    const answer = await answerTo(Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"'), bad, Buffer.from('"}}\n')]));
    assert.equal(answer.id, 1);
    assert.equal(answer.error.code, -32700);
    assert.match(answer.error.message, /not valid UTF-8/);
    const headless = await answerTo(Buffer.concat([Buffer.from('{"params":{"x":"'), bad, Buffer.from('"},"jsonrpc":"2.0","id":1,"method":"ping"}\n')]));
    assert.equal(headless.id, null);
    assert.equal(headless.error.code, -32700);
    await stillServes();
  });

  test('JSON that is not a JSON-RPC object gets -32600', async () => {
    for (const line of ['42', '[{"jsonrpc":"2.0","id":1,"method":"ping"}]', 'null', '"ping"']) {
      const answer = await answerTo(line + '\n');
      assert.equal(answer.error.code, -32600, line);
      assert.equal(answer.id, null, line);
    }
    const wrongVersion = await answerTo('{"jsonrpc":"1.0","id":"v1","method":"ping"}\n');
    assert.equal(wrongVersion.error.code, -32600);
    assert.equal(wrongVersion.id, 'v1', 'the id is echoed when it can be read');
    const noMethod = await answerTo('{"jsonrpc":"2.0","id":"v2"}\n');
    assert.equal(noMethod.error.code, -32600);
    assert.equal(noMethod.id, 'v2');
    await stillServes();
  });

  test('an unknown method gets -32601 with its id; an unknown notification is ignored', async () => {
    child.send({ jsonrpc: '2.0', method: 'no.such.notification', params: {} });
    const response = await child.request('no.such.method', {});
    assert.equal(response.error.code, -32601);
    assert.deepEqual(child.inbox, [], 'nothing answered the notification');
    await stillServes();
  });

  test('params that are not an object get -32602', async () => {
    const id = 'p1';
    child.send({ jsonrpc: '2.0', id, method: 'ping', params: [1, 2] });
    const response = await child.response(id);
    assert.equal(response.error.code, -32602);
    assert.deepEqual(response.error.data, { path: '$.params' });
  });

  test('a response to an id the child never sent is ignored', async () => {
    child.send({ jsonrpc: '2.0', id: 999_999, result: { surprise: true } });
    child.send({ jsonrpc: '2.0', id: 'not-ours', error: { code: 1, message: 'x' } });
    await stillServes();
    assert.deepEqual(child.inbox, []);
  });

  test('an error response with a null id is logged, never answered', async () => {
    child.send({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'PARSE-MARK' } });
    await stillServes();
    assert.deepEqual(child.inbox, []);
    await child.stderrContains('PARSE-MARK');
  });

  test('a line over maxLineBytes gets -32005 with a null id, and the next line is read', async () => {
    const padded = JSON.stringify({ jsonrpc: '2.0', id: 'big', method: 'ping', params: { pad: 'x'.repeat(5000) } });
    const answer = await answerTo(padded + '\n');
    assert.equal(answer.id, null);
    assert.equal(answer.error.code, -32005);
    await stillServes();
    assert.equal(child.inbox.length, 0, 'the over-long request itself was not answered');
  });

  test('an over-long line arriving in pieces is discarded up to its newline', async () => {
    child.write('{"jsonrpc":"2.0","id":"big2","method":"ping","params":{"pad":"' + 'y'.repeat(900));
    child.write('y'.repeat(900));
    child.write('y'.repeat(900) + '"}}\n{"jsonrpc":"2.0","id":"after","method":"ping"}\n');
    const answer = await child.next((m) => 'error' in m, 'the line-too-long answer');
    assert.equal(answer.error.code, -32005);
    assert.deepEqual((await child.response('after')).result, {});
    assert.deepEqual(child.inbox, [], 'exactly one error for the long line');
  });

  test('a line of exactly maxLineBytes is accepted', async () => {
    const head = '{"jsonrpc":"2.0","id":"edge","method":"ping","params":{"pad":"';
    const tail = '"}}';
    child.write(head + 'z'.repeat(1024 - head.length - tail.length) + tail + '\n');
    assert.deepEqual((await child.response('edge')).result, {});
  });

  // framing.channels: stdout carries protocol lines only.
  test('nothing but protocol lines ever reached stdout', () => {
    assert.deepEqual(child.garbage, []);
  });
});
