// lifecycle.shutdown and lifecycle.stdin-eof.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Child, step, within } from './child.mjs';

const BEHAVIOURS = step('behaviours.step.ts');
const behave = { type: 'event', topic: 'behave', eventId: 'e1', messageGroupId: null };

// lifecycle.shutdown, invoke.after-shutdown.
test('shutdown refuses new invokes, lets running ones finish, answers null and exits 0', async () => {
  const child = new Child();
  try {
    await child.initialize([BEHAVIOURS]);
    const running = child.invoke(BEHAVIOURS, behave, { action: 'wait-state', group: 'shutdown' });
    const get = await child.sent('state.get', (m) => m.params.groupId === 'shutdown');

    const shutdown = child.call('shutdown');
    const refused = await child.response(child.invoke(BEHAVIOURS, behave, { action: 'ok' }));
    assert.equal(refused.error.code, -32007);
    // Still serving the running handler's requests while it waits.
    assert.deepEqual((await child.request('ping')).result, {});
    assert.ok(!child.inbox.some((m) => m.id === shutdown), 'shutdown waits for the running handler');

    child.reply(get, null);
    assert.equal((await child.response(running)).result, null);
    assert.deepEqual(await child.response(shutdown), { jsonrpc: '2.0', id: shutdown, result: null });
    assert.deepEqual(await within(child.exited, 'the exit'), { code: 0, signal: null });
  } finally {
    await child.close();
  }
});

test('shutdown with nothing running answers and exits at once', async () => {
  const child = new Child();
  try {
    await child.initialize([]);
    assert.equal((await child.request('shutdown')).result, null);
    assert.deepEqual(await within(child.exited, 'the exit'), { code: 0, signal: null });
  } finally {
    await child.close();
  }
});

test('the end of stdin ends the child with status 0, even with a handler keeping the loop busy', async () => {
  const child = new Child();
  try {
    await child.initialize([BEHAVIOURS]);
    const id = child.invoke(BEHAVIOURS, behave, { action: 'interval' });
    // The handler has started once its ping-ordered successor is answered.
    assert.deepEqual((await child.request('ping')).result, {});
    assert.ok(!child.inbox.some((m) => m.id === id));
    assert.deepEqual(await child.close(), { code: 0, signal: null });
  } finally {
    await child.close();
  }
});
