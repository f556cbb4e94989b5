// The SDK's own TypeScript loader, for projects without tsx (Motia projects
// ship ts-node or nothing): it lets `require` and `import` load `.ts`, `.cts`,
// `.mts` and `.tsx` files, and compiles project `.js` files written with
// import/export in a CommonJS package to CommonJS, as Motia's tsx does.
//
// Why sucrase, vendored (src/vendor/sucrase.cjs, built by
// scripts/vendor-sucrase.mjs): it is plain JavaScript, so the pip wheel
// carries it as it carries the rest of src/ (esbuild, which tsx uses, is a
// native binary per platform and would make the wheel platform-specific);
// it keeps line numbers, so stack traces need no source maps; and it is
// cheap: loaded only when a file needs it, a child with a TypeScript step
// starts faster and smaller than with tsx (figures in the README).
// `typescript`'s own transpileModule is no option: TypeScript 7 has no
// JavaScript API, and TypeScript 5's compiler is 9 MB to parse per child.
// What sucrase does not do (README): decorators, `namespace` with values,
// tsconfig `paths` (Motia 0.17's esbuild build does not map them either).

import Module, { register } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { TYPESCRIPT_FILE, hasModuleSyntax, moduleFormat, toCommonJs } from './transpile.mjs';

/**
 * The parts of Node's CommonJS loader the hooks use. `_extensions` and
 * `_resolveFilename` are what ts-node, tsx and pirates hook as well.
 * @typedef {{_compile(code: string, file: string): unknown}} CommonJsModule
 * @typedef {(module: CommonJsModule, file: string) => void} ExtensionHandler
 * @typedef {(request: string, parent: {filename?: string | null} | undefined, ...rest: unknown[]) => string} ResolveFilename
 * @type {{_extensions: Record<string, ExtensionHandler>, _resolveFilename: ResolveFilename}}
 */
const CommonJs = /** @type {any} */ (Module);

/** `import './x.js'` in TypeScript means `./x.ts` when only that exists (TypeScript's own rule). */
const JS_FOR_TS = /** @type {const} */ ([
  ['.js', ['.ts', '.tsx']],
  ['.mjs', ['.mts']],
  ['.cjs', ['.cts']],
]);

let commonJsInstalled = false;
let importHooksRegistered = false;

/**
 * Installs the CommonJS side: `require` of TypeScript files, and of project
 * `.js` files written as ES modules. Idempotent and cheap: nothing is
 * compiled, and sucrase is not even loaded, until such a file is required.
 */
export function installTypeScriptLoader() {
  if (commonJsInstalled) return;
  commonJsInstalled = true;
  /** @type {ExtensionHandler} */
  const compileTypeScript = (module, file) => {
    module._compile(toCommonJs(readFileSync(file, 'utf8'), file), file);
  };
  for (const extension of ['.ts', '.cts', '.tsx']) CommonJs._extensions[extension] = compileTypeScript;

  const loadJavaScript = CommonJs._extensions['.js'];
  CommonJs._extensions['.js'] = (module, file) => {
    // Node hands `.cjs` files here too; those, packages under node_modules
    // and files of `"type": "module"` packages load as their authors wrote them.
    if (file.endsWith('.js') && !file.split(path.sep).includes('node_modules') && moduleFormat(file) === 'commonjs') {
      const source = readFileSync(file, 'utf8');
      if (hasModuleSyntax(source)) {
        module._compile(toCommonJs(source, file), file);
        return;
      }
    }
    loadJavaScript(module, file);
  };

  const resolveFilename = CommonJs._resolveFilename;
  CommonJs._resolveFilename = (request, parent, ...rest) => {
    try {
      return resolveFilename(request, parent, ...rest);
    } catch (err) {
      const parentFile = parent?.filename;
      if (!request.startsWith('.') || typeof parentFile !== 'string' || !TYPESCRIPT_FILE.test(parentFile)) throw err;
      for (const [js, typescript] of JS_FOR_TS) {
        if (!request.endsWith(js)) continue;
        for (const extension of typescript) {
          try {
            return resolveFilename(request.slice(0, -js.length) + extension, parent, ...rest);
          } catch {
            // try the next one, then give the original error
          }
        }
      }
      throw err;
    }
  };
}

/**
 * Registers the import side (src/typescript-hooks.mjs), needed only for
 * TypeScript that is an ES module: `.mts` files, and `.ts` files in a
 * `"type": "module"` package. Registering starts a hooks thread in Node 20,
 * so it happens only when such a file is loaded.
 */
export function registerTypeScriptImports() {
  if (importHooksRegistered) return;
  importHooksRegistered = true;
  register('./typescript-hooks.mjs', import.meta.url);
}
