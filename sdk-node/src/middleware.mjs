// API middleware, as in Motia: `config.middleware` is a list of
// `async (req, ctx, next) => response` run around the handler, in order. A
// middleware may answer without calling `next()` (the handler never runs),
// change `req` before calling it, or change the response it returns. The
// functions stay in the child; the broker sees only their names.

import { isObject } from './rpc.mjs';

/**
 * @typedef {(req: unknown, ctx: unknown, next: () => Promise<unknown>) => unknown} Middleware
 */

/**
 * Reads `config.middleware`: an array of functions, or absent.
 *
 * @param {Record<string, unknown>} config
 * @param {string} file the step file, for messages
 * @returns {Middleware[]}
 */
export function middlewareOf(config, file) {
  const list = config.middleware;
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw new MiddlewareError(`config.middleware in ${file} must be an array of functions`);
  list.forEach((entry, index) => {
    if (typeof entry !== 'function') {
      throw new MiddlewareError(`config.middleware[${index}] in ${file} must be a function, not ${entry === null ? 'null' : typeof entry}`);
    }
  });
  return /** @type {Middleware[]} */ (list);
}

/**
 * The names middleware go by in the config the broker sees (`motiad steps`,
 * the workbench): a function's own name, else, for one a factory made
 * (`rateLimit(10)` returns an anonymous arrow), the call as the step file
 * writes it in its `middleware: [...]` list, else `middleware[i]`.
 *
 * @param {Middleware[]} middleware
 * @param {() => string} readSource the step file's text, read only when a name is missing
 * @returns {string[]}
 */
export function middlewareNames(middleware, readSource) {
  /** @type {string[] | null} */
  let written = null;
  return middleware.map((fn, index) => {
    if (fn.name) return fn.name;
    written ??= listEntries(readSource());
    const entry = written.length === middleware.length ? written[index].replace(/\s+/g, ' ') : '';
    // A factory call reads well; an inline arrow function would not.
    return FACTORY_CALL.test(entry) && entry.length <= MAX_NAME_LENGTH ? entry : `middleware[${index}]`;
  });
}

/** `name(…)` or `a.b(…)`: an entry that is a call. */
const FACTORY_CALL = /^[\w$.]+\(.*\)$/;

/** Longer calls are named by position: names are for lists and graphs. */
const MAX_NAME_LENGTH = 60;

/**
 * The entries of the first `middleware: [...]` list in a source text, split
 * at its top-level commas (strings, comments and brackets skipped over); an
 * empty array when there is no such list.
 *
 * @param {string} source
 * @returns {string[]}
 */
export function listEntries(source) {
  const start = /\bmiddleware\s*:\s*\[/.exec(source);
  if (start === null) return [];
  const entries = [];
  let depth = 0;
  let entry = '';
  for (let i = start.index + start[0].length; i < source.length; i++) {
    const char = source[i];
    const skipped = skipQuotedOrComment(source, i);
    if (skipped > i) {
      if (char !== '/') entry += source.slice(i, skipped); // strings stay, comments go
      i = skipped - 1;
    } else if (depth === 0 && (char === ',' || char === ']')) {
      if (entry.trim()) entries.push(entry.trim());
      entry = '';
      if (char === ']') return entries;
    } else {
      if ('([{'.includes(char)) depth++;
      else if (')]}'.includes(char)) depth--;
      entry += char;
    }
  }
  return []; // never closed: not something to name from
}

/**
 * @param {string} source
 * @param {number} at
 * @returns {number} where the string or comment starting at `at` ends, or `at` when none starts there
 */
function skipQuotedOrComment(source, at) {
  const char = source[at];
  if (char === '/' && source[at + 1] === '/') {
    const end = source.indexOf('\n', at);
    return end === -1 ? source.length : end;
  }
  if (char === '/' && source[at + 1] === '*') {
    const end = source.indexOf('*/', at + 2);
    return end === -1 ? source.length : end + 2;
  }
  if (char !== '"' && char !== "'" && char !== '`') return at;
  for (let i = at + 1; i < source.length; i++) {
    if (source[i] === '\\') i++;
    else if (source[i] === char) return i + 1;
  }
  return source.length;
}

/**
 * Calls `handler(req, ctx)` wrapped in `middleware`, first one outermost.
 *
 * @param {Middleware[]} middleware
 * @param {(req: unknown, ctx: unknown) => unknown} handler
 * @param {unknown} req
 * @param {unknown} ctx
 * @returns {Promise<unknown>} the response the outermost middleware returns
 */
export async function runWithMiddleware(middleware, handler, req, ctx) {
  /**
   * @param {number} index
   * @returns {Promise<unknown>}
   */
  const dispatch = async (index) => {
    const current = middleware[index];
    if (current === undefined) return handler(req, ctx);
    const name = current.name || `middleware[${index}]`;
    let called = false;
    const next = () => {
      if (called) return Promise.reject(new MiddlewareError(`middleware ${name} called next() more than once`));
      called = true;
      return dispatch(index + 1);
    };
    const response = await current(req, ctx, next);
    if (!isObject(response)) {
      throw new MiddlewareError(`middleware ${name} returned ${response === null ? 'null' : typeof response}: return a response, or the result of \`await next()\``);
    }
    return response;
  };
  return dispatch(0);
}

/** A middleware list that is not one, or a middleware that broke the contract. */
export class MiddlewareError extends Error {
  /** @readonly */
  retryable = /** @type {const} */ (false);

  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'MiddlewareError';
  }
}
