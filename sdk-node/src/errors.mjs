// Turning JavaScript failures into wire values: ErrorInfo (SPEC §4) and
// JSON-safe log fields. One place, so handler errors and load errors agree.

/**
 * A failure that retrying cannot fix. Throw it from a handler and the broker
 * dead-letters the event instead of redelivering it (`retryable: false`).
 */
export class NonRetryableError extends Error {
  /** @readonly */
  retryable = /** @type {const} */ (false);

  /**
   * @param {string} [message]
   * @param {ErrorOptions} [options]
   */
  constructor(message, options) {
    super(message, options);
    this.name = 'NonRetryableError';
  }
}

/**
 * @typedef {object} ErrorInfo
 * @property {string} type      the exception's class name
 * @property {string} message
 * @property {string} stack     the usual trace text; may be empty
 * @property {boolean} retryable
 */

/**
 * Describes any thrown value as an ErrorInfo. `retryable` is false only when
 * the value says so (`err.retryable === false`), unless `retryable` forces it.
 *
 * @param {unknown} err
 * @param {boolean} [retryable] overrides the value's own marking (load errors are never retryable)
 * @returns {ErrorInfo}
 */
export function errorInfo(err, retryable) {
  const marked = typeof err === 'object' && err !== null && /** @type {{retryable?: unknown}} */ (err).retryable === false;
  const info = { type: 'Error', message: '', stack: '', retryable: retryable ?? !marked };
  if (err instanceof Error) {
    info.type = errorType(err);
    info.message = String(err.message);
    info.stack = typeof err.stack === 'string' ? err.stack : '';
  } else {
    // `throw "boom"` or `throw {code: 1}`: keep what was thrown readable.
    info.type = err === null ? 'null' : typeof err === 'object' ? (err.constructor?.name ?? 'Object') : typeof err;
    info.message = typeof err === 'string' ? err : stringify(err);
  }
  return info;
}

/**
 * The class name of an error: `err.name` when it was set to something
 * specific, else the constructor's name (a `class MyError extends Error {}`
 * keeps the inherited name "Error", which would hide the real class).
 *
 * @param {Error} err
 * @returns {string}
 */
function errorType(err) {
  if (typeof err.name === 'string' && err.name !== '' && err.name !== 'Error') return err.name;
  return err.constructor?.name || 'Error';
}

/**
 * @param {unknown} value
 * @returns {string}
 */
function stringify(value) {
  try {
    return JSON.stringify(value, jsonSafeReplacer()) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * A `JSON.stringify` replacer that never throws on user data: Errors become
 * `{name, message, stack}`, BigInts become strings, and a reference back to an
 * object on the current path (a cycle) becomes "[Circular]". Shared objects
 * that are not cycles are written in full. Make a fresh one per stringify
 * call: it tracks the path it is on.
 *
 * @returns {(this: unknown, key: string, value: unknown) => unknown}
 */
export function jsonSafeReplacer() {
  /** @type {unknown[]} */
  const path = [];
  return function (_key, value) {
    if (typeof value === 'bigint') return value.toString();
    if (typeof value !== 'object' || value === null) return value;
    // `this` is the object holding `value`: pop until it is on top, so `path`
    // holds exactly the ancestors of `value`.
    while (path.length > 0 && path[path.length - 1] !== this) path.pop();
    if (path.includes(value)) return '[Circular]';
    const out = value instanceof Error ? { name: errorType(value), message: value.message, stack: value.stack ?? '' } : value;
    path.push(out);
    return out;
  };
}
