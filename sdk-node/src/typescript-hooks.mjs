// Node module hooks (module.register) for TypeScript loaded with `import`:
// registered by src/typescript.mjs, they run on Node's hooks thread.

import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { AS_MODULE, TYPESCRIPT_FILE, moduleFormat, toCommonJs, toModule } from './transpile.mjs';

/**
 * What an import written without extension (`'./services/pet-store'`) or
 * with TypeScript's `.js` (`'./util.js'` for `util.ts`) may mean, tried in
 * order after Node's own resolution fails. Motia 0.17 resolves the same
 * extensionless imports (its ts-compiler.ts).
 */
const CANDIDATES = ['.ts', '.tsx', '.mts', '.js', '/index.ts', '/index.js'];

/**
 * @typedef {{parentURL?: string, conditions?: string[], importAttributes?: Record<string, string>}} ResolveContext
 * @typedef {{url: string, format?: string | null, shortCircuit?: boolean}} ResolveResult
 * @typedef {{format?: string | null, importAttributes?: Record<string, string>, conditions?: string[]}} LoadContext
 * @typedef {{format: string, source?: string | ArrayBuffer | Uint8Array | null, shortCircuit?: boolean}} LoadResult
 */

/**
 * @param {string} specifier
 * @param {ResolveContext} context
 * @param {(specifier: string, context?: ResolveContext) => Promise<ResolveResult>} nextResolve
 * @returns {Promise<ResolveResult>}
 */
export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (err) {
    const fromTypeScript = context.parentURL?.startsWith('file:') && TYPESCRIPT_FILE.test(new URL(context.parentURL).pathname);
    if (!fromTypeScript || !(specifier.startsWith('./') || specifier.startsWith('../'))) throw err;
    const bare = specifier.replace(/\.[cm]?js$/, '');
    for (const candidate of CANDIDATES) {
      try {
        return await nextResolve(bare + candidate, context);
      } catch {
        // the next candidate, then the original error
      }
    }
    throw err;
  }
}

/**
 * @param {string} url
 * @param {LoadContext} context
 * @param {(url: string, context?: LoadContext) => Promise<LoadResult>} nextLoad
 * @returns {Promise<LoadResult>}
 */
export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:')) return nextLoad(url, context);
  const file = fileURLToPath(url);
  if (!TYPESCRIPT_FILE.test(file)) return nextLoad(url, context);
  const source = await readFile(file, 'utf8');
  if (moduleFormat(file) === 'commonjs' && !url.endsWith(`?${AS_MODULE}`)) {
    // The compiled source lets Node find the named exports an `import { x }`
    // asks for; the module itself runs in Node's CommonJS loader, where
    // src/typescript.mjs compiles it (with require, __dirname, …).
    return { format: 'commonjs', source: toCommonJs(source, file), shortCircuit: true };
  }
  return { format: 'module', source: toModule(source, file), shortCircuit: true };
}
