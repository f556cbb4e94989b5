// Loading a package the way the *project* sees it, not the SDK: tsx and zod
// must be the project's own copies (its versions, its tsconfig handling, the
// same zod instance that built the user's schemas).

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

// The conditions Node's ESM loader matches for `import`. createRequire's
// resolve() would match "require" instead, which for tsx picks a CJS build
// whose register() cannot find its own hooks (tsx 4.x).
const IMPORT_CONDITIONS = new Set(['node', 'import', 'default']);

/** An error for a package the project does not have, with Node's usual code. */
export class PackageNotFoundError extends Error {
  code = 'ERR_MODULE_NOT_FOUND';

  /**
   * @param {string} specifier
   * @param {string} from
   * @param {string} [why]
   */
  constructor(specifier, from, why) {
    super(`cannot find ${specifier} from ${from}${why ? `: ${why}` : ''}`);
    this.name = 'PackageNotFoundError';
  }
}

/**
 * Finds the file that `import(specifier)` would load if written in a module
 * at the root of `project`: the package is looked up in the node_modules
 * folders from `project` upwards (as Node does) and the subpath mapped through
 * its `exports` with the import conditions. Subpath patterns (`./*`) are not
 * supported; motiad only asks for exact subpaths.
 *
 * @param {string} project absolute project directory
 * @param {string} specifier a bare specifier, e.g. `tsx/esm/api`, `zod`, `@scope/pkg/sub`
 * @returns {string} an absolute file path
 * @throws {PackageNotFoundError}
 */
export function resolveFromProject(project, specifier) {
  const parts = specifier.split('/');
  const nameLength = specifier.startsWith('@') ? 2 : 1;
  const name = parts.slice(0, nameLength).join('/');
  const subpath = ['.', ...parts.slice(nameLength)].join('/');
  const searched = createRequire(path.join(project, 'package.json')).resolve.paths(name) ?? [];
  const dir = searched.map((modules) => path.join(modules, name)).find((candidate) => existsSync(path.join(candidate, 'package.json')));
  if (dir === undefined) throw new PackageNotFoundError(specifier, project);
  const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const target = exportTarget(manifest, subpath);
  if (target === null) throw new PackageNotFoundError(specifier, project, `${dir} does not export ${subpath}`);
  return path.join(dir, target);
}

/**
 * Imports `specifier` as seen from `project` (see resolveFromProject).
 *
 * @param {string} project
 * @param {string} specifier
 * @returns {Promise<Record<string, any>>} the module namespace
 */
export async function importFromProject(project, specifier) {
  return import(pathToFileURL(resolveFromProject(project, specifier)).href);
}

/**
 * @param {{exports?: unknown, main?: unknown}} manifest
 * @param {string} subpath `.` or `./sub/path`
 * @returns {string | null}
 */
function exportTarget(manifest, subpath) {
  const exported = manifest.exports;
  if (exported === undefined || exported === null) {
    if (subpath !== '.') return subpath;
    return typeof manifest.main === 'string' ? manifest.main : 'index.js';
  }
  // `exports` is either a map of subpaths ("./x": …) or the target of "." alone.
  const isSubpathMap = typeof exported === 'object' && !Array.isArray(exported) && Object.keys(exported).some((key) => key.startsWith('.'));
  if (isSubpathMap) return pickTarget(/** @type {Record<string, unknown>} */ (exported)[subpath]);
  return subpath === '.' ? pickTarget(exported) : null;
}

/**
 * Applies conditional exports: the first key (in the manifest's order) that
 * the import conditions match wins.
 *
 * @param {unknown} target
 * @returns {string | null}
 */
function pickTarget(target) {
  if (typeof target === 'string') return target;
  if (Array.isArray(target)) {
    for (const option of target) {
      const picked = pickTarget(option);
      if (picked !== null) return picked;
    }
  } else if (typeof target === 'object' && target !== null) {
    for (const [condition, option] of Object.entries(target)) {
      if (!IMPORT_CONDITIONS.has(condition)) continue;
      const picked = pickTarget(option);
      if (picked !== null) return picked;
    }
  }
  return null;
}
