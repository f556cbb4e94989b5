// Streams in the Node SDK: stream files loaded through initialize.streams, and
// ctx.streams.<name> as stream.* requests (SPEC §4).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Child, step } from './child.mjs';

// lifecycle.streams: one entry per path, in order; zod becomes JSON Schema; a broken file is its own error.
test('stream files load with their zod schema as JSON Schema, one entry each', async () => {
  const child = new Child();
  try {
    const files = [step('todo.stream.ts'), step('no-config.stream.mjs')];
    const { result } = await child.initialize([], { streams: files });
    const [todo, broken] = result.streams;
    assert.equal(todo.path, files[0]);
    assert.equal(todo.config.name, 'todo');
    assert.deepEqual(todo.config.schema.properties, { title: { type: 'string' } });
    assert.deepEqual(todo.config.baseConfig, { storageType: 'default' });
    assert.equal(broken.path, files[1]);
    assert.match(broken.error.message, /has no config/);
    assert.equal(broken.error.retryable, false);
  } finally {
    child.close();
  }
});

test('without stream files the result has no streams', async () => {
  const child = new Child();
  try {
    const { result } = await child.initialize([]);
    assert.equal('streams' in result, false);
  } finally {
    child.close();
  }
});

// stream.methods: the params of every stream.* request; results reach the handler.
test('ctx.streams.<name> sends stream requests and hands back their results', async () => {
  const child = new Child();
  try {
    await child.initialize([step('stream.step.mjs')]);
    const id = child.invoke(step('stream.step.mjs'), { type: 'event', topic: 'stream', eventId: 'e' }, { title: 'milk' });
    const item = { title: 'milk', id: 't1' };
    const calls = [];
    /** @type {Array<[string, unknown]>} */
    const answers = [['stream.set', item], ['stream.get', item], ['stream.getGroup', [item]], ['stream.send', null], ['stream.delete', item]];
    for (const [method, answer] of answers) {
      const call = await child.sent(method);
      calls.push(call.params);
      child.reply(call, answer);
    }
    assert.equal((await child.response(id)).result, null);
    const log = await child.sent('log');
    const base = { invocationId: calls[0].invocationId, stream: 'todo', groupId: 'inbox' };
    assert.deepEqual(calls, [
      { ...base, id: 't1', data: { title: 'milk' } },
      { ...base, id: 't1' },
      base,
      { ...base, type: 'ping', data: { n: 1 } },
      { ...base, id: 't1' },
    ]);
    assert.deepEqual(log.params.fields, {
      stored: item,
      got: item,
      items: [item],
      deleted: item,
      refused: 'send expects {groupId: string, id?: string} as its first argument',
    });
  } finally {
    child.close();
  }
});
