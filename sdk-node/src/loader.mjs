// Loading step files (SPEC `lifecycle.initialize`): TypeScript through the
// project's tsx or the SDK's own loader, then one import or require per file.
// A file that fails is reported on its own and never stops the others.

import { readFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { errorInfo } from './errors.mjs';
import { middlewareNames, middlewareOf } from './middleware.mjs';
import { installMotiaRequire, registerMotiaImport } from './motia-resolve.mjs';
import { isMotia1xConfig, motia1xConfigToJson } from './motia1x.mjs';
import { isObject } from './rpc.mjs';
import { PackageNotFoundError, importFromProject } from './resolve.mjs';
import { configToJson, isZodSchema, streamConfigToJson } from './schema.mjs';
import { AS_MODULE, TYPESCRIPT_FILE, moduleFormat, toModule } from './transpile.mjs';
import { installTypeScriptLoader, registerTypeScriptImports } from './typescript.mjs';

/**
 * @typedef {(input: unknown, ctx: unknown) => unknown} StepHandler
 * @typedef {import('./middleware.mjs').Middleware} Middleware
 * @typedef {{path: string, config: Record<string, unknown>, handler: StepHandler | null, middleware: Middleware[], bodySchema: unknown, triggers: Array<{type: string}> | null}} LoadedStep
 *   `handler` is null for a `noop` step, which never runs; `middleware` runs around an API handler;
 *   `bodySchema` is the zod schema the file wrote, null when it is not zod;
 *   `triggers` are a Motia 1.x step's, as the file wrote them (null for a 0.17 step)
 * @typedef {{path: string, error: import('./errors.mjs').ErrorInfo, config?: Record<string, unknown>}} FailedStep
 *   `config` beside `error`: the config was read but the step cannot run (no handler);
 *   the broker then names the step's routes (they answer 503 with the error).
 * @typedef {{path: string, config: Record<string, unknown>, hooks: Record<string, unknown>}} LoadedStream
 */

/**
 * Loads every step file, in order, after prepareLoaders (which the host
 * calls first with the stream files too).
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
  await prepareLoaders(project, files);
  const loaded = [];
  for (const file of files) {
    if (tsxFailure !== null && TYPESCRIPT_FILE.test(file)) {
      loaded.push({ path: file, error: errorInfo(tsxFailure, false) });
    } else {
      loaded.push(await loadOne(project, file));
    }
  }
  return loaded;
}

/** Which TypeScript loader serves this child, once chosen. */
let typescriptLoader = /** @type {'none' | 'project-tsx' | 'bundled'} */ ('none');

/** Why the project's tsx failed to register: every TypeScript file gets it as its load error. */
let tsxFailure = /** @type {Error | null} */ (null);

/**
 * Makes files loadable, choosing the loader once per child: call it with every
 * file the child will load (steps and streams) before loading any. When one
 * is TypeScript and the project has its own tsx, that tsx serves (its
 * version, its tsconfig handling, `paths` included); otherwise the SDK's
 * bundled loader (src/typescript.mjs), which costs nothing until a file needs
 * compiling. Either compiles TypeScript, and `.js` files written with
 * import/export in a CommonJS package, to CommonJS.
 *
 * @param {string} project
 * @param {string[]} files
 * @returns {Promise<void>}
 */
export async function prepareLoaders(project, files) {
  installMotiaRequire();
  if (files.some((file) => importsMotia(path.resolve(project, file)))) {
    registerMotiaImport();
    hooksThread = true;
  }
  if (typescriptLoader === 'none') {
    const needsTypeScript = files.some((file) => TYPESCRIPT_FILE.test(file));
    const tsxError = needsTypeScript ? await registerProjectTsx(project) : PROJECT_HAS_NO_TSX;
    if (tsxError === null) {
      typescriptLoader = 'project-tsx';
    } else {
      // A tsx that fails to register fails the TypeScript files, loudly; the
      // JavaScript ones still load, with the bundled loader's CommonJS handling.
      if (tsxError !== PROJECT_HAS_NO_TSX) tsxFailure = tsxError;
      installTypeScriptLoader();
      typescriptLoader = 'bundled';
    }
  }
  if (typescriptLoader !== 'bundled' || tsxFailure !== null) return;
  const esModuleTypeScript = files.map((file) => path.resolve(project, file)).filter((file) => TYPESCRIPT_FILE.test(file) && moduleFormat(file) === 'module');
  for (const file of esModuleTypeScript) {
    if (checked.has(file)) continue;
    checked.add(file);
    // `require` of ES modules: Node 20.19+ and 22.12+ (older ones need the hooks).
    const requiresModules = /** @type {{require_module?: boolean}} */ (process.features).require_module === true;
    const compiled = hooksThread || !requiresModules ? null : compiledWithoutHooks(file);
    if (compiled === null) {
      startTypeScriptImports();
    } else {
      withoutHooks.set(file, compiled);
    }
  }
}

/**
 * Whether Node's hooks thread runs (module.register was called): once it does,
 * every ES module loads through it, as `import` would.
 */
let hooksThread = false;

/** ES-module TypeScript files prepareLoaders has looked at. */
const checked = /** @type {Set<string>} */ (new Set());

/** ES-module TypeScript files, compiled, that load in this thread (see compiledWithoutHooks). */
const withoutHooks = /** @type {Map<string, string>} */ (new Map());

function startTypeScriptImports() {
  registerTypeScriptImports();
  hooksThread = true;
}

/**
 * What an ES-module TypeScript file needs the hooks thread for: importing
 * other files (a relative `import './x'` may mean `./x.ts`, which only the
 * hooks can load, and so may anything such a file imports), `import()` at any
 * time, `import.meta.resolve` (the hooks add the TypeScript candidates).
 * Builtins and packages do not.
 */
const NEEDS_HOOKS = /\bimport\s*\(|\bimport\.meta\.resolve\b|(?:\bfrom|\bimport)\s*(['"])(?:\.|\/|file:)[^'"]*\1/;

/**
 * A self-contained ES-module TypeScript step (it imports builtins and packages
 * only, as small steps do) compiled here, to load without Node's hooks thread:
 * on Node 20 that thread is a second V8 isolate, some 13 MB for as long as the
 * child lives. Null when the file needs the hooks, or does not compile (the
 * hooks then report why, as for any other file).
 *
 * @param {string} file absolute path
 * @returns {string | null}
 */
function compiledWithoutHooks(file) {
  let compiled;
  try {
    compiled = toModule(readFileSync(file, 'utf8'), file);
  } catch {
    return null;
  }
  return NEEDS_HOOKS.test(compiled) ? null : compiled;
}

/**
 * Evaluates a compiled ES-module step in this thread, through Node's
 * `require(esm)` (Node 20.19+): a real ES module, in the same module map as
 * `import` (a later `import` of its URL gives this instance), with its
 * `import.meta`. A module with top-level `await` is refused before it runs and
 * left linked in that map: `import` then finishes it, still without the hooks.
 * Anything else that fails before the module runs (a package that turns out
 * to import TypeScript) is retried through the hooks.
 *
 * @param {string} file absolute path
 * @param {string} compiled
 * @returns {Promise<Record<string, unknown>>}
 */
async function importWithoutHooks(file, compiled) {
  const url = pathToFileURL(file).href;
  const CommonJs = /** @type {any} */ (Module);
  const holder = new CommonJs(file, null);
  holder.filename = file;
  holder.paths = CommonJs._nodeModulePaths(path.dirname(file));
  try {
    holder._compile(compiled, file, 'module');
    return holder.exports;
  } catch (err) {
    const code = /** @type {{code?: unknown}} */ (err).code;
    if (code !== 'ERR_REQUIRE_ASYNC_MODULE') startTypeScriptImports();
    return import(url);
  }
}

/**
 * Whether an ES-module file names `motia` (its import needs the hook thread,
 * which Node starts only then: it also changes where Node's warnings go).
 *
 * @param {string} file
 * @returns {boolean}
 */
function importsMotia(file) {
  if (moduleFormat(file) !== 'module') return false;
  try {
    return /['"]motia['"]/.test(readFileSync(file, 'utf8'));
  } catch {
    return false; // loading it reports why
  }
}

/** registerProjectTsx's answer when the project has no tsx: not an error, the bundled loader takes over. */
const PROJECT_HAS_NO_TSX = new Error('the project has no tsx');

/**
 * Registers the project's tsx for both ESM `import` and CommonJS `require`
 * (a `.ts` file in a package without `"type": "module"` and every `.cts` file
 * load as CommonJS).
 *
 * @param {string} project
 * @returns {Promise<Error | null>} null once registered, PROJECT_HAS_NO_TSX, or why the project's tsx failed
 */
async function registerProjectTsx(project) {
  let esm;
  try {
    esm = await importFromProject(project, 'tsx/esm/api');
  } catch (err) {
    if (err instanceof PackageNotFoundError) return PROJECT_HAS_NO_TSX;
    return err instanceof Error ? err : new Error(String(err));
  }
  try {
    esm.register();
    // Older tsx without a CommonJS API still serves ESM TypeScript.
    const cjs = await importFromProject(project, 'tsx/cjs/api').catch(() => null);
    cjs?.register();
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
  return null;
}

/**
 * Loads a step or stream file as Motia does: an ES module (`.mjs`, `.mts`, or
 * in a `"type": "module"` package) with `import`; anything else as CommonJS
 * with `require`, so that a file written with import/export still has
 * `require`, `__dirname` and `__filename`. Returns the module's exports.
 *
 * @param {string} project
 * @param {string} file
 * @returns {Promise<Record<string, unknown>>}
 */
async function importStepFile(project, file) {
  const absolute = path.resolve(project, file);
  if (moduleFormat(absolute) === 'module') {
    const compiled = withoutHooks.get(absolute);
    withoutHooks.delete(absolute);
    if (compiled !== undefined && !hooksThread) return importWithoutHooks(absolute, compiled);
    return import(pathToFileURL(absolute).href);
  }
  try {
    return createRequire(absolute)(absolute);
  } catch (err) {
    // Motia 0.17 compiles TypeScript steps to ES modules, where top-level
    // `await` is allowed: such a step loads as one (src/typescript-hooks.mjs).
    // Node 20.19+ retries such a file as an ES module and then refuses the
    // await in `require` (ERR_REQUIRE_ASYNC_MODULE); older ones give the SyntaxError.
    const code = /** @type {{code?: unknown}} */ (err).code;
    const topLevelAwait = code === 'ERR_REQUIRE_ASYNC_MODULE' || (err instanceof SyntaxError && /top level bodies of modules/.test(err.message));
    if (!(topLevelAwait && typescriptLoader === 'bundled' && TYPESCRIPT_FILE.test(absolute))) throw err;
    startTypeScriptImports();
    return import(`${pathToFileURL(absolute).href}?${AS_MODULE}`);
  }
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
    const mod = await importStepFile(project, file);
    const fallback = isObject(mod.default) ? mod.default : {};
    const config = mod.config ?? fallback.config;
    const handler = mod.handler ?? fallback.handler;
    if (!isObject(config)) throw new StepShapeError(`step ${file} has no config: export one with \`export const config = {...}\``);
    if (isMotia1xConfig(config)) {
      const json = await motia1xConfigToJson(config, project, file);
      if (typeof handler !== 'function') {
        return withoutHandler(file, json, `step ${file} has no handler: export one with \`export const handler: Handlers<typeof config> = async (input, ctx) => {...}\``);
      }
      const triggers = /** @type {Array<{type: string}>} */ (config.triggers);
      return { path: file, config: json, handler: /** @type {StepHandler} */ (handler), middleware: [], bodySchema: null, triggers };
    }
    if (typeof handler !== 'function' && config.type !== 'noop') {
      const json = await configToJson(config.middleware === undefined ? config : { ...config, middleware: [] }, project);
      return withoutHandler(file, json, `step ${file} has no handler: export one with \`export const handler = async (...) => {...}\``);
    }
    // Middleware functions stay here; the broker's copy of the config names them.
    const middleware = middlewareOf(config, file);
    const names = () => middlewareNames(middleware, () => readFileSync(path.resolve(project, file), 'utf8'));
    const shaped = config.middleware === undefined ? config : { ...config, middleware: names() };
    return {
      path: file,
      config: await configToJson(shaped, project),
      handler: typeof handler === 'function' ? /** @type {StepHandler} */ (handler) : null,
      middleware,
      bodySchema: isZodSchema(config.bodySchema) ? config.bodySchema : null,
      triggers: null,
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
    const mod = await importStepFile(project, file);
    const fallback = isObject(mod.default) ? mod.default : {};
    const config = mod.config ?? fallback.config;
    if (!isObject(config)) throw new StepShapeError(`stream ${file} has no config: export one with \`export const config = {name, schema}\``);
    return { path: file, config: await streamConfigToJson(config, project), hooks: config };
  } catch (err) {
    return { path: file, error: errorInfo(err, false) };
  }
}

/**
 * Loads the project's `motia.config.ts` for its `authenticateStream` (SPEC
 * stream.hooks): the function, or the file's load error.
 *
 * @param {string} project
 * @param {string} file
 * @returns {Promise<{path: string, config: Record<string, never>, authenticate: Function} | FailedStep>}
 */
export async function loadStreamAuth(project, file) {
  const [loaded] = await loadEach(project, [file], async (_project, path) => {
    try {
      const mod = await importStepFile(project, path);
      const authenticate = mod.authenticateStream ?? (isObject(mod.default) ? mod.default.authenticateStream : undefined);
      if (typeof authenticate !== 'function') throw new StepShapeError(`${path} exports no authenticateStream function`);
      return { path, config: {}, authenticate };
    } catch (err) {
      return { path, error: errorInfo(err, false) };
    }
  });
  return loaded;
}

/**
 * SPEC lifecycle.initialize: a step whose config was read but that has no
 * handler is a failure that carries its config too.
 *
 * @param {string} file
 * @param {Record<string, unknown>} config
 * @param {string} message
 * @returns {FailedStep}
 */
function withoutHandler(file, config, message) {
  return { path: file, config, error: errorInfo(new StepShapeError(message), false) };
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
