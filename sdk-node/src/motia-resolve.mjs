// `motia` is motiad's inside a step child (src/motia.cjs): a Motia 1.x step
// imports its trigger helpers, enqueue, logger and stateManager from it, and
// the project's own `motia` package (Motia 1.x's would try to reach its iii
// engine; Motia 0.17 steps import only types from theirs) is not loaded.

import Module, { register } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The file `motia` resolves to. */
export const MOTIA_MODULE = fileURLToPath(new URL('./motia.cjs', import.meta.url));

/** @type {{_resolveFilename: (request: string, ...rest: unknown[]) => string}} */
const CommonJs = /** @type {any} */ (Module);

let commonJsInstalled = false;
let importHookRegistered = false;

/**
 * Makes `require('motia')` give motiad's module; cheap (one string compare per require).
 */
export function installMotiaRequire() {
  if (commonJsInstalled) return;
  commonJsInstalled = true;
  const resolveFilename = CommonJs._resolveFilename;
  CommonJs._resolveFilename = (request, ...rest) => (request === 'motia' ? MOTIA_MODULE : resolveFilename(request, ...rest));
}

/**
 * Makes `import ... from 'motia'` give motiad's module. Registering starts
 * Node's hooks thread, so the loader calls it only when an ES-module file loads.
 */
export function registerMotiaImport() {
  if (importHookRegistered) return;
  importHookRegistered = true;
  register('./motia-hooks.mjs', import.meta.url, { data: { url: new URL('./motia.cjs', import.meta.url).href } });
}
