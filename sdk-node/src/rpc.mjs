// A JSON-RPC 2.0 peer over NDJSON (SPEC §2): decodes and classifies every
// incoming line, dispatches requests and notifications, correlates responses
// to the requests it sent, and writes one line per message. Bad input is
// answered as a value; nothing here throws back into the read loop.

import { LineReader } from './lines.mjs';
import { ErrorCode, MAX_ERROR_MESSAGE_CHARS } from './tables.mjs';


/** @typedef {string | number} RequestId */
/** @typedef {Record<string, unknown>} Params */
/**
 * Handles one request; returns the result, or a promise of it. Throw an
 * RpcError to answer with that error.
 * @typedef {(params: Params, id: RequestId) => unknown} MethodHandler
 */
/** @typedef {(params: Params) => void} NotificationHandler */
/**
 * What one incoming line is (SPEC `rpc.error-order`): a request to serve, a
 * notification, a response to settle, an error to answer, or a line to drop
 * unanswered (`rpc.no-reply-to-responses`).
 * @typedef {{kind: 'request', id: RequestId, method: string, params: unknown}
 *   | {kind: 'notification', method: string, params: unknown}
 *   | {kind: 'response', id: RequestId, message: Record<string, unknown>}
 *   | {kind: 'invalid', id: RequestId | null, code: number, message: string}
 *   | {kind: 'ignored', reason: string}} Incoming
 */

/**
 * A JSON-RPC error, thrown by method handlers to answer with it, and raised
 * to user code when the other side answers one of our requests with an error.
 */
export class RpcError extends Error {
  /**
   * @param {number} code
   * @param {string} message
   * @param {unknown} [data]
   */
  constructor(code, message, data) {
    super(message);
    this.name = 'RpcError';
    this.code = code;
    this.data = data;
  }
}

/**
 * A -32602 error naming the offending field (`rpc.bad-params`).
 *
 * @param {string} field path below params, e.g. `steps[2]` or `trigger.type`
 * @param {string} message what was expected
 * @returns {RpcError}
 */
export function invalidParams(field, message) {
  return new RpcError(ErrorCode.INVALID_PARAMS, `invalid params: ${field} ${message}`, { path: `$.params.${field}` });
}

/**
 * @param {unknown} value
 * @returns {value is Record<string, unknown>} whether `value` is a JSON object (not null, not an array)
 */
export function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * @param {unknown} id
 * @returns {id is RequestId}
 */
function isRequestId(id) {
  return typeof id === 'string' || Number.isInteger(id);
}

/** @type {Params} */
const NO_PARAMS = Object.freeze({});

// fatal: invalid UTF-8 must be refused (`framing.utf8`), not patched with
// U+FFFD; ignoreBOM keeps a byte order mark in the text, where JSON.parse
// refuses it as the spec asks, instead of silently dropping it.
const DECODER = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// Every escape of a JSON text, in order: a backslash always starts one, so
// matching from the left stays aligned. `lone` is a surrogate without its pair.
const ESCAPES = /\\(?:ud[89ab][0-9a-f]{2}\\ud[c-f][0-9a-f]{2}|(?<lone>ud[89a-f][0-9a-f]{2})|.)/g;

/**
 * JSON.stringify for the wire: every lone surrogate (`'😀'.slice(0, 1)`),
 * which JSON.stringify writes as an escape such as `"\ud83d"` that is not
 * text, becomes U+FFFD as TextEncoder would make it (`framing.utf8.replace`).
 *
 * @param {unknown} value
 * @param {(this: unknown, key: string, value: unknown) => unknown} [replacer]
 * @returns {string}
 */
export function stringify(value, replacer) {
  const line = JSON.stringify(value, replacer);
  if (!line.includes('\\ud')) return line; // JSON.stringify writes lower-case hex
  return line.replace(ESCAPES, (escape, lone) => (lone === undefined ? escape : '\ufffd'));
}

/**
 * Classifies one line (without its newline). Pure and total: bad input
 * becomes a value, never an exception (SPEC `framing.bad-line`).
 *
 * @param {Uint8Array} line
 * @returns {Incoming}
 */
export function classify(line) {
  let text;
  try {
    text = DECODER.decode(line);
  } catch {
    return undecodable(line, 'the line is not valid UTF-8');
  }
  let message;
  try {
    message = JSON.parse(text);
  } catch (err) {
    if (!(err instanceof SyntaxError)) return undecodable(line, `JSON this SDK cannot read: ${String(err)}`);
    return { kind: 'invalid', id: null, code: ErrorCode.PARSE_ERROR, message: `parse error: ${err.message}` };
  }
  if (!isObject(message)) {
    return { kind: 'invalid', id: null, code: ErrorCode.INVALID_REQUEST, message: 'invalid request: not a JSON-RPC 2.0 object' };
  }
  const id = isRequestId(message.id) ? message.id : null;
  if (message.method === undefined && ('result' in message || 'error' in message)) {
    // rpc.no-reply-to-responses: a response is settled or dropped, never answered.
    if (message.jsonrpc !== '2.0') return { kind: 'ignored', reason: 'a response whose "jsonrpc" is not "2.0"' };
    if (id === null) {
      const error = isObject(message.error) ? message.error : {};
      return { kind: 'ignored', reason: `the broker could not read a line we sent: ${JSON.stringify(error.message ?? message.error ?? null)}` };
    }
    return { kind: 'response', id, message };
  }
  if (message.jsonrpc !== '2.0') {
    return { kind: 'invalid', id, code: ErrorCode.INVALID_REQUEST, message: 'invalid request: "jsonrpc" must be "2.0"' };
  }
  const method = message.method;
  if (method === undefined) return { kind: 'invalid', id, code: ErrorCode.INVALID_REQUEST, message: 'invalid request: no "method"' };
  if (typeof method !== 'string') {
    return { kind: 'invalid', id, code: ErrorCode.INVALID_REQUEST, message: 'invalid request: "method" must be a string' };
  }
  // rpc.params: absent params are {}; present ones are checked once the method is known.
  const params = 'params' in message ? message.params : NO_PARAMS;
  if (!('id' in message)) return { kind: 'notification', method, params };
  if (id === null) {
    return { kind: 'invalid', id: null, code: ErrorCode.INVALID_REQUEST, message: 'invalid request: "id" must be a string or an integer' };
  }
  return { kind: 'request', id, method, params };
}

// The start of a message as every sender writes it (`rpc.undecodable`).
const LEADING_ID = /^[ \t]*\{[ \t]*"jsonrpc"[ \t]*:[ \t]*"2\.0"[ \t]*,[ \t]*"id"[ \t]*:[ \t]*(-?[0-9]+|"[^"\\\ufffd]*")[ \t]*,[ \t]*"(method|result|error)"/;
const LENIENT = new TextDecoder('utf-8');
const HEAD_BYTES = 256;

/**
 * A line that cannot be decoded for its text, tied to the id its start shows
 * (`rpc.undecodable`): a request is answered by that id, a response fails
 * our request of that id; without one, -32700 with id null.
 *
 * @param {Uint8Array} line
 * @param {string} why
 * @returns {Incoming}
 */
function undecodable(line, why) {
  const found = LEADING_ID.exec(LENIENT.decode(line.subarray(0, HEAD_BYTES)));
  const id = found === null ? null : /** @type {RequestId} */ (JSON.parse(found[1]));
  if (found === null || found[2] === 'method') return { kind: 'invalid', id, code: ErrorCode.PARSE_ERROR, message: `parse error: ${why}` };
  const error = { code: ErrorCode.PARSE_ERROR, message: `the broker's answer could not be read: ${why}` };
  return { kind: 'response', id: /** @type {RequestId} */ (id), message: { jsonrpc: '2.0', id, error } };
}

/**
 * One end of a JSON-RPC connection. Incoming bytes go to push(); methods and
 * notifications are served by the handlers registered with handle() and
 * onNotification(); request() sends and awaits; every line out goes through
 * one LineWriter. Both directions may have many requests in flight, answered
 * in any order (`rpc.concurrent`).
 */
export class RpcPeer {
  /** @type {Map<string, {handler: MethodHandler, unsendable?: (err: unknown) => RpcError}>} */
  #methods = new Map();
  /** @type {Map<string, NotificationHandler>} */
  #notifications = new Map();
  /** @type {Map<number, {resolve: (value: unknown) => void, reject: (reason: Error) => void}>} */
  #pending = new Map();
  #nextId = 1;
  #writer;
  #reader;

  /** @param {import('./lines.mjs').LineWriter} writer */
  constructor(writer) {
    this.#writer = writer;
    this.#reader = new LineReader(
      (line) => this.receive(line),
      () => this.#replyError(null, ErrorCode.LINE_TOO_LONG, `line too long: over maxLineBytes (${this.maxLineBytes})`),
    );
  }

  /** The line limit for both directions (`framing.max-line`). */
  get maxLineBytes() {
    return this.#reader.maxLineBytes;
  }

  set maxLineBytes(bytes) {
    this.#reader.maxLineBytes = bytes;
  }

  /**
   * Serves `method` with `handler`. `unsendable` turns a result that cannot be
   * encoded as JSON into the error to answer instead (default: -32603).
   *
   * @param {string} method
   * @param {MethodHandler} handler
   * @param {{unsendable?: (err: unknown) => RpcError}} [options]
   */
  handle(method, handler, options = {}) {
    this.#methods.set(method, { handler, unsendable: options.unsendable });
  }

  /**
   * Serves the notification `method` with `handler`. Unknown notifications
   * are ignored (`rpc.unknown-method`).
   *
   * @param {string} method
   * @param {NotificationHandler} handler
   */
  onNotification(method, handler) {
    this.#notifications.set(method, handler);
  }

  /**
   * Feeds bytes read from the other side.
   *
   * @param {Buffer} chunk
   */
  push(chunk) {
    this.#reader.push(chunk);
  }

  /**
   * Handles one complete line (without its newline).
   *
   * @param {Uint8Array} line
   */
  receive(line) {
    const incoming = classify(line);
    switch (incoming.kind) {
      case 'invalid':
        this.#replyError(incoming.id, incoming.code, incoming.message);
        return;
      case 'ignored':
        process.stderr.write(`motiad-sdk-node: ignored a line: ${incoming.reason}\n`);
        return;
      case 'response':
        this.#settle(incoming.id, incoming.message);
        return;
      case 'notification':
        this.#notify(incoming.method, incoming.params);
        return;
      case 'request':
        this.#serve(incoming.id, incoming.method, incoming.params);
    }
  }

  /**
   * @param {RequestId} id
   * @param {string} method
   * @param {unknown} params
   */
  #serve(id, method, params) {
    const served = this.#methods.get(method);
    if (served === undefined) {
      this.#replyError(id, ErrorCode.METHOD_NOT_FOUND, `method not found: ${method}`);
      return;
    }
    if (!isObject(params)) {
      this.#replyError(id, ErrorCode.INVALID_PARAMS, 'invalid params: params must be an object', { path: '$.params' });
      return;
    }
    let result;
    try {
      result = served.handler(params, id);
    } catch (err) {
      this.#replyThrown(id, err);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (value) => this.respond(id, value, served.unsendable),
        (err) => this.#replyThrown(id, err),
      );
    } else {
      this.respond(id, result, served.unsendable);
    }
  }

  /**
   * Answers request `id` with `result` (`undefined` is sent as null). A result
   * that cannot be sent is answered with an error instead, so the request
   * never goes unanswered: not JSON-serialisable → `unsendable(err)` (default
   * -32603); over the line limit → -32005 with the request's id
   * (`framing.max-line.send`).
   *
   * @param {RequestId} id
   * @param {unknown} result
   * @param {(err: unknown) => RpcError} [unsendable]
   */
  respond(id, result, unsendable) {
    let line;
    try {
      line = stringify({ jsonrpc: '2.0', id, result: result === undefined ? null : result });
    } catch (err) {
      const error = unsendable?.(err) ?? new RpcError(ErrorCode.INTERNAL_ERROR, `result is not JSON-serialisable: ${String(err)}`);
      this.#replyError(id, error.code, error.message, error.data);
      return;
    }
    if (this.#fits(line)) this.#writer.writeLine(line);
    else this.#replyError(id, ErrorCode.LINE_TOO_LONG, `result too long: ${Buffer.byteLength(line)} bytes, over maxLineBytes (${this.maxLineBytes})`);
  }

  /**
   * Sends a request and resolves with its result. An error answer rejects
   * with an RpcError carrying the error's `code` and `data`.
   *
   * @param {string} method
   * @param {Params} params
   * @returns {Promise<unknown>}
   */
  request(method, params) {
    const id = this.#nextId++;
    let line;
    try {
      line = stringify({ jsonrpc: '2.0', id, method, params });
    } catch (err) {
      return Promise.reject(err);
    }
    if (!this.#fits(line)) {
      return Promise.reject(new RpcError(ErrorCode.LINE_TOO_LONG, `${method} request too long: over maxLineBytes (${this.maxLineBytes})`));
    }
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#writer.writeLine(line);
    });
  }

  /**
   * Sends a notification. `replacer` may make user data JSON-safe. One that
   * cannot be sent is dropped with a note on stderr: notifications have no
   * answer to carry an error.
   *
   * @param {string} method
   * @param {Params} params
   * @param {(this: unknown, key: string, value: unknown) => unknown} [replacer]
   */
  notify(method, params, replacer) {
    let line;
    try {
      line = stringify({ jsonrpc: '2.0', method, params }, replacer);
    } catch (err) {
      process.stderr.write(`motiad-sdk-node: ${method} notification dropped: ${String(err)}\n`);
      return;
    }
    if (this.#fits(line)) {
      this.#writer.writeLine(line);
    } else {
      // framing.max-line.send: never sent; say so on stderr with its start.
      const start = JSON.stringify(String(isObject(params) ? (params.message ?? '') : '').slice(0, 200));
      process.stderr.write(`motiad-sdk-node: ${method} notification dropped: ${Buffer.byteLength(line)} bytes, over maxLineBytes (${this.maxLineBytes}); it began ${start}\n`);
    }
  }

  /**
   * @param {string} line
   * @returns {boolean}
   */
  #fits(line) {
    // A UTF-16 unit takes at most 3 UTF-8 bytes: skip counting short lines.
    return line.length * 3 <= this.maxLineBytes || Buffer.byteLength(line) <= this.maxLineBytes;
  }

  /**
   * @param {string} method
   * @param {unknown} params
   */
  #notify(method, params) {
    // Unknown notifications, and notifications with bad params, are ignored.
    const handler = this.#notifications.get(method);
    if (handler === undefined || !isObject(params)) return;
    try {
      handler(params);
    } catch (err) {
      process.stderr.write(`motiad-sdk-node: ${method} notification failed: ${String(err)}\n`);
    }
  }

  /**
   * @param {RequestId} id
   * @param {Record<string, unknown>} message
   */
  #settle(id, message) {
    // rpc.unknown-id: an answer to nothing we asked (or asked twice) is ignored.
    const pending = typeof id === 'number' ? this.#pending.get(id) : undefined;
    if (pending === undefined) return;
    this.#pending.delete(/** @type {number} */ (id));
    if ('error' in message) {
      const error = isObject(message.error) ? message.error : {};
      const code = typeof error.code === 'number' ? error.code : ErrorCode.INTERNAL_ERROR;
      const text = typeof error.message === 'string' ? error.message : 'error without a message';
      pending.reject(new RpcError(code, text, error.data));
    } else {
      pending.resolve(message.result);
    }
  }

  /**
   * @param {RequestId} id
   * @param {unknown} err
   */
  #replyThrown(id, err) {
    if (err instanceof RpcError) this.#replyError(id, err.code, err.message, err.data);
    else this.#replyError(id, ErrorCode.INTERNAL_ERROR, `internal error: ${err instanceof Error ? err.stack : String(err)}`);
  }

  /**
   * @param {RequestId | null} id
   * @param {number} code
   * @param {string} message
   * @param {unknown} [data]
   */
  #replyError(id, code, message, data) {
    const error = data === undefined ? { code, message } : { code, message, data };
    let line;
    try {
      line = stringify({ jsonrpc: '2.0', id, error });
    } catch {
      line = stringify({ jsonrpc: '2.0', id, error: { code, message } });
    }
    // Error data (a stack trace, say) may be what overflows: drop it, keep the answer,
    // its message cut to whole characters (code points: no lone surrogate) until it fits.
    if (!this.#fits(line)) {
      let chars = Array.from(message).slice(0, MAX_ERROR_MESSAGE_CHARS);
      for (;;) {
        line = stringify({ jsonrpc: '2.0', id, error: { code, message: chars.join('') } });
        if (this.#fits(line)) break;
        if (chars.length === 0) {
          // The limit wins: the peer's own timeout ends the request (framing.max-line.send).
          process.stderr.write(`motiad-sdk-node: error ${code} not sent: over maxLineBytes (${this.maxLineBytes})\n`);
          return;
        }
        chars = chars.slice(0, Math.max(0, chars.length - (Buffer.byteLength(line) - this.maxLineBytes)));
      }
    }
    this.#writer.writeLine(line);
  }
}
