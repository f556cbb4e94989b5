'use strict';
// The `motia` module of Motia 1.x, as motiad provides it inside a step child:
// `import { http, queue, enqueue, logger, stateManager, ... } from 'motia'`
// resolves here (src/motia-resolve.mjs), whatever `motia` package the project
// has. The trigger helpers build the same plain objects as Motia's
// (frameworks/motia/motia-js/packages/motia/src/triggers.ts, step.ts,
// multi-trigger.ts, guards.ts); enqueue, logger, stateManager and Stream act
// for the invocation running them, found through AsyncLocalStorage as Motia
// finds its engine connection through a module-level instance (new/iii.ts).
//
// CommonJS on purpose: `require('motia')` (steps compiled to CommonJS) and
// `import ... from 'motia'` (ES-module steps) both load it, and the host
// shares this one instance to bind invocations.

const { AsyncLocalStorage } = require('node:async_hooks');
const { inspect } = require('node:util');

/** @type {AsyncLocalStorage<any>} the motiad context of the invocation running */
const invocations = new AsyncLocalStorage();

/**
 * The motiad context of the invocation this call belongs to.
 * @param {string} what the function called, for the error
 */
/** @param {any} what @returns {any} */
function current(what) {
  const ctx = invocations.getStore();
  if (ctx === undefined) {
    throw new Error(`motia: ${what} was called outside a step handler; call it while a handler runs (motiad binds it to that invocation)`);
  }
  return ctx;
}

// --- trigger helpers (triggers.ts) ---------------------------------------------

/** @param {any} method @param {any} path @param {any} options @param {any} condition @returns {any} */
function http(method, path, options, condition) {
  return { type: 'http', method, path, ...options, condition };
}

/** @deprecated Motia 1.x's old name of http(). */
/** @param {any} method @param {any} path @param {any} options @param {any} condition @returns {any} */
function api(method, path, options, condition) {
  return http(method, path, options, condition);
}

/** @param {any} topic @param {any} options @param {any} condition @returns {any} */
function queue(topic, options, condition) {
  return { type: 'queue', topic, ...options, condition };
}

/** @param {any} expression @param {any} condition @returns {any} */
function cron(expression, condition) {
  return { type: 'cron', expression, condition };
}

/** @param {any} condition @returns {any} */
function state(condition) {
  return { type: 'state', condition };
}

/** @param {any} streamName @param {any} optionsOrCondition @returns {any} */
function stream(streamName, optionsOrCondition) {
  if (typeof optionsOrCondition === 'function') return { type: 'stream', streamName, condition: optionsOrCondition };
  const { groupId, itemId, condition } = optionsOrCondition ?? {};
  return { type: 'stream', streamName, groupId, itemId, condition };
}

// --- step builders (step.ts, multi-trigger.ts) -------------------------------------

/** @param {any} config @param {any} handler @returns {any} */
function step(config, handler) {
  if (handler) return { config, handler };
  return { config, handle: (/** @type {any} */ h) => ({ config, handler: h }) };
}

/** @param {any} config @returns {any} */
function multiTriggerStep(config) {
  /** @type {Record<string, any>} */
  const collected = {};
  const unified = async (/** @type {any} */ input, /** @type {any} */ ctx) => {
    const type = ctx.trigger.type;
    const handler = collected[type];
    if (handler) return type === 'cron' ? handler(ctx) : handler(input, ctx);
    throw new Error(`No handler defined for trigger type: ${type}. Available handlers: ${Object.keys(collected).join(', ')}`);
  };
  /** @type {Record<string, any>} */
  const builder = { config };
  const done = () => ({ config, handler: unified });
  for (const [method, type] of [['onQueue', 'queue'], ['onHttp', 'http'], ['onCron', 'cron'], ['onState', 'state'], ['onStream', 'stream']]) {
    builder[method] = (/** @type {any} */ handler) => {
      collected[type] = handler;
      return { ...builder, handlers: done };
    };
  }
  builder.handlers = (/** @type {any} */ handlers) => {
    if (handlers) Object.assign(collected, handlers);
    return done();
  };
  return builder;
}

// --- guards (guards.ts) --------------------------------------------------------------

/** @param {any} trigger */
const isApiTrigger = (trigger) => trigger.type === 'http';
/** @param {any} trigger */
const isQueueTrigger = (trigger) => trigger.type === 'queue';
/** @param {any} trigger */
const isCronTrigger = (trigger) => trigger.type === 'cron';
/** @param {any} trigger */
const isStateTrigger = (trigger) => trigger.type === 'state';
/** @param {any} trigger */
const isStreamTrigger = (trigger) => trigger.type === 'stream';
/** @param {any} s */
const getApiTriggers = (s) => s.config.triggers.filter(isApiTrigger);
/** @param {any} s */
const getQueueTriggers = (s) => s.config.triggers.filter(isQueueTrigger);
/** @param {any} s */
const getCronTriggers = (s) => s.config.triggers.filter(isCronTrigger);
/** @param {any} s */
const getStateTriggers = (s) => s.config.triggers.filter(isStateTrigger);
/** @param {any} s */
const getStreamTriggers = (s) => s.config.triggers.filter(isStreamTrigger);

/**
 * Motia's jsonSchema(zodSchema) turns a zod schema into JSON Schema; motiad's
 * loader converts zod schemas in configs itself, so the schema is kept as is.
 */
/** @param {any} schema @returns {any} */
function jsonSchema(schema) {
  return schema;
}

// --- services bound to the invocation ---------------------------------------------

/** enqueue({topic, data, messageGroupId?}) (new/enqueue.ts): resolves once the event is durable. */
/** @param {any} event @returns {Promise<any>} */
async function enqueue(event) {
  await current('enqueue').emit(event);
}

const LEVELS = ['debug', 'info', 'warn', 'error'];

/**
 * logger.info(message, fields?) and the other levels (new/logger.ts): the
 * record goes to the trace of the invocation running; outside a handler
 * (while a file loads) to stderr, which motiad logs under the child.
 */
const logger = Object.fromEntries(
  LEVELS.map((level) => [
    level,
    (/** @type {any} */ message, /** @type {any} */ fields) => {
      const ctx = invocations.getStore();
      if (ctx !== undefined) return ctx.logger[level](message, fields);
      const text = typeof message === 'string' ? message : inspect(message);
      process.stderr.write(`[${level}] ${text}${fields === undefined ? '' : ` ${inspect(fields, { breakLength: Infinity })}`}\n`);
    },
  ]),
);

/** Motia 1.x's stateManager (new/state.ts), over motiad's state methods. */
class StateManager {
  /** @param {any} scope @param {any} key @returns {any} */
  get(scope, key) {
    return current('stateManager.get').state.get(scope, key);
  }

  /** @returns {Promise<{new_value: unknown, old_value?: unknown}>} as Motia's StreamSetResult */
  /** @param {any} scope @param {any} key @param {any} value @returns {Promise<any>} */
  async set(scope, key, value) {
    const store = current('stateManager.set').state;
    const old = await store.get(scope, key);
    const stored = await store.set(scope, key, value);
    return old === null ? { new_value: stored } : { old_value: old, new_value: stored };
  }

  /** @param {any} scope @param {any} key @param {any} ops @returns {Promise<any>} */
  async update(scope, key, ops) {
    const result = await current('stateManager.update').state.update(scope, key, ops);
    return 'oldValue' in result ? { old_value: result.oldValue, new_value: result.newValue } : { new_value: result.newValue };
  }

  /** @param {any} scope @param {any} key @returns {any} */
  delete(scope, key) {
    return current('stateManager.delete').state.delete(scope, key);
  }

  /** @param {any} scope @returns {any} */
  list(scope) {
    return current('stateManager.list').state.getGroup(scope);
  }

  listGroups() {
    return current('stateManager.listGroups').state.listGroups();
  }

  /** @param {any} scope @returns {any} */
  clear(scope) {
    return current('stateManager.clear').state.clear(scope);
  }
}

const stateManager = new StateManager();

/** `new Stream(config)` of a stream file (new/stream.ts), over motiad's stream methods. */
class Stream {
  /** @param {any} config */
  constructor(config) {
    this.config = config;
  }

  /** @param {string} what @returns {any} */
  #stream(what) {
    return current(`Stream.${what}`).streams[this.config.name];
  }

  /** @param {any} groupId @param {any} itemId @returns {any} */
  get(groupId, itemId) {
    return this.#stream('get').get(groupId, itemId);
  }

  /** @param {any} groupId @param {any} itemId @param {any} data @returns {Promise<any>} */
  async set(groupId, itemId, data) {
    const items = this.#stream('set');
    const old = await items.get(groupId, itemId);
    const stored = await items.set(groupId, itemId, data);
    return old === null ? { new_value: stored } : { old_value: old, new_value: stored };
  }

  /** @param {any} groupId @param {any} itemId @returns {Promise<any>} */
  async delete(groupId, itemId) {
    await this.#stream('delete').delete(groupId, itemId);
  }

  /** @param {any} groupId @returns {any} */
  list(groupId) {
    return this.#stream('list').getGroup(groupId);
  }

  /** @param {any} groupId @param {any} itemId @param {any} ops @returns {Promise<any>} */
  async update(groupId, itemId, ops) {
    const result = await this.#stream('update').update(groupId, itemId, ops);
    return 'oldValue' in result ? { old_value: result.oldValue, new_value: result.newValue } : { new_value: result.newValue };
  }

  /** @returns {any} */
  listGroups() {
    return this.#stream('listGroups').listGroups();
  }

  /** @param {any} channel @param {any} event @returns {any} */
  send(channel, event) {
    return this.#stream('send').send(channel, event);
  }
}

module.exports = {
  http,
  api,
  queue,
  cron,
  state,
  stream,
  step,
  multiTriggerStep,
  isApiTrigger,
  isQueueTrigger,
  isCronTrigger,
  isStateTrigger,
  isStreamTrigger,
  getApiTriggers,
  getQueueTriggers,
  getCronTriggers,
  getStateTriggers,
  getStreamTriggers,
  jsonSchema,
  enqueue,
  logger,
  StateManager,
  stateManager,
  Stream,
  /** motiad's own: runs `fn` as the invocation whose motiad context is `ctx`. */
  __motiadRunWith: (/** @type {any} */ ctx, /** @type {() => any} */ fn) => invocations.run(ctx, fn),
};
