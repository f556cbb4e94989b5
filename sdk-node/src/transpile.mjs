// What the bundled TypeScript loader (src/typescript.mjs) and its import
// hooks (src/typescript-hooks.mjs) share: which module format a file has, and
// turning TypeScript, or JavaScript written with import/export, into that format.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * The query that makes the import hooks load a TypeScript file of a CommonJS
 * package as an ES module (a step with top-level `await`, see src/loader.mjs).
 */
export const AS_MODULE = 'motiad-format=module';

/** Files the bundled loader transpiles. `.tsx` for the odd step that uses JSX. */
export const TYPESCRIPT_FILE = /\.(?:[cm]?ts|tsx)$/;

/**
 * JavaScript with a top-level `import`/`export` statement at the start of a
 * line: the cheap test for "written as an ES module" that decides whether a
 * project `.js` file in a CommonJS package needs compiling. `import(` (dynamic
 * import) and `import.meta` do not count.
 */
const MODULE_SYNTAX = /^[ \t]*(?:import[ \t]*[\w{*'"]|export[ \t]+(?:\{|\*|default\b|const\b|let\b|var\b|function\b|async\b|class\b))/m;

/** Where `import.meta` is written; CommonJS output gets a stand-in (see toCommonJs). */
const IMPORT_META = /\bimport\.meta\b/g;

/** @type {{transform: (code: string, options: Record<string, unknown>) => {code: string}} | null} loaded on first use */
let sucrase = null;

/** @type {Map<string, 'module' | 'commonjs'>} package.json directory -> its module type */
const scopeTypes = new Map();

/**
 * The module format Node gives a file by its extension and the `"type"` of
 * the nearest package.json: `.mjs`/`.mts` are ES modules, `.cjs`/`.cts`
 * CommonJS, anything else follows the package (CommonJS without `"type"`).
 *
 * @param {string} file absolute path
 * @returns {'module' | 'commonjs'}
 */
export function moduleFormat(file) {
  if (/\.m[jt]s$/.test(file)) return 'module';
  if (/\.c[jt]s$/.test(file)) return 'commonjs';
  return packageType(path.dirname(file));
}

/**
 * @param {string} dir
 * @returns {'module' | 'commonjs'}
 */
function packageType(dir) {
  const known = scopeTypes.get(dir);
  if (known !== undefined) return known;
  let type = /** @type {'module' | 'commonjs'} */ ('commonjs');
  const manifest = readManifest(path.join(dir, 'package.json'));
  if (manifest !== null) {
    type = manifest.type === 'module' ? 'module' : 'commonjs';
  } else if (path.dirname(dir) !== dir) {
    type = packageType(path.dirname(dir));
  }
  scopeTypes.set(dir, type);
  return type;
}

/**
 * @param {string} file
 * @returns {Record<string, unknown> | null} the parsed package.json, or null when there is none
 */
function readManifest(file) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  try {
    return JSON.parse(text);
  } catch {
    return {}; // Node treats an unreadable package.json's scope as CommonJS too
  }
}

/**
 * Whether a project `.js` file is written with import/export and so needs
 * compiling to CommonJS (Motia runs `.js` steps through tsx, which does that).
 *
 * @param {string} source
 * @returns {boolean}
 */
export function hasModuleSyntax(source) {
  return MODULE_SYNTAX.test(source);
}

/**
 * TypeScript (types removed) or import/export JavaScript as CommonJS:
 * `require`, `module`, `__dirname` and `__filename` exist as in any CommonJS
 * file; `import.meta.url`, `.filename` and `.dirname` keep working; `import()`
 * stays a real dynamic import, so ES-module-only packages can still be loaded.
 * Line numbers are kept (sucrase never moves code between lines), so stack
 * traces point into the user's file without a source map.
 *
 * @param {string} source
 * @param {string} file absolute path, for error messages and `.tsx`
 * @returns {string}
 */
export function toCommonJs(source, file) {
  const code = transform(source, file, ['imports']);
  if (!code.includes('import.meta')) return code;
  // Prepended to the first line, so every line keeps its number.
  const meta =
    'const __motiadImportMeta = { url: require("node:url").pathToFileURL(__filename).href, filename: __filename, dirname: __dirname };';
  return meta + code.replace(IMPORT_META, '__motiadImportMeta');
}

/**
 * TypeScript as an ES module: only the types go.
 *
 * @param {string} source
 * @param {string} file absolute path
 * @returns {string}
 */
export function toModule(source, file) {
  return transform(source, file, []);
}

/**
 * @param {string} source
 * @param {string} file
 * @param {string[]} extra transforms besides the language's own
 * @returns {string}
 */
function transform(source, file, extra) {
  sucrase ??= createRequire(import.meta.url)('./vendor/sucrase.cjs');
  const language = file.endsWith('.tsx') ? ['typescript', 'jsx'] : TYPESCRIPT_FILE.test(file) ? ['typescript'] : [];
  return /** @type {NonNullable<typeof sucrase>} */ (sucrase).transform(source, {
    transforms: [...language, ...extra],
    filePath: file,
    preserveDynamicImport: true,
    // JSX in a `.tsx` step compiles as React 17+ does it; a step rarely has any.
    jsxRuntime: 'automatic',
    production: true,
  }).code;
}
