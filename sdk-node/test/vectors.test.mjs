// The golden vectors of protocol/vectors/ against the real child (SPEC §10).
// Lines addressed to the child (or to either side) are written to a running
// runner; each must get the outcome its vector names. Lines addressed to the
// broker must at least classify as well-formed messages.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { classify } from '../src/rpc.mjs';
import { Child, SDK_DIR, within } from './child.mjs';

const VECTORS = path.join(SDK_DIR, '..', 'protocol', 'vectors');

/** Codes that mean a line was refused as a message; an accepted request never gets one. */
const PROTOCOL_ERRORS = new Set([-32700, -32600, -32601, -32602, -32005]);

/**
 * @typedef {{outcome: 'accept' | 'ignore' | 'error', code?: number, id?: string | number | null, dataPath?: string}} Expect
 * @typedef {{name: string, to: 'child' | 'broker' | 'either', message?: any, text?: string, base64?: string,
 *   pattern?: {prefix: string, fill: string, suffix: string, bytes: number}, lenient?: string, expect: Expect}} Vector
 */

/**
 * @param {string} name
 * @returns {{maxLineBytes: number, vectors: Vector[]}}
 */
function load(name) {
  return JSON.parse(readFileSync(path.join(VECTORS, name), 'utf8'));
}

const valid = load('valid.json');
const MAX_LINE = valid.maxLineBytes;
const EVERY = [...valid.vectors, ...load('invalid.json').vectors];
// `lenient` vectors (ids written 7.0 or 7e0) get their own test below: JSON.parse
// reads them as 7, which the spec allows a receiver that cannot tell (`rpc.ids`).
const ALL = EVERY.filter((v) => !v.lenient);
const LENIENT = EVERY.filter((v) => v.lenient);

/**
 * The vector's line, without its newline (protocol/vectors/README.md).
 *
 * @param {Vector} vector
 * @returns {Buffer}
 */
function lineOf(vector) {
  if ('message' in vector) return Buffer.from(JSON.stringify(vector.message));
  if (vector.text !== undefined) return Buffer.from(vector.text);
  if (vector.base64 !== undefined) return Buffer.from(vector.base64, 'base64');
  const pattern = /** @type {NonNullable<Vector['pattern']>} */ (vector.pattern);
  const fill = pattern.fill.repeat(pattern.bytes - Buffer.byteLength(pattern.prefix) - Buffer.byteLength(pattern.suffix));
  return Buffer.from(pattern.prefix + fill + pattern.suffix);
}

/**
 * @param {Vector} vector
 * @returns {any} the line as JSON, or undefined when it is not JSON
 */
function parsed(vector) {
  try {
    return JSON.parse(lineOf(vector).toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * `initialize` must meet a child that was not initialized; `shutdown` ends one.
 *
 * @param {Vector} vector
 * @returns {boolean}
 */
function needsFreshChild(vector) {
  const method = vector.message?.method;
  return method === 'initialize' || method === 'shutdown';
}

let barriers = 0;

/**
 * Sends the vector's line and checks the child's answer against `expect`.
 *
 * @param {Child} child
 * @param {Vector} vector
 */
async function check(child, vector) {
  const expect = vector.expect;
  child.write(Buffer.concat([lineOf(vector), Buffer.from('\n')]));
  if (expect.outcome === 'error') {
    const answer = await child.next((m) => 'error' in m && m.id === expect.id, `the error answer to ${vector.name}`);
    assert.equal(answer.error.code, expect.code, JSON.stringify(answer));
    if (expect.dataPath !== undefined) assert.equal(answer.error.data?.path, expect.dataPath, JSON.stringify(answer));
  } else {
    const message = parsed(vector);
    if (message !== null && typeof message === 'object' && 'method' in message && 'id' in message) {
      const answer = await child.response(message.id);
      assert.ok(!PROTOCOL_ERRORS.has(answer.error?.code), JSON.stringify(answer));
    }
  }
  // A barrier: lines are read in order, so anything more this line caused
  // would come before the barrier's answer.
  const barrier = `barrier-${barriers++}`;
  child.send({ jsonrpc: '2.0', id: barrier, method: 'ping', params: {} });
  assert.deepEqual((await child.response(barrier)).result, {});
  assert.deepEqual(child.inbox, [], `unexpected messages after ${vector.name}`);
}

describe('vectors for a ready child', () => {
  /** @type {Child} */
  let child;

  before(async () => {
    child = new Child();
    assert.ok((await child.initialize([], { maxLineBytes: MAX_LINE })).result);
  });
  after(() => child.close());

  for (const vector of ALL.filter((v) => v.to !== 'broker' && !needsFreshChild(v))) {
    test(vector.name, () => check(child, vector));
  }

  test('nothing but protocol lines reached stdout', () => {
    assert.deepEqual(child.garbage, []);
  });
});

describe('initialize and shutdown vectors, each on a fresh child', () => {
  for (const vector of ALL.filter((v) => v.to !== 'broker' && needsFreshChild(v))) {
    test(vector.name, async () => {
      const child = new Child();
      try {
        if (vector.message.method === 'shutdown') {
          assert.ok((await child.initialize([])).result);
          child.write(Buffer.concat([lineOf(vector), Buffer.from('\n')]));
          assert.equal((await child.response(vector.message.id)).result, null);
          assert.deepEqual(await within(child.exited, 'the exit'), { code: 0, signal: null });
        } else {
          await check(child, vector);
        }
      } finally {
        await child.close();
      }
    });
  }
});

describe('lines for the broker classify as well-formed messages', () => {
  for (const vector of ALL.filter((v) => v.to === 'broker')) {
    test(vector.name, () => {
      assert.ok(['request', 'notification', 'response'].includes(classify(lineOf(vector)).kind));
    });
  }
});

// The one place this SDK departs from a vector's `expect`, as the vector allows
// (SPEC `rpc.ids`; the README says so under "Ids"): JSON.parse cannot tell an id written 7.0 or
// 7e0 from 7, so such a request is served as request 7, not refused -32600.
describe('lenient vectors: an id written 7.0 or 7e0 is taken as 7', () => {
  /** @type {Child} */
  let child;

  before(async () => {
    child = new Child();
    assert.ok((await child.initialize([], { maxLineBytes: MAX_LINE })).result);
  });
  after(() => child.close());

  test('the vectors that allow it are exactly those', () => {
    assert.deepEqual(
      LENIENT.map((v) => v.name),
      ['request-id-fraction-form', 'request-id-exponent-form'],
    );
  });

  for (const vector of LENIENT) {
    test(vector.name, async () => {
      child.write(Buffer.concat([lineOf(vector), Buffer.from('\n')]));
      const answer = await child.response(7);
      assert.deepEqual(answer, { jsonrpc: '2.0', id: 7, result: {} });
      assert.deepEqual(child.inbox, [], `unexpected messages after ${vector.name}`);
    });
  }
});
