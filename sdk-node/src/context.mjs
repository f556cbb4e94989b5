// The context a handler receives (Motia's names): emit, state, logger,
// traceId, traceparent, signal, and for events eventId, attempt and topic. Each service
// call is a request to the broker carrying the invocation's id (SPEC §2.3).

import { inspect } from 'node:util';
import { jsonSafeReplacer } from './errors.mjs';
import { isObject } from './rpc.mjs';
import { Method } from './tables.mjs';

/**
 * @typedef {import('../index.js').FlowContext} FlowContext
 * @typedef {import('../index.js').EventContext} EventContext
 * @typedef {import('../index.js').Logger} Logger
 * @typedef {import('../index.js').StateManager} StateManager
 * @typedef {import('../index.js').Streams} Streams
 * @typedef {import('../index.js').MotiaStream<Record<string, unknown>>} MotiaStream
 * @typedef {import('./rpc.mjs').RpcPeer} RpcPeer
 */

/**
 * The context of one invocation. Its functions are closures, not methods, so
 * handlers may destructure them (`async (req, { emit, logger }) => …`).
 *
 * @param {RpcPeer} peer
 * @param {string} invocationId
 * @param {string} traceId
 * @param {{readonly signal: AbortSignal}} invocation whose signal aborts on timeout or cancel;
 *   read only when the handler asks, as making one is the costliest part of a context
 * @param {string | undefined} [traceparent] the invocation's W3C traceparent (SPEC invoke.traceparent)
 * @returns {FlowContext}
 */
export function createContext(peer, invocationId, traceId, invocation, traceparent) {
  return {
    emit: (event) => {
      if (!isObject(event) || typeof event.topic !== 'string') {
        return Promise.reject(new TypeError('emit expects {topic: string, data, messageGroupId?}'));
      }
      const { topic, data, messageGroupId } = event;
      return /** @type {Promise<{eventId: string}>} */ (
        peer.request(Method.EMIT, { invocationId, topic, data: data === undefined ? null : data, messageGroupId })
      );
    },
    state: createState(peer, invocationId),
    streams: createStreams(peer, invocationId),
    logger: createLogger(peer, invocationId),
    traceId,
    traceparent,
    get signal() {
      return invocation.signal;
    },
  };
}

/**
 * Adds the event fields to a context.
 *
 * @param {FlowContext} ctx
 * @param {{topic: string, eventId: string}} trigger
 * @param {number} attempt
 * @returns {EventContext}
 */
export function asEventContext(ctx, trigger, attempt) {
  const event = /** @type {EventContext} */ (ctx);
  event.topic = trigger.topic;
  event.eventId = trigger.eventId;
  event.attempt = attempt;
  return event;
}

/**
 * @param {RpcPeer} peer
 * @param {string} invocationId
 * @returns {StateManager}
 */
function createState(peer, invocationId) {
  // Values travel as JSON: `undefined` would vanish from the params, so it is sent as null.
  return /** @type {StateManager} */ ({
    get: (groupId, key) => peer.request(Method.STATE_GET, { invocationId, groupId, key }),
    set: (groupId, key, value) => peer.request(Method.STATE_SET, { invocationId, groupId, key, value: value === undefined ? null : value }),
    delete: (groupId, key) => peer.request(Method.STATE_DELETE, { invocationId, groupId, key }),
    getGroup: (groupId) => peer.request(Method.STATE_GET_GROUP, { invocationId, groupId }),
    clear: (groupId) => peer.request(Method.STATE_CLEAR, { invocationId, groupId }),
    // Motia 1.x's stateManager (src/motia.cjs): ops applied in the store in one step.
    update: (groupId, key, ops) => peer.request(Method.STATE_UPDATE, { invocationId, groupId, key, ops }),
    listGroups: () => peer.request(Method.STATE_LIST_GROUPS, { invocationId }),
  });
}

/**
 * `ctx.streams.<name>`: any property is a stream by that name; the broker
 * answers -32602 for a name no stream file declares.
 *
 * @param {RpcPeer} peer
 * @param {string} invocationId
 * @returns {Streams}
 */
function createStreams(peer, invocationId) {
  /** @type {Map<string, MotiaStream>} */
  const made = new Map();
  return /** @type {Streams} */ (
    new Proxy(
      {},
      {
        get(_target, name) {
          if (typeof name !== 'string' || name === 'then') return undefined; // not a thenable
          let stream = made.get(name);
          if (stream === undefined) {
            stream = createStream(peer, invocationId, name);
            made.set(name, stream);
          }
          return stream;
        },
      },
    )
  );
}

/**
 * @param {RpcPeer} peer
 * @param {string} invocationId
 * @param {string} stream
 * @returns {MotiaStream}
 */
function createStream(peer, invocationId, stream) {
  return /** @type {MotiaStream} */ ({
    get: (groupId, id) => peer.request(Method.STREAM_GET, { invocationId, stream, groupId, id }),
    set: (groupId, id, data) => peer.request(Method.STREAM_SET, { invocationId, stream, groupId, id, data: data === undefined ? null : data }),
    delete: (groupId, id) => peer.request(Method.STREAM_DELETE, { invocationId, stream, groupId, id }),
    // Motia 1.x's Stream (src/motia.cjs): update operations, the stream's groups.
    update: (groupId, id, ops) => peer.request(Method.STREAM_UPDATE, { invocationId, stream, groupId, id, ops }),
    listGroups: () => peer.request(Method.STREAM_LIST_GROUPS, { invocationId, stream }),
    getGroup: (groupId) => peer.request(Method.STREAM_GET_GROUP, { invocationId, stream, groupId }),
    send: (channel, event) => {
      if (!isObject(channel) || typeof channel.groupId !== 'string') {
        return Promise.reject(new TypeError('send expects {groupId: string, id?: string} as its first argument'));
      }
      if (!isObject(event) || typeof event.type !== 'string') {
        return Promise.reject(new TypeError('send expects {type: string, data} as its second argument'));
      }
      const { groupId, id } = channel;
      return peer.request(Method.STREAM_SEND, { invocationId, stream, groupId, id, type: event.type, data: event.data === undefined ? null : event.data });
    },
  });
}

/**
 * @param {RpcPeer} peer
 * @param {string} invocationId
 * @returns {Logger}
 */
function createLogger(peer, invocationId) {
  return {
    debug: (message, fields) => sendLog(peer, invocationId, 'debug', message, fields),
    info: (message, fields) => sendLog(peer, invocationId, 'info', message, fields),
    warn: (message, fields) => sendLog(peer, invocationId, 'warn', message, fields),
    error: (message, fields) => sendLog(peer, invocationId, 'error', message, fields),
  };
}

/**
 * Sends a `log` notification. `fields` must be an object on the wire: an
 * Error becomes `{error: …}` and any other non-object `{value: …}`. Errors
 * inside, BigInts and cycles are made JSON-safe while the message is written.
 *
 * @param {RpcPeer} peer
 * @param {string} invocationId
 * @param {'debug' | 'info' | 'warn' | 'error'} level
 * @param {unknown} message
 * @param {unknown} fields
 */
function sendLog(peer, invocationId, level, message, fields) {
  const text = typeof message === 'string' ? message : message instanceof Error ? message.message : inspect(message, { breakLength: Infinity });
  /** @type {Record<string, unknown>} */
  const params = { invocationId, level, message: text };
  if (fields instanceof Error) params.fields = { error: fields };
  else if (isObject(fields)) params.fields = fields;
  else if (fields !== undefined) params.fields = { value: fields };
  else if (message instanceof Error) params.fields = { error: message };
  peer.notify(Method.LOG, params, jsonSafeReplacer());
}
