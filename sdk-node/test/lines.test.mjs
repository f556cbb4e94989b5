// The line splitter and writer alone: chunk boundaries, the remainder, the
// limit, batching and backpressure.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventEmitter } from 'node:events';
import { LineReader, LineWriter } from '../src/lines.mjs';

/**
 * @param {number} maxLineBytes
 * @returns {{reader: LineReader, events: string[]}} a reader that records lines and "TOO LONG" events
 */
function recording(maxLineBytes) {
  /** @type {string[]} */
  const events = [];
  const reader = new LineReader(
    (line) => events.push(line.toString()),
    () => events.push('TOO LONG'),
    maxLineBytes,
  );
  return { reader, events };
}

test('lines split across chunks are joined, and the remainder waits', () => {
  const { reader, events } = recording(100);
  reader.push(Buffer.from('ab'));
  reader.push(Buffer.from('c\nde'));
  assert.deepEqual(events, ['abc']);
  reader.push(Buffer.from('f\n\ng\n'));
  assert.deepEqual(events, ['abc', 'def', '', 'g']);
});

test('a multi-byte character split between chunks comes out whole', () => {
  const { reader, events } = recording(100);
  const bytes = Buffer.from('é\n');
  reader.push(bytes.subarray(0, 1));
  reader.push(bytes.subarray(1));
  assert.deepEqual(events, ['é']);
});

test('a line of exactly the limit passes; one byte more is reported once and skipped', () => {
  const { reader, events } = recording(4);
  reader.push(Buffer.from('abcd\nabcde\nok\n'));
  assert.deepEqual(events, ['abcd', 'TOO LONG', 'ok']);
});

test('an over-long line spread over chunks is reported once and dropped up to its newline', () => {
  const { reader, events } = recording(4);
  reader.push(Buffer.from('abc'));
  reader.push(Buffer.from('def'));
  reader.push(Buffer.from('ghi'));
  reader.push(Buffer.from('jk\nnext\n'));
  assert.deepEqual(events, ['TOO LONG', 'next']);
});

test('the limit counts bytes of the line in progress, not of the chunk', () => {
  const { reader, events } = recording(4);
  reader.push(Buffer.from('ab'));
  reader.push(Buffer.from('cd\nef\n'));
  assert.deepEqual(events, ['abcd', 'ef']);
});

/**
 * A stream stand-in that records writes and says "full" while `full` is set.
 */
class FakeStream extends EventEmitter {
  /** @type {string[]} */
  chunks = [];
  full = false;
  sink = {
    stream: this,
    /** @type {(chunk: string, callback?: () => void) => boolean} */
    write: (chunk, callback) => {
      if (chunk !== '') this.chunks.push(chunk);
      if (callback) process.nextTick(callback);
      return !this.full;
    },
  };
}

test('lines written in one tick go out as one write', async () => {
  const stream = new FakeStream();
  const writer = new LineWriter(stream.sink);
  writer.writeLine('a');
  writer.writeLine('b');
  assert.deepEqual(stream.chunks, [], 'nothing written before the tick ends');
  await new Promise((resolve) => process.nextTick(resolve));
  assert.deepEqual(stream.chunks, ['a\nb\n']);
});

test('after a full write, lines wait for drain and then go out together', async () => {
  const stream = new FakeStream();
  const writer = new LineWriter(stream.sink);
  stream.full = true;
  writer.writeLine('1');
  await new Promise((resolve) => process.nextTick(resolve));
  writer.writeLine('2');
  writer.writeLine('3');
  await new Promise((resolve) => process.nextTick(resolve));
  assert.deepEqual(stream.chunks, ['1\n'], 'held back while the stream is full');
  stream.full = false;
  const flushed = writer.flush();
  stream.emit('drain');
  await flushed;
  assert.deepEqual(stream.chunks, ['1\n', '2\n3\n']);
});
