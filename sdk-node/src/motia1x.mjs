// Motia 1.x steps (`config.triggers`) in a motiad child: the config the
// broker sees, and one invocation of a trigger as Motia 1.x's runtime makes
// it (frameworks/motia/motia-js/packages/motia/src/new/build/utils.ts:
// Motia.addStep, flowContext, composeMiddleware). The broker serves each
// trigger as an api, event or cron step of its own and says in `invoke`
// which trigger fired (`trigger.index`, SPEC `invoke.trigger-index`).

import { Readable, Writable } from 'node:stream';
import { bodyStream, responseStream } from './http-streams.mjs';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isObject } from './rpc.mjs';
import { middlewareNames } from './middleware.mjs';
import { configToJson } from './schema.mjs';
import motia from './motia.cjs';

/**
 * @typedef {(input: unknown, ctx: unknown) => unknown} Handler
 * @typedef {(args: unknown, ctx: unknown, next: () => Promise<unknown>) => unknown} Middleware
 * @typedef {{type: string, condition?: unknown, middleware?: unknown}} TriggerConfig
 */

/**
 * @param {Record<string, unknown>} config
 * @returns {boolean} whether the config is Motia 1.x's (it has `triggers`)
 */
export function isMotia1xConfig(config) {
  return 'triggers' in config;
}

/**
 * The JSON the broker reads for a 1.x config: zod schemas of each trigger as
 * JSON Schema, middleware by name, condition functions left out (the child
 * evaluates them), `hasCondition` said instead.
 *
 * @param {Record<string, unknown>} config
 * @param {string} project
 * @param {string} file
 * @returns {Promise<Record<string, unknown>>}
 */
export async function motia1xConfigToJson(config, project, file) {
  const triggers = config.triggers;
  if (!Array.isArray(triggers)) throw new TypeError(`step ${file}: config.triggers must be an array of triggers (http(...), queue(...), cron(...), ...)`);
  const out = [];
  for (const [index, trigger] of triggers.entries()) {
    if (!isObject(trigger)) throw new TypeError(`step ${file}: config.triggers[${index}] must be an object such as http('GET', '/path')`);
    const { condition, middleware, ...rest } = trigger;
    /** @type {Record<string, unknown>} */
    const shaped = { ...rest };
    if (condition !== undefined && condition !== null) shaped.hasCondition = true;
    if (Array.isArray(middleware) && middleware.length > 0) {
      shaped.middleware = middlewareNames(/** @type {Middleware[]} */ (middleware), () => readFileSync(path.resolve(project, file), 'utf8'));
    }
    out.push(await configToJson(shaped, project));
  }
  return JSON.parse(JSON.stringify({ ...config, triggers: out }));
}

/** The broker's trigger kinds as Motia 1.x names them (TriggerInfo.type). */
const TRIGGER_TYPES = /** @type {Record<string, string>} */ ({ api: 'http', event: 'queue', cron: 'cron', state: 'state', stream: 'stream' });

/**
 * Runs a 1.x step's handler for the trigger that fired, as Motia does: the
 * trigger's condition first (only an explicit `false` skips, as the iii
 * engine's check_condition; a skipped HTTP request is answered 422 as its
 * rest_api module does), then middleware and handler for HTTP.
 *
 * @param {{handler: Handler, triggers: TriggerConfig[]}} step
 * @param {{type: string, index?: number, refusal?: unknown}} wire the invoke's trigger
 * @param {unknown} input the invoke's input
 * @param {string} traceId
 * @param {(params: Record<string, unknown>) => Promise<unknown>} send sends an `http.write` for this invocation
 * @param {() => Promise<unknown>} read sends an `http.read` for this invocation
 * @returns {Promise<unknown>} an api result for HTTP, null otherwise
 */
export async function invokeMotia1x(step, wire, input, traceId, send, read) {
  const index = wire.index ?? 0;
  const config = step.triggers[index];
  // State and stream changes come as events of the broker's internal topics.
  const changes = wire.type === 'event' && (config?.type === 'state' || config?.type === 'stream');
  const type = changes ? config.type : (TRIGGER_TYPES[wire.type] ?? wire.type);
  if (config === undefined || config.type !== type) {
    throw new TypeError(`trigger ${index} of this step is not a ${type} trigger (the broker and the step file disagree: reload the project)`);
  }
  const trigger = { type, index };
  if (type === 'http') return invokeHttp(step.handler, config, trigger, wire, /** @type {Record<string, any>} */ (input), traceId, send, read);
  const value = type === 'cron' ? undefined : input;
  if (type === 'stream' && !inScope(/** @type {{groupId?: string, itemId?: string}} */ (config), /** @type {{groupId?: string, id?: string}} */ (value))) return null;
  if (typeof config.condition === 'function') {
    const passes = await config.condition(value, flowContext(trigger, value, traceId));
    if (passes === false) return null;
  }
  await step.handler(value, flowContext(trigger, value, traceId));
  return null;
}

/**
 * Whether a stream change is one the trigger watches: `stream(name, {groupId, itemId})`
 * narrows it to a group, or one item of it.
 *
 * @param {{groupId?: string, itemId?: string}} config
 * @param {{groupId?: string, id?: string}} change
 * @returns {boolean}
 */
function inScope(config, change) {
  if (config.groupId !== undefined && config.groupId !== null && config.groupId !== change.groupId) return false;
  return config.itemId === undefined || config.itemId === null || config.itemId === change.id;
}

/**
 * @param {Handler} handler
 * @param {TriggerConfig} config
 * @param {{type: string, index: number}} trigger
 * @param {{refusal?: unknown}} wire the invoke's trigger (`refusal`: the 400 the chain gets in place of the handler's answer)
 * @param {Record<string, any>} request the api input (SPEC `invoke.input`)
 * @param {string} traceId
 * @param {(params: Record<string, unknown>) => Promise<unknown>} send
 * @param {() => Promise<unknown>} read
 * @returns {Promise<unknown>}
 */
async function invokeHttp(handler, config, trigger, wire, request, traceId, send, read) {
  const plain = {
    pathParams: request.pathParams ?? {},
    queryParams: request.queryParams ?? {},
    body: request.body,
    headers: request.headers ?? {},
  };
  if (typeof config.condition === 'function') {
    // The condition sees the request without its body stream or response (rest_api/views.rs).
    const passes = await config.condition(plain, flowContext(trigger, plain, traceId));
    if (passes === false) return { status: 422, body: { error: 'Request condition not met', skipped: true } };
  }
  const response = new StreamingResponse(send);
  const args = { request: { ...plain, method: request.method, requestBody: requestBody(request.body, plain.headers, request.bodyStream === true ? read : null) }, response: response.api };
  const ctx = flowContext(trigger, args, traceId);
  const middleware = /** @type {Middleware[]} */ (Array.isArray(config.middleware) ? config.middleware : []);
  // composeMiddleware: the first middleware outermost; any may answer without calling next.
  const refusal = wire.refusal;
  // invoke.refusal: the body failed bodySchema; the middleware runs and next() gives the 400.
  /** @type {() => Promise<unknown>} */
  const last = () => Promise.resolve(refusal === undefined ? handler(args, ctx) : refusal);
  const run = middleware.reduceRight((/** @type {() => Promise<unknown>} */ next, mw) => () => Promise.resolve(mw(args, ctx, next)), last);
  const result = await run();
  const streamed = await response.finish();
  if (isObject(result) && 'status' in result) return result;
  return streamed;
}

/**
 * The request body as Motia's ChannelReader gives it (`requestBody.stream`):
 * the bytes as the client sent them. With `read` (a trigger with
 * `streamBody: true`), pulled from the broker as the handler consumes them
 * (SPEC `http.body-stream`). Otherwise the broker sent the body parsed as
 * Motia 0.17 parses it (SPEC `invoke.input`), so JSON and form bodies are
 * written back in their own encoding; bytes and text are as they came.
 *
 * @param {unknown} body
 * @param {Record<string, unknown>} headers
 * @param {(() => Promise<unknown>) | null} read sends an `http.read`, when the body is streamed
 * @returns {{readonly stream: Readable}}
 */
function requestBody(body, headers, read) {
  if (read !== null) {
    const stream = bodyStream(read);
    return { stream };
  }
  return {
    get stream() {
      return Readable.from([bodyBytes(body, String(headers['content-type'] ?? ''))]);
    },
  };
}

/**
 * @param {unknown} body
 * @param {string} contentType
 * @returns {Buffer}
 */
function bodyBytes(body, contentType) {
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (typeof body === 'string') return Buffer.from(body);
  if (contentType.startsWith('application/x-www-form-urlencoded') && isObject(body)) {
    const form = new URLSearchParams();
    for (const [key, value] of Object.entries(body)) {
      for (const one of Array.isArray(value) ? value : [value]) form.append(key, String(one));
    }
    return Buffer.from(form.toString());
  }
  return Buffer.from(JSON.stringify(body ?? null));
}

/**
 * Motia's MotiaHttpResponse (`status`, `headers`, `stream`, `close`). What the
 * handler writes goes to the client as it writes it (SPEC `http.stream`): each
 * chunk is an `http.write` request, the first with the status and headers set
 * so far; the stream's write callback waits for the broker's answer, so
 * `write()` returns false and 'drain' comes late when the client reads slowly.
 * A handler that writes nothing answers with what `status`/`headers` set.
 */
class StreamingResponse {
  /** @type {number | null} */
  #status = null;
  /** @type {Record<string, string>} */
  #headers = {};
  /** @type {Writable} */
  stream;

  /** @param {(params: Record<string, unknown>) => Promise<unknown>} send */
  constructor(send) {
    this.stream = responseStream(send, () => ({ status: this.#status ?? 200, headers: this.#headers }));
  }

  get api() {
    return {
      status: (/** @type {number} */ code) => {
        this.#status = code;
      },
      headers: (/** @type {Record<string, string>} */ headers) => {
        Object.assign(this.#headers, headers);
      },
      stream: this.stream,
      close: () => {
        this.stream.end();
      },
    };
  }

  /**
   * Waits until every chunk written has been answered; the api result.
   *
   * @returns {Promise<{status: number, headers: Record<string, string>, body: null}>}
   */
  async finish() {
    if (!this.stream.writableFinished && !this.stream.destroyed) {
      await new Promise((resolve) => {
        this.stream.once('finish', resolve);
        this.stream.once('error', resolve);
        if (!this.stream.writableEnded) this.stream.end();
      });
    }
    return { status: this.#status ?? 200, headers: this.#headers, body: null };
  }
}

/**
 * Motia 1.x's FlowContext (types.ts, utils.ts flowContext): traceId, the
 * trigger that fired, `is.*` and `getData()` and `match(handlers)`, with the
 * `motia` module's `logger` and `enqueue`.
 *
 * @param {{type: string, index: number}} trigger
 * @param {unknown} input
 * @param {string} traceId
 */
export function flowContext(trigger, input, traceId) {
  const is = (/** @type {string} */ type) => () => trigger.type === type;
  return {
    traceId,
    trigger,
    // Motia's docs destructure these from the context too (reactive-triggers.mdx).
    logger: motia.logger,
    enqueue: motia.enqueue,
    is: { queue: is('queue'), http: is('http'), cron: is('cron'), state: is('state'), stream: is('stream') },
    getData: () => (trigger.type === 'http' ? /** @type {{request: {body: unknown}}} */ (input).request.body : input),
    /** @param {Record<string, ((input?: unknown) => unknown) | undefined>} handlers */
    match: async (handlers) => {
      const handler = handlers[trigger.type];
      if (handler !== undefined) {
        if (trigger.type === 'cron') {
          await handler();
          return undefined;
        }
        const out = await handler(input);
        return trigger.type === 'queue' ? undefined : out;
      }
      if (handlers.default !== undefined) return handlers.default(input);
      const available = Object.keys(handlers).join(', ');
      throw new Error(`No handler matched for trigger type: ${trigger.type}. Available handlers: ${available}`);
    },
  };
}
