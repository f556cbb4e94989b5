// Loading step files (SPEC `lifecycle.initialize`): TypeScript through the
// project's tsx, then one dynamic import per file. A file that fails is
// reported on its own and never stops the others.

import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { errorInfo } from './errors.mjs';
import { middlewareName, middlewareOf } from './middleware.mjs';
import { isObject } from './rpc.mjs';
import { PackageNotFoundError, importFromProject } from './resolve.mjs';
import { configToJson, streamConfigToJson } from './schema.mjs';

const TYPESCRIPT_FILE = /\.[cm]?ts$/;

/**
 * @typedef {(input: unknown, ctx: unknown) => unknown} StepHandler
 * @typedef {import('./middleware.mjs').Middleware} Middleware
 * @typedef {{path: string, config: Record<string, unknown>, handler: StepHandler | null, middleware: Middleware[]}} LoadedStep
 *   `handler` is null for a `noop` step, which never runs; `middleware` runs around an API handler
 * @typedef {{path: string, error: import('./errors.mjs').ErrorInfo}} FailedStep
 * @typedef {{path: string, config: Record<string, unknown>}} LoadedStream
 */

/**
 * Loads every step file, in order. TypeScript support is registered first
 * when any file needs it.
 *
 * @param {string} project absolute project directory
 * @param {string[]} files step paths as the broker sent them
 * @returns {Promise<Array<LoadedStep | FailedStep>>} one entry per file, in order
 */
export async function loadSteps(project, files) {
  return loadEach(project, files, loadStep);
}

/**
 * Loads every stream definition file (SPEC `lifecycle.streams`), in order.
 *
 * @param {string} project absolute project directory
 * @param {string[]} files stream paths as the broker sent them
 * @returns {Promise<Array<LoadedStream | FailedStep>>} one entry per file, in order
 */
export async function loadStreams(project, files) {
  return loadEach(project, files, loadStream);
}

/**
 * @template T
 * @param {string} project
 * @param {string[]} files
 * @param {(project: string, file: string) => Promise<T | FailedStep>} loadOne
 * @returns {Promise<Array<T | FailedStep>>}
 */
async function loadEach(project, files, loadOne) {
  const typescriptError = files.some((file) => TYPESCRIPT_FILE.test(file)) ? await registerTypeScript(project) : null;
  const loaded = [];
  for (const file of files) {
    if (typescriptError !== null && TYPESCRIPT_FILE.test(file)) {
      loaded.push({ path: file, error: errorInfo(typescriptError(file), false) });
    } else {
      loaded.push(await loadOne(project, file));
    }
  }
  return loaded;
}

/** Whether tsx was registered already (stream and step files may both need it). */
let typescriptRegistered = false;

/**
 * Registers the project's tsx for both ESM `import` and CommonJS `require`
 * (a `.ts` file in a package without `"type": "module"` and every `.cts` file
 * load as CommonJS). tsx comes from the project, never from the SDK: its
 * version and tsconfig handling are the project's business.
 *
 * @param {string} project
 * @returns {Promise<((file: string) => Error) | null>} null on success, else the error each TypeScript step gets
 */
async function registerTypeScript(project) {
  if (typescriptRegistered) return null;
  let esm;
  try {
    esm = await importFromProject(project, 'tsx/esm/api');
  } catch (err) {
    if (!(err instanceof PackageNotFoundError)) return () => /** @type {Error} */ (err);
    return (file) => {
      const missing = new Error(`TypeScript step ${file} needs tsx: run \`npm install -D tsx\` in ${project}`);
      missing.name = 'TsxNotFound';
      // Our own stack says nothing about the user's file.
      missing.stack = `${missing.name}: ${missing.message}`;
      return missing;
    };
  }
  try {
    esm.register();
    // Older tsx without a CommonJS API still serves ESM TypeScript.
    const cjs = await importFromProject(project, 'tsx/cjs/api').catch(() => null);
    cjs?.register();
    typescriptRegistered = true;
  } catch (err) {
    const failed = err instanceof Error ? err : new Error(String(err));
    return () => failed;
  }
  return null;
}

/**
 * Imports one step file and reads its `config` and `handler`: named exports
 * (`export const config`), or the properties of the default export, which is
 * where `module.exports = {config, handler}` lands for CommonJS.
 *
 * @param {string} project
 * @param {string} file
 * @returns {Promise<LoadedStep | FailedStep>}
 */
async function loadStep(project, file) {
  try {
    /** @type {Record<string, unknown>} */
    const mod = await import(pathToFileURL(path.resolve(project, file)).href);
    const fallback = isObject(mod.default) ? mod.default : {};
    const config = mod.config ?? fallback.config;
    const handler = mod.handler ?? fallback.handler;
    if (!isObject(config)) throw new StepShapeError(`step ${file} has no config: export one with \`export const config = {...}\``);
    if (typeof handler !== 'function' && config.type !== 'noop') {
      throw new StepShapeError(`step ${file} has no handler: export one with \`export const handler = async (...) => {...}\``);
    }
    // Middleware functions stay here; the broker's copy of the config names them.
    const middleware = middlewareOf(config, file);
    const shaped = config.middleware === undefined ? config : { ...config, middleware: middleware.map(middlewareName) };
    return {
      path: file,
      config: await configToJson(shaped, project),
      handler: typeof handler === 'function' ? /** @type {StepHandler} */ (handler) : null,
      middleware,
    };
  } catch (err) {
    return { path: file, error: errorInfo(err, false) };
  }
}

/**
 * Imports one stream file (`export const config = {name, schema, baseConfig}`).
 *
 * @param {string} project
 * @param {string} file
 * @returns {Promise<LoadedStream | FailedStep>}
 */
async function loadStream(project, file) {
  try {
    /** @type {Record<string, unknown>} */
    const mod = await import(pathToFileURL(path.resolve(project, file)).href);
    const fallback = isObject(mod.default) ? mod.default : {};
    const config = mod.config ?? fallback.config;
    if (!isObject(config)) throw new StepShapeError(`stream ${file} has no config: export one with \`export const config = {name, schema}\``);
    return { path: file, config: await streamConfigToJson(config, project) };
  } catch (err) {
    return { path: file, error: errorInfo(err, false) };
  }
}

/** A step file that loads but does not export what a step needs. */
class StepShapeError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'StepShapeError';
    this.stack = `${this.name}: ${message}`;
  }
}
