// The SDK's own TypeScript loader (src/typescript.mjs) and the module formats
// step files load in, for projects without tsx. Each project is built in the
// system temp folder, where walking up finds no tsx (sdk-node's own
// devDependency would otherwise be found from test/fixtures).
//
// Motia 0.17 behaviours pinned here (MotiaDev/motia packages/core at
// v0.17.6-beta.187):
// - TypeScript steps run with no tsx in the project: `ts-compiler.ts` compiles
//   them with Motia's own esbuild and `language-runner.ts` runs them with plain
//   `node`; relative imports written without extension resolve to `.ts` files.
// - `.js` steps run under Motia's own tsx (`language-runner.ts`), which
//   compiles a `.js` file written with import/export in a package without
//   `"type": "module"` to CommonJS: `require`, `__dirname` and `__filename` exist.

import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Child, SDK_DIR } from './child.mjs';

const API = { type: 'api' };
const REQUEST = { method: 'POST', path: '/x', body: {}, headers: {}, pathParams: {}, queryParams: {} };

/** @type {string} */
let tmp;
before(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'motiad-sdk-node-ts-'));
});
after(() => rm(tmp, { recursive: true, force: true }));

/**
 * Writes a project without tsx: `files` maps relative paths to contents.
 *
 * @param {string} name
 * @param {Record<string, unknown> | null} manifest package.json, or null for none
 * @param {Record<string, string>} files
 * @returns {Promise<string>} the project directory
 */
async function project(name, manifest, files) {
  const dir = path.join(tmp, name);
  await mkdir(dir, { recursive: true });
  if (manifest !== null) await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name, private: true, ...manifest }));
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), text);
  }
  // Guard: nothing above the temp dir may provide tsx, or these tests prove nothing.
  assert.throws(() => createRequire(path.join(dir, 'package.json')).resolve('tsx'), { code: 'MODULE_NOT_FOUND' });
  return dir;
}

/**
 * Loads `steps` in a fresh child, runs `body`, closes the child.
 *
 * @param {string} dir
 * @param {string[]} steps relative paths
 * @param {(child: Child, init: import('./child.mjs').Message) => Promise<void>} body
 */
async function withChild(dir, steps, body) {
  const child = new Child(dir);
  try {
    await body(child, await child.initialize(steps.map((file) => path.join(dir, file))));
  } finally {
    await child.close();
  }
}

/**
 * @param {Child} child
 * @param {string} dir
 * @param {string} file
 * @returns {Promise<any>} what the step's handler answered
 */
async function call(child, dir, file) {
  const response = await child.response(child.invoke(path.join(dir, file), API, REQUEST));
  assert.ok('result' in response, JSON.stringify(response));
  return response.result;
}

// A step as `motia create` writes one: types imported from 'motia' without
// `type`, a service imported without extension, another with TypeScript's `.js`.
const MOTIA_API_STEP = `import { ApiRouteConfig, Handlers } from 'motia'
import { petStore } from '../src/services/pet-store'
import { helper } from '../src/services/helper.js'

enum Kind { Dog = 'dog', Cat = 'cat' }

export const config: ApiRouteConfig = {
  type: 'api', name: 'WhereAmI', path: '/x', method: 'POST', emits: [], flows: ['f'],
}

export const handler: Handlers['WhereAmI'] = async (req, { logger }) => {
  return { status: 200, body: { kind: Kind.Dog, pets: petStore(), helper: helper(), meta: import.meta.url.endsWith('/steps/api.step.ts'), FACTS } }
}
`;
const SERVICES = {
  'src/services/pet-store.ts': "export const petStore = (): string[] => ['rex']\n",
  'src/services/helper.ts': 'export function helper(): number { return 42 }\n',
};

describe('TypeScript without tsx in the project', () => {
  test('a Motia TypeScript step in a CommonJS package loads and has require, __dirname and __filename', async () => {
    const facts = 'const FACTS = { dirname: __dirname, filename: __filename, require: typeof require, module: typeof module }\n';
    const dir = await project('cjs', {}, { 'steps/api.step.ts': MOTIA_API_STEP + facts, ...SERVICES });
    await withChild(dir, ['steps/api.step.ts'], async (child, init) => {
      assert.equal(init.result.steps[0].config?.name, 'WhereAmI', JSON.stringify(init));
      assert.deepEqual(await call(child, dir, 'steps/api.step.ts'), {
        status: 200,
        body: {
          kind: 'dog',
          pets: ['rex'],
          helper: 42,
          meta: true,
          FACTS: { dirname: path.join(dir, 'steps'), filename: path.join(dir, 'steps', 'api.step.ts'), require: 'function', module: 'object' },
        },
      });
    });
  });

  test('a TypeScript step in a "type": "module" package loads as an ES module, top-level await and all', async () => {
    const facts = 'const FACTS = await Promise.resolve({ require: typeof require })\n';
    const dir = await project('esm', { type: 'module' }, { 'steps/api.step.ts': MOTIA_API_STEP + facts, ...SERVICES });
    await withChild(dir, ['steps/api.step.ts'], async (child, init) => {
      assert.equal(init.result.steps[0].config?.name, 'WhereAmI', JSON.stringify(init));
      assert.deepEqual(await call(child, dir, 'steps/api.step.ts'), {
        status: 200,
        body: { kind: 'dog', pets: ['rex'], helper: 42, meta: true, FACTS: { require: 'undefined' } },
      });
    });
  });

  test('a TypeScript step with top-level await in a CommonJS package loads as an ES module, as Motia 0.17 compiles it', async () => {
    const dir = await project('top-level-await', {}, {
      'steps/wait.step.ts':
        "import { helper } from '../src/services/helper'\nconst answer: number = await Promise.resolve(helper())\nexport const config = { type: 'api', name: 'Wait', path: '/w', method: 'GET', emits: [] as string[] }\nexport const handler = async () => ({ status: 200, body: { answer, require: typeof require } })\n",
      ...SERVICES,
    });
    await withChild(dir, ['steps/wait.step.ts'], async (child, init) => {
      assert.equal(init.result.steps[0].config?.name, 'Wait', JSON.stringify(init));
      assert.deepEqual(await call(child, dir, 'steps/wait.step.ts'), { status: 200, body: { answer: 42, require: 'undefined' } });
    });
  });

  test("an ES-module TypeScript step imports a CommonJS TypeScript file's named exports", async () => {
    const dir = await project('esm-imports-cts', { type: 'module' }, {
      'steps/uses.step.ts':
        "import { where } from '../lib/where.cts'\nexport const config = { type: 'api', name: 'Uses', path: '/u', method: 'GET', emits: [] as string[] }\nexport const handler = async () => ({ status: 200, body: where() })\n",
      'lib/where.cts': 'export const where = (): string => typeof __dirname\n',
    });
    await withChild(dir, ['steps/uses.step.ts'], async (child, init) => {
      assert.equal(init.result.steps[0].config?.name, 'Uses', JSON.stringify(init));
      assert.deepEqual(await call(child, dir, 'steps/uses.step.ts'), { status: 200, body: 'string' });
    });
  });

  test('a .ts step written as CommonJS, and .mts and .cts steps, load', async () => {
    const dir = await project('styles', {}, {
      'steps/common.step.ts':
        "const path = require('node:path')\nconst config: Record<string, unknown> = { type: 'api', name: 'Common', path: '/c', method: 'GET', emits: [] }\nmodule.exports = { config, handler: async () => ({ status: 200, body: path.basename(__filename) }) }\n",
      'steps/module.step.mts':
        "export const config = { type: 'api', name: 'Mts', path: '/m', method: 'GET', emits: [] as string[] }\nexport const handler = async (): Promise<{status: number, body: string}> => ({ status: 200, body: 'mts' })\n",
      'steps/typed.step.cts':
        "export const config = { type: 'api', name: 'Cts', path: '/t', method: 'GET', emits: [] as string[] }\nexport const handler = async (): Promise<{status: number, body: string}> => ({ status: 200, body: __filename.split('/').pop() ?? '' })\n",
    });
    const steps = ['steps/common.step.ts', 'steps/module.step.mts', 'steps/typed.step.cts'];
    await withChild(dir, steps, async (child, init) => {
      assert.deepEqual(
        init.result.steps.map((/** @type {any} */ s) => s.config?.name ?? s.error),
        ['Common', 'Mts', 'Cts'],
      );
      assert.deepEqual(await call(child, dir, steps[0]), { status: 200, body: 'common.step.ts' });
      assert.deepEqual(await call(child, dir, steps[1]), { status: 200, body: 'mts' });
      assert.deepEqual(await call(child, dir, steps[2]), { status: 200, body: 'typed.step.cts' });
    });
  });

  test("an error thrown in a TypeScript handler points at the line of the user's file", async () => {
    const dir = await project('lines', {}, {
      'steps/fail.step.ts': [
        "import type { ApiRouteConfig } from 'motia'",
        'interface Order {',
        '  id: number',
        '}',
        "export const config: ApiRouteConfig = { type: 'api', name: 'Fail', path: '/f', method: 'GET', emits: [] }",
        'export const handler = async (): Promise<Order> => {',
        "  throw new Error('line 7')",
        '}',
      ].join('\n'),
    });
    await withChild(dir, ['steps/fail.step.ts'], async (child) => {
      const response = await child.response(child.invoke(path.join(dir, 'steps/fail.step.ts'), API, REQUEST));
      assert.equal(response.error.data.message, 'line 7');
      assert.match(response.error.data.stack, /fail\.step\.ts:7:/);
    });
  });

  test('a TypeScript file that does not compile fails alone, naming the file and the line', async () => {
    const dir = await project('broken', {}, {
      'steps/broken.step.ts': "export const config = { type: 'noop', name: 'Broken' }\nexport const = 3\n",
      'steps/fine.step.ts': "export const config: { type: string, name: string } = { type: 'noop', name: 'Fine' }\n",
    });
    await withChild(dir, ['steps/broken.step.ts', 'steps/fine.step.ts'], async (_child, init) => {
      const [broken, fine] = init.result.steps;
      assert.equal(broken.error.retryable, false);
      assert.match(broken.error.message, /broken\.step\.ts/);
      assert.match(broken.error.message, /\(2:/);
      assert.equal(fine.config.name, 'Fine');
    });
  });
});

describe('JavaScript step files load as Motia loads them', () => {
  test('a .js step written with import/export in a package without "type" still has require, __dirname and __filename', async () => {
    const dir = await project('js-esm-syntax', {}, {
      'steps/hello.step.js': [
        "import path from 'node:path'",
        "import { greet } from '../lib/greet'",
        "export const config = { type: 'api', name: 'Hello', path: '/h', method: 'GET', emits: [] }",
        'export const handler = async () => ({',
        '  status: 200,',
        "  body: { greet: greet(), dirname: path.basename(__dirname), filename: path.basename(__filename), require: typeof require, os: require('node:os').EOL.length },",
        '})',
      ].join('\n'),
      'lib/greet.js': "export const greet = () => 'hi'\n",
    });
    await withChild(dir, ['steps/hello.step.js'], async (child, init) => {
      assert.equal(init.result.steps[0].config?.name, 'Hello', JSON.stringify(init));
      assert.deepEqual(await call(child, dir, 'steps/hello.step.js'), {
        status: 200,
        body: { greet: 'hi', dirname: 'steps', filename: 'hello.step.js', require: 'function', os: 1 },
      });
    });
  });

  test('a .js step in a "type": "module" package stays an ES module', async () => {
    const dir = await project('js-module', { type: 'module' }, {
      'steps/hello.step.js':
        "export const config = { type: 'api', name: 'Hello', path: '/h', method: 'GET', emits: [] }\nexport const handler = async () => ({ status: 200, body: typeof require })\n",
    });
    await withChild(dir, ['steps/hello.step.js'], async (child) => {
      assert.deepEqual(await call(child, dir, 'steps/hello.step.js'), { status: 200, body: 'undefined' });
    });
  });

  // Issue 17 (idle memory): on Node 20 the hooks thread that ES-module
  // TypeScript needs is a second V8 isolate, ~13 MB for the child's life; a
  // step that imports only builtins and packages loads without it, and stays
  // an ES module (top-level await, import.meta, no require).
  test('a self-contained ES-module TypeScript step loads as an ES module without the hooks thread', async () => {
    const source =
      "import os from 'node:os'\nconst cores: number = await Promise.resolve(os.cpus().length)\n" +
      "export const config = { type: 'api', name: 'Alone', path: '/a', method: 'GET', emits: [] as string[] }\n" +
      'export const handler = async () => ({ status: 200, body: { cores: cores > 0, require: typeof require, meta: import.meta.url.endsWith(FILE) } })\n';
    /** @param {string} file @returns {Promise<number>} the child's thread count once the step has answered */
    const threads = async (file) => {
      const dir = await project(`alone-${file.replace(/\W/g, '-')}`, { type: 'module' }, {
        [`steps/${file}`]: (file.endsWith('.ts') ? source : source.replace(': number', '').replace(' as string[]', '')).replace('FILE', `'/steps/${file}'`),
      });
      let count = 0;
      await withChild(dir, [`steps/${file}`], async (child, init) => {
        assert.equal(init.result.steps[0].config?.name, 'Alone', JSON.stringify(init));
        assert.deepEqual(await call(child, dir, `steps/${file}`), { status: 200, body: { cores: true, require: 'undefined', meta: true } });
        count = readdirSync(`/proc/${child.process.pid}/task`).length;
      });
      return count;
    };
    const typescript = await threads('alone.step.ts');
    if (!existsSync('/proc/self/task')) return; // thread counts are read from Linux's /proc
    if (/** @type {{require_module?: boolean}} */ (process.features).require_module !== true) return; // Node < 20.19: the hooks serve it
    // The same module as plain JavaScript, which never needs the hooks: no more threads.
    assert.ok(typescript <= (await threads('alone.step.mjs')), `${typescript} threads: the hooks thread started`);
  });
});

// Issue 18 item 13: Node's own warnings reach the broker's log as warnings,
// not as stderr lines (which the broker logs as INFO).
test("Node's own warnings are sent as warn logs, not printed to stderr", async () => {
  const dir = await project('node-warning', { type: 'module' }, {
    'steps/warns.step.js':
      "import { helper } from '../typeless/esm.js'\nexport const config = { name: 'Warns', type: 'cron', cron: '* * * * *' }\nexport const handler = async () => helper()\n",
    // ES module syntax in a package without "type": Node warns when it is imported.
    'typeless/package.json': '{ "name": "typeless", "private": true }',
    'typeless/esm.js': "export const helper = () => 'helped'\n",
  });
  await withChild(dir, ['steps/warns.step.js'], async (child, init) => {
    assert.equal(init.result.steps[0].config?.name, 'Warns', JSON.stringify(init));
    const log = await child.sent('log', (m) => /MODULE_TYPELESS_PACKAGE_JSON/.test(m.params.message));
    assert.equal(log.params.level, 'warn');
    assert.equal(log.params.fields.code, 'MODULE_TYPELESS_PACKAGE_JSON');
    assert.doesNotMatch(child.stderr, /Warning|trace-warnings/);
  });
});

test('the vendored sucrase is the devDependency version, with the licence of every package it bundles', async () => {
  const manifest = JSON.parse(await readFile(path.join(SDK_DIR, 'package.json'), 'utf8'));
  const bundle = await readFile(path.join(SDK_DIR, 'src', 'vendor', 'sucrase.cjs'), 'utf8');
  assert.ok(bundle.startsWith(`// sucrase ${manifest.devDependencies.sucrase} `), 'run `npm run vendor` after changing the sucrase version');
  const licences = await readFile(path.join(SDK_DIR, 'src', 'vendor', 'LICENSES.md'), 'utf8');
  for (const name of ['sucrase', 'lines-and-columns', 'ts-interface-checker', '@jridgewell/gen-mapping']) {
    assert.match(licences, new RegExp(`^## ${name} `, 'm'));
  }
});
