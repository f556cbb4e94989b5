// The child's side of the protocol (SPEC §2.1, §2.2): initialize, invoke,
// $/cancel, ping and shutdown, served over an RpcPeer.

import { asEventContext, createContext } from './context.mjs';
import { errorInfo } from './errors.mjs';
import { bodyStream, responseStream } from './http-streams.mjs';
import { loadStreamAuth, loadSteps, loadStreams, prepareLoaders } from './loader.mjs';
import { runWithMiddleware } from './middleware.mjs';
import motia from './motia.cjs';
import { flowContext, invokeMotia1x } from './motia1x.mjs';
import { RpcError, invalidParams, isObject } from './rpc.mjs';
import { bodyAsZodGivesIt } from './schema.mjs';
import { ErrorCode, Method, PROTOCOL_VERSION, SHUTDOWN_GRACE_MS } from './tables.mjs';

/** What `initialize` reports about this SDK. */
export const SDK_INFO = Object.freeze({ name: 'motiad-sdk-node', version: '0.1.0', language: 'node' });

// setTimeout fires at once for delays above 2^31-1 ms (~24.8 days); a budget
// that large is no budget.
const MAX_TIMER_MS = 2 ** 31 - 1;

const PONG = Object.freeze({});

/**
 * @typedef {import('./rpc.mjs').RpcPeer} RpcPeer
 * @typedef {import('./rpc.mjs').RequestId} RequestId
 * @typedef {import('./rpc.mjs').Params} Params
 * @typedef {import('./loader.mjs').LoadedStep} LoadedStep
 * @typedef {{type: 'api', refusal?: Record<string, unknown>, index?: number} | {type: 'cron', index?: number} | {type: 'event', topic: string, eventId: string, index?: number} | {type: 'streamHook', hook: 'join' | 'leave' | 'authenticate'}} Trigger
 */

/**
 * Serves the broker's requests: registers its methods on `peer` when built.
 */
export class StepHost {
  #peer;
  #exit;
  /** @type {Map<string, LoadedStep>} loaded steps by path as sent in initialize */
  #steps = new Map();
  /** @type {Map<string, (trigger: {hook: string}, input: any, ctx: any) => unknown>} stream hooks by file path (SPEC stream.hooks) */
  #hooks = new Map();
  /** @type {Map<RequestId, Invocation>} unanswered invocations by invoke request id */
  #running = new Map();
  /** @type {'new' | 'loading' | 'ready'} */
  #phase = 'new';
  /** @type {Promise<void> | null} set once shutdown starts: new invocations are refused */
  #drained = null;
  /** @type {() => void} */
  #onIdle = () => {};

  /**
   * @param {RpcPeer} peer
   * @param {() => Promise<never>} exit flushes the protocol output and ends the process with status 0
   */
  constructor(peer, exit) {
    this.#peer = peer;
    this.#exit = exit;
    peer.handle(Method.INITIALIZE, (params) => this.#initialize(params));
    // invoke.result: a result JSON cannot hold is the handler's failure, not retryable.
    peer.handle(Method.INVOKE, (params, id) => this.#invoke(params, id), { unsendable: (err) => handlerFailed(err, false) });
    // lifecycle.ping: answered straight from the read loop, whatever handlers are doing.
    peer.handle(Method.PING, () => PONG);
    peer.handle(Method.SHUTDOWN, (_params, id) => this.#shutdown(id));
    peer.onNotification(Method.CANCEL, (params) => this.#cancel(params));
  }

  /**
   * @param {Params} params
   * @returns {Promise<unknown>}
   */
  async #initialize(params) {
    if (this.#phase !== 'new') throw new RpcError(ErrorCode.INVALID_REQUEST, 'invalid request: initialize was already received');
    // The version comes first: a broker of another major may shape the rest differently.
    const version = stringParam(params, 'protocolVersion');
    const major = /^(\d+)\.\d+$/.exec(version)?.[1];
    if (major === undefined) throw invalidParams('protocolVersion', 'must be "MAJOR.MINOR"');
    if (Number(major) !== Number(PROTOCOL_VERSION.split('.')[0])) {
      throw new RpcError(
        ErrorCode.VERSION_MISMATCH,
        `protocol version mismatch: the broker speaks ${version}, ${SDK_INFO.name} speaks ${PROTOCOL_VERSION}`,
      );
    }
    const project = stringParam(params, 'project');
    const files = params.steps;
    if (!Array.isArray(files)) throw invalidParams('steps', 'must be an array of paths');
    files.forEach((file, i) => {
      if (typeof file !== 'string') throw invalidParams(`steps[${i}]`, 'must be a string');
    });
    const streamFiles = params.streams;
    if (streamFiles !== undefined && !(Array.isArray(streamFiles) && streamFiles.every((file) => typeof file === 'string'))) {
      throw invalidParams('streams', 'must be an array of paths');
    }
    const authFile = params.streamAuth;
    if (authFile !== undefined && typeof authFile !== 'string') throw invalidParams('streamAuth', 'must be a path');
    const maxLineBytes = params.maxLineBytes;
    if (maxLineBytes !== undefined && !(Number.isSafeInteger(maxLineBytes) && Number(maxLineBytes) > 0)) {
      throw invalidParams('maxLineBytes', 'must be a positive integer');
    }

    this.#phase = 'loading';
    if (maxLineBytes !== undefined) this.#peer.maxLineBytes = Number(maxLineBytes);
    // One loader for everything this child loads, chosen with all files in view.
    await prepareLoaders(project, [...files, ...(streamFiles ?? []), ...(authFile === undefined ? [] : [authFile])]);
    const loaded = await loadSteps(project, files);
    const steps = [];
    for (const step of loaded) {
      if ('error' in step) {
        steps.push(step);
      } else {
        this.#steps.set(step.path, step);
        steps.push({ path: step.path, config: step.config });
      }
    }
    /** @type {Record<string, unknown>} */
    const result = { protocolVersion: PROTOCOL_VERSION, sdk: SDK_INFO, steps };
    // lifecycle.streams: answered only when asked, one entry per file.
    if (streamFiles !== undefined) {
      const streams = await loadStreams(project, /** @type {string[]} */ (streamFiles));
      result.streams = streams.map((entry) => {
        if ('error' in entry) return entry;
        this.#hooks.set(entry.path, (trigger, input, ctx) => runStreamHook(entry.hooks, trigger.hook, input, ctx));
        return { path: entry.path, config: entry.config };
      });
    }
    if (authFile !== undefined) {
      const auth = await loadStreamAuth(project, authFile);
      if ('authenticate' in auth) {
        const authenticate = auth.authenticate;
        // Motia's StreamAuthInput (types-stream.ts): headers, path, queryParams, addr.
        this.#hooks.set(auth.path, (_trigger, input, ctx) => authenticate(input, ctx));
        result.streamAuth = { path: auth.path, config: auth.config };
      } else {
        result.streamAuth = auth;
      }
    }
    this.#phase = 'ready';
    return result;
  }

  /**
   * @param {Params} params
   * @param {RequestId} id
   * @returns {Promise<unknown>}
   */
  #invoke(params, id) {
    // rpc.error-order: the params are checked first (-32602), then the state.
    const stepPath = stringParam(params, 'step');
    const trigger = triggerParam(params.trigger);
    if (!('input' in params)) throw invalidParams('input', 'is required (null for cron)');
    const traceId = stringParam(params, 'traceId');
    const invocationId = stringParam(params, 'invocationId');
    // invoke.traceparent: handed over as sent; absent or not a string, undefined (never refused)
    const traceparent = typeof params.traceparent === 'string' ? params.traceparent : undefined;
    const attempt = params.attempt ?? 1;
    if (!(Number.isSafeInteger(attempt) && Number(attempt) >= 1)) throw invalidParams('attempt', 'must be an integer >= 1');
    const timeoutMs = params.timeoutMs ?? null;
    if (timeoutMs !== null && !(typeof timeoutMs === 'number' && timeoutMs > 0)) throw invalidParams('timeoutMs', 'must be a positive number');
    if (this.#drained !== null) throw new RpcError(ErrorCode.SHUTTING_DOWN, 'shutting down: invoke refused');
    if (this.#phase !== 'ready') throw new RpcError(ErrorCode.INVALID_REQUEST, 'invalid request: not initialized');
    if (this.#running.has(id)) throw new RpcError(ErrorCode.INVALID_REQUEST, `invalid request: id ${JSON.stringify(id)} is already running`);
    if (trigger.type === 'streamHook') return this.#runHook(stepPath, trigger, params, id);
    const step = this.#steps.get(stepPath);
    if (step === undefined) throw new RpcError(ErrorCode.UNKNOWN_STEP, `unknown step: ${stepPath}`);
    const handler = step.handler;
    if (handler === null) throw new RpcError(ErrorCode.UNKNOWN_STEP, `step ${stepPath} is a noop step: it has no handler`);

    return new Promise((resolve, reject) => {
      const invocation = new Invocation(resolve, reject, () => {
        this.#running.delete(id);
        if (this.#running.size === 0) this.#onIdle();
      });
      this.#running.set(id, invocation);
      if (timeoutMs !== null && timeoutMs <= MAX_TIMER_MS) invocation.startTimer(timeoutMs);
      const ctx = createContext(this.#peer, invocationId, traceId, invocation, traceparent);
      const input = trigger.type === 'api' ? apiRequest(params.input) : (params.input ?? null);
      let out;
      try {
        // `enqueue`, `logger`, `stateManager` of the `motia` module act for this invocation.
        out = motia.__motiadRunWith(ctx, () => {
          const triggers = step.triggers;
          if (triggers !== null) {
            const { send, read } = this.#http(invocationId);
            return invokeMotia1x({ handler, triggers }, trigger, input, traceId, send, read);
          }
          if (trigger.type === 'api') {
            // SPEC http.stream and http.body-stream: one closure per api invocation, the
            // body's reader only for a step that streams its body.
            const api = /** @type {import('../index.js').ApiContext} */ (ctx);
            api.streamResponse = (status = 200, headers = {}) => responseStream(this.#http(invocationId).send, () => ({ status, headers }));
            if (isObject(input) && input.bodyStream === true) api.bodyStream = bodyStream(this.#http(invocationId).read);
            // Middleware sees the request as sent; the handler the body its zod schema gives,
            // or the chain gets the broker's refusal in place of the handler (invoke.refusal).
            const refusal = trigger.refusal;
            const parsed = step.bodySchema === null ? handler : (/** @type {unknown} */ req, /** @type {unknown} */ c) => handler(withZodBody(req, step.bodySchema), c);
            const inner = refusal === undefined ? parsed : () => refusal;
            return step.middleware.length > 0 ? runWithMiddleware(step.middleware, inner, input, ctx) : inner(input, ctx);
          }
          if (trigger.type === 'event') return handler(input, asEventContext(ctx, trigger, /** @type {number} */ (attempt)));
          return /** @type {(ctx: unknown) => unknown} */ (handler)(ctx); // cron: the context only
        });
      } catch (err) {
        invocation.fail(handlerFailed(err));
        return;
      }
      // invoke.sdk-failure: should answering itself throw, the invocation is still answered.
      const failed = (/** @type {unknown} */ err) => invocation.fail(handlerFailed(err, false));
      if (isThenable(out)) {
        Promise.resolve(out)
          .then(
            (value) => answer(invocation, trigger.type, value),
            (err) => invocation.fail(handlerFailed(err)),
          )
          .catch(failed);
      } else {
        try {
          answer(invocation, trigger.type, out);
        } catch (err) {
          failed(err);
        }
      }
    });
  }

  /**
   * SPEC stream.hooks: a stream file's join/leave hook, or `authenticateStream`,
   * run as an invocation (its context acts for it; `motia`'s functions too).
   *
   * @param {string} stepPath
   * @param {{type: 'streamHook', hook: 'join' | 'leave' | 'authenticate'}} trigger
   * @param {Params} params
   * @param {RequestId} id
   * @returns {Promise<unknown>}
   */
  #runHook(stepPath, trigger, params, id) {
    const hook = this.#hooks.get(stepPath);
    if (hook === undefined) throw new RpcError(ErrorCode.UNKNOWN_STEP, `unknown step: ${stepPath} has no stream hooks loaded`);
    const traceId = String(params.traceId);
    const invocationId = String(params.invocationId);
    return new Promise((resolve, reject) => {
      const invocation = new Invocation(resolve, reject, () => {
        this.#running.delete(id);
        if (this.#running.size === 0) this.#onIdle();
      });
      this.#running.set(id, invocation);
      const timeoutMs = params.timeoutMs;
      if (typeof timeoutMs === 'number' && timeoutMs <= MAX_TIMER_MS) invocation.startTimer(timeoutMs);
      const traceparent = typeof params.traceparent === 'string' ? params.traceparent : undefined;
      const base = createContext(this.#peer, invocationId, traceId, invocation, traceparent);
      // Motia runs hooks with a FlowContext whose trigger is a queue one (utils.ts initialize);
      // the 0.17 context's state, streams and emit are there too.
      const ctx = { ...flowContext({ type: 'queue', index: 0 }, params.input, traceId), ...base };
      Promise.resolve()
        .then(() => motia.__motiadRunWith(base, () => hook(trigger, params.input, ctx)))
        .then(
          (value) => invocation.succeed(value === undefined ? null : value),
          (err) => invocation.fail(handlerFailed(err)),
        )
        .catch((err) => invocation.fail(handlerFailed(err, false)));
    });
  }

  /**
   * `http.write` and `http.read` for one api invocation.
   *
   * @param {string} invocationId
   */
  #http(invocationId) {
    return {
      send: (/** @type {Record<string, unknown>} */ write) => this.#peer.request(Method.HTTP_WRITE, { invocationId, ...write }),
      read: () => this.#peer.request(Method.HTTP_READ, { invocationId }),
    };
  }

  /** @param {Params} params */
  #cancel(params) {
    const id = params.id;
    if (typeof id !== 'string' && typeof id !== 'number') return;
    // invoke.cancel: unknown (or already answered) ids are ignored.
    this.#running.get(id)?.stop(new RpcError(ErrorCode.CANCELLED, 'invocation cancelled'), new DOMException('invocation cancelled', 'AbortError'));
  }

  /**
   * @param {RequestId} id
   * @returns {Promise<never>}
   */
  async #shutdown(id) {
    this.#drained ??= this.#running.size === 0 ? Promise.resolve() : this.#whenIdle(SHUTDOWN_GRACE_MS);
    await this.#drained;
    // lifecycle.shutdown: handlers still running after the grace are cancelled,
    // and each is answered (-32002) before the shutdown answer.
    for (const invocation of [...this.#running.values()]) {
      invocation.stop(new RpcError(ErrorCode.CANCELLED, 'cancelled: the child is shutting down'), new DOMException('shutting down', 'AbortError'));
    }
    await new Promise((resolve) => setImmediate(resolve));
    // Answer here rather than by returning: the process ends right after.
    this.#peer.respond(id, null);
    return this.#exit();
  }

  /**
   * @param {number} limitMs
   * @returns {Promise<void>} resolves when no invocation runs, or after `limitMs`
   */
  #whenIdle(limitMs) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, limitMs);
      this.#onIdle = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/**
 * One running handler call. It is answered once: by the handler's outcome,
 * or earlier by a timeout or cancel. JavaScript cannot stop a running
 * promise, so those abort `signal` for handlers that honour it and answer at
 * once; whatever the handler does later is ignored.
 */
class Invocation {
  /** @type {AbortController | null} made on first use: most handlers never look at their signal */
  #controller = null;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #timer;
  #answered = false;
  #resolve;
  #reject;
  #onDone;

  /**
   * @param {(value: unknown) => void} resolve
   * @param {(error: RpcError) => void} reject
   * @param {() => void} onDone
   */
  constructor(resolve, reject, onDone) {
    this.#resolve = resolve;
    this.#reject = reject;
    this.#onDone = onDone;
  }

  /** @returns {AbortSignal} aborted on timeout or cancel */
  get signal() {
    this.#controller ??= new AbortController();
    return this.#controller.signal;
  }

  /** @param {number} timeoutMs */
  startTimer(timeoutMs) {
    this.#timer = setTimeout(() => {
      const message = `invocation timed out after ${timeoutMs} ms`;
      this.stop(new RpcError(ErrorCode.TIMED_OUT, message), new DOMException(message, 'TimeoutError'));
    }, timeoutMs);
  }

  /** @param {unknown} value */
  succeed(value) {
    if (this.#finish()) this.#resolve(value);
  }

  /** @param {RpcError} error */
  fail(error) {
    if (this.#finish()) this.#reject(error);
  }

  /**
   * Answers with `error` now and aborts the handler's signal with `reason`.
   *
   * @param {RpcError} error
   * @param {DOMException} reason
   */
  stop(error, reason) {
    if (this.#answered) return;
    this.fail(error);
    this.#controller ??= new AbortController();
    this.#controller.abort(reason);
  }

  /** @returns {boolean} whether this call is the one that answers */
  #finish() {
    if (this.#answered) return false;
    this.#answered = true;
    clearTimeout(this.#timer);
    this.#onDone();
    return true;
  }
}

/**
 * @param {Params} params
 * @param {string} field
 * @returns {string}
 */
function stringParam(params, field) {
  const value = params[field];
  if (typeof value !== 'string') throw invalidParams(field, 'must be a string');
  return value;
}

/**
 * @param {unknown} trigger
 * @returns {Trigger}
 */
function triggerParam(trigger) {
  if (!isObject(trigger)) throw invalidParams('trigger', 'must be an object');
  const type = trigger.type;
  const index = trigger.index;
  // invoke.trigger-index: which of a Motia 1.x step's triggers fired.
  if (index !== undefined && index !== null && !(Number.isSafeInteger(index) && Number(index) >= 0)) {
    throw invalidParams('trigger.index', 'must be an integer >= 0');
  }
  const at = typeof index === 'number' ? { index } : {};
  if (type === 'cron') return { type, ...at };
  if (type === 'api') {
    // invoke.refusal: the response the middleware chain gets in place of the handler's
    if (trigger.refusal === undefined || trigger.refusal === null) return { type, ...at };
    if (!isObject(trigger.refusal) || !Number.isInteger(trigger.refusal.status)) throw invalidParams('trigger.refusal', 'must be a response object');
    return { type, refusal: trigger.refusal, ...at };
  }
  if (type === 'streamHook') {
    const hook = trigger.hook;
    if (hook !== 'join' && hook !== 'leave' && hook !== 'authenticate') throw invalidParams('trigger.hook', 'must be "join", "leave" or "authenticate"');
    return { type, hook };
  }
  if (type !== 'event') throw invalidParams('trigger.type', 'must be "api", "event", "cron" or "streamHook"');
  if (typeof trigger.topic !== 'string') throw invalidParams('trigger.topic', 'must be a string');
  if (typeof trigger.eventId !== 'string') throw invalidParams('trigger.eventId', 'must be a string');
  const group = trigger.messageGroupId;
  if (group !== undefined && group !== null && typeof group !== 'string') throw invalidParams('trigger.messageGroupId', 'must be a string or null');
  return { type, topic: trigger.topic, eventId: trigger.eventId, ...at };
}

/**
 * A stream's join or leave hook as Motia runs it: `onJoin(subscription,
 * context, authContext)` answers `{unauthorized}` (utils.ts initialize; the
 * engine refuses the join on `unauthorized: true`); 0.17's `canAccess(subscription,
 * authContext)` answers a boolean, `false` refusing (its streams docs);
 * `onLeave` answers nothing.
 *
 * @param {Record<string, unknown>} config the stream file's config, functions and all
 * @param {string} hook
 * @param {any} input `{subscriptionId, streamName, groupId, id, authContext}`
 * @param {unknown} ctx
 * @returns {Promise<unknown>}
 */
async function runStreamHook(config, hook, input, ctx) {
  const subscription = input.id === null || input.id === undefined ? { groupId: input.groupId } : { groupId: input.groupId, id: input.id };
  const authContext = input.authContext ?? undefined;
  if (hook === 'leave') {
    if (typeof config.onLeave === 'function') await config.onLeave(subscription, ctx, authContext);
    return null;
  }
  if (typeof config.canAccess === 'function' && !(await config.canAccess(subscription, authContext))) return { unauthorized: true };
  if (typeof config.onJoin !== 'function') return { unauthorized: false };
  const result = await config.onJoin(subscription, ctx, authContext);
  return { unauthorized: isObject(result) && result.unauthorized === true };
}

/**
 * @param {unknown} value
 * @returns {value is PromiseLike<unknown>}
 */
function isThenable(value) {
  return typeof value === 'object' && value !== null && typeof (/** @type {{then?: unknown}} */ (value).then) === 'function';
}

/**
 * An API request with its body as the step's zod `bodySchema` hands it on
 * (unknown keys of strip-mode objects removed, see bodyAsZodGivesIt).
 *
 * @param {unknown} req
 * @param {unknown} schema
 * @returns {unknown}
 */
function withZodBody(req, schema) {
  return isObject(req) && 'body' in req ? { ...req, body: bodyAsZodGivesIt(schema, req.body) } : req;
}

/**
 * invoke.handler-error: -32000 with the ErrorInfo as data.
 *
 * @param {unknown} err
 * @param {boolean} [retryable] overrides the error's own marking
 * @returns {RpcError}
 */
function handlerFailed(err, retryable) {
  const info = errorInfo(err, retryable);
  return new RpcError(ErrorCode.HANDLER_FAILED, `handler failed: ${info.type}: ${info.message}`, info);
}

/**
 * Answers an invocation with its handler's return value: an API handler's
 * `{status, body?, headers?}` (the status an integer), null for the others.
 * A malformed API response is the handler's bug, reported as its failure and
 * not retryable (the same code fails the same way).
 *
 * @param {Invocation} invocation
 * @param {Trigger['type']} type
 * @param {unknown} value
 */
function answer(invocation, type, value) {
  if (type !== 'api') {
    invocation.succeed(null);
  } else if (isObject(value) && Number.isInteger(value.status)) {
    invocation.succeed(apiResponse(value));
  } else {
    const error = new TypeError(`an api handler must return {status: integer, body?, headers?}, got ${describe(value)}`);
    error.name = 'InvalidApiResponse';
    invocation.fail(handlerFailed(Object.assign(error, { retryable: false })));
  }
}

/** `bodyEncoding` of a body that is bytes, sent as base64 (SPEC invoke.input, invoke.result). */
const BASE64 = 'base64';

/**
 * The api `input` as the handler gets it: a base64 body is a Buffer, as
 * Express gives a raw body.
 *
 * @param {unknown} request
 * @returns {unknown}
 */
function apiRequest(request) {
  if (!isObject(request) || request.bodyEncoding !== BASE64 || typeof request.body !== 'string') return request ?? null;
  const { bodyEncoding: _, ...rest } = request;
  return { ...rest, body: Buffer.from(request.body, 'base64') };
}

/**
 * An api response for the wire: a Buffer or Uint8Array body goes as base64
 * (JSON.stringify would turn it into `{type: 'Buffer', data: [...]}`).
 *
 * @param {Record<string, unknown>} response
 * @returns {Record<string, unknown>}
 */
function apiResponse(response) {
  const body = response.body;
  if (!(body instanceof Uint8Array)) return response;
  return { ...response, body: Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('base64'), bodyEncoding: BASE64 };
}

/**
 * @param {unknown} value
 * @returns {string}
 */
function describe(value) {
  if (value === null || value === undefined) return String(value);
  if (isObject(value)) return `an object without an integer status (status: ${JSON.stringify(value.status) ?? 'undefined'})`;
  return typeof value;
}
