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
 * The name a middleware goes by in the config the broker sees.
 *
 * @param {Middleware} middleware
 * @returns {string}
 */
export function middlewareName(middleware) {
  return middleware.name || 'anonymous';
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
    const name = middlewareName(current);
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
