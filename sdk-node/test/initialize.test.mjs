// lifecycle.initialize and lifecycle.version: loading step files of every
// flavour, and how a file that cannot load is reported.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { Child, SDK_DIR, step } from './child.mjs';

/**
 * @param {import('./child.mjs').Message} response
 * @param {string} file
 * @returns {Record<string, any>} the entry for `file` in an initialize result
 */
function entry(response, file) {
  const found = response.result.steps.find((/** @type {{path: string}} */ s) => s.path === file);
  assert.ok(found, `no entry for ${file} in ${JSON.stringify(response)}`);
  return found;
}

describe('initialize with the fixture project', () => {
  const files = [
    'api.step.ts',
    'flow.step.ts',
    'zod.step.ts',
    'typed.step.cts',
    'plain.step.js',
    'module.step.mjs',
    'common.step.cjs',
    'cron.step.mjs',
    'noop.step.mjs',
    'broken.step.ts',
    'no-handler.step.mjs',
    'missing.step.mjs',
  ].map(step);
  /** @type {Child} */
  let child;
  /** @type {import('./child.mjs').Message} */
  let response;

  before(async () => {
    child = new Child();
    response = await child.initialize(files);
  });
  after(() => child.close());

  test('answers with the protocol version, the SDK and one entry per file, in order', () => {
    assert.equal(response.jsonrpc, '2.0');
    assert.equal(response.result.protocolVersion, '1.0');
    assert.deepEqual(response.result.sdk, { name: 'motiad-sdk-node', version: '0.1.0', language: 'node' });
    assert.deepEqual(
      response.result.steps.map((/** @type {{path: string}} */ s) => s.path),
      files,
    );
  });

  test('a TypeScript step importing types from motia without `type` loads', () => {
    assert.deepEqual(entry(response, step('api.step.ts')).config, {
      name: 'Echo',
      type: 'api',
      path: '/echo/:id',
      method: 'POST',
      emits: ['echoed'],
    });
  });

  test('a TypeScript step using `import type` from motia loads', () => {
    assert.equal(entry(response, step('flow.step.ts')).config.name, 'Counter');
  });

  test('.cts, .js, .mjs and .cjs steps load', () => {
    assert.equal(entry(response, step('typed.step.cts')).config.name, 'TypedCjs');
    assert.equal(entry(response, step('plain.step.js')).config.name, 'PlainJs');
    assert.equal(entry(response, step('module.step.mjs')).config.name, 'PlainMjs');
    assert.equal(entry(response, step('common.step.cjs')).config.name, 'PlainCjs');
  });

  test('a noop step loads without a handler', () => {
    assert.equal(entry(response, step('noop.step.mjs')).config.type, 'noop');
  });

  test('a file with a syntax error gets a load error while the others load', () => {
    const { error } = entry(response, step('broken.step.ts'));
    assert.equal(typeof error.type, 'string');
    assert.match(error.message, /broken\.step\.ts|Expected|Unexpected/);
    assert.equal(typeof error.stack, 'string');
    assert.equal(error.retryable, false);
    assert.ok(!('config' in entry(response, step('broken.step.ts'))));
  });

  test('a file without a handler, and a missing file, get load errors', () => {
    const noHandler = entry(response, step('no-handler.step.mjs')).error;
    assert.equal(noHandler.type, 'StepShapeError');
    assert.match(noHandler.message, /has no handler/);
    // lifecycle.initialize: the config it read comes beside the error
    assert.equal(entry(response, step('no-handler.step.mjs')).config.name, 'NoHandler');
    assert.equal(entry(response, step('missing.step.mjs')).error.retryable, false);
  });

  test('zod schemas in the config arrive as JSON Schema', () => {
    const { config } = entry(response, step('zod.step.ts'));
    assert.equal(config.bodySchema.type, 'object');
    assert.deepEqual(config.bodySchema.properties.name, { type: 'string' });
    assert.equal(config.bodySchema.properties.age.type, 'integer');
    assert.deepEqual(config.bodySchema.required, ['name']);
    assert.deepEqual(config.responseSchema['201'], {
      type: 'object',
      properties: {
        id: { type: 'string', format: 'uuid' },
        tags: { type: 'array', items: { type: 'string', enum: ['cat', 'dog'] }, default: [] },
      },
      required: ['id'],
      additionalProperties: false,
    });
    // Plain JSON Schema passes through untouched.
    assert.deepEqual(config.responseSchema['400'], { type: 'object', properties: { error: { type: 'string' } } });
  });

  test('what a step prints while loading goes to stderr, never stdout', async () => {
    await child.stderrContains('loading module.step.mjs');
    assert.deepEqual(child.garbage, []);
  });

  test('a second initialize is refused', async () => {
    const again = await child.initialize([]);
    assert.equal(again.error.code, -32600);
  });
});

test('ESM syntax in a .ts file of a package without "type": "module" loads', async () => {
  const project = path.join(SDK_DIR, 'test', 'fixtures', 'cjs-project');
  const child = new Child(project);
  try {
    const file = path.join(project, 'steps', 'esm-syntax.step.ts');
    const response = await child.initialize([file]);
    assert.equal(entry(response, file).config.name, 'EsmSyntaxInCjsPackage');
  } finally {
    await child.close();
  }
});

test('a different protocol major is refused with -32004 naming both versions', async () => {
  const child = new Child();
  try {
    const response = await child.initialize([], { protocolVersion: '2.3' });
    assert.equal(response.error.code, -32004);
    assert.match(response.error.message, /2\.3/);
    assert.match(response.error.message, /1\.0/);
    // The child is still there and can be initialized properly.
    const ok = await child.initialize([]);
    assert.equal(ok.result.protocolVersion, '1.0');
  } finally {
    await child.close();
  }
});

test('a newer minor of the same major is accepted', async () => {
  const child = new Child();
  try {
    assert.equal((await child.initialize([], { protocolVersion: '1.7' })).result.protocolVersion, '1.0');
  } finally {
    await child.close();
  }
});

// The runner uses the *project's* tsx when it has one (else its own loader,
// test/typescript.test.mjs), resolved walking up from it like Node does. Fixture projects inside sdk-node/ therefore find sdk-node's own
// devDependency tsx (that is how the fixture project above runs TypeScript).
// These projects live in the system temp dir instead, where walking up finds
// no tsx except the one a test puts there.
describe('tsx comes from the project', () => {
  /** @type {string} */
  let tmp;

  before(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'motiad-sdk-node-'));
  });
  after(() => rm(tmp, { recursive: true, force: true }));

  /**
   * @param {string} name
   * @returns {Promise<string>} a project dir with a TypeScript and a JavaScript step
   */
  async function project(name) {
    const dir = path.join(tmp, name);
    await mkdir(path.join(dir, 'steps'), { recursive: true });
    await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }));
    await writeFile(
      path.join(dir, 'steps', 'hello.step.ts'),
      "export const config: { name: string, type: 'cron', cron: string } = { name: 'Hello', type: 'cron', cron: '* * * * *' }\nexport const handler = async (): Promise<void> => {}\n",
    );
    await writeFile(path.join(dir, 'steps', 'plain.step.mjs'), "export const config = { name: 'Plain', type: 'cron', cron: '* * * * *' }\nexport const handler = async () => {}\n");
    return dir;
  }

  test("the project's tsx is the one registered", async () => {
    const dir = await project('with-own-tsx');
    // A stand-in tsx that announces itself, then hands over to the real one.
    const fake = path.join(dir, 'node_modules', 'tsx');
    await mkdir(fake, { recursive: true });
    await writeFile(
      path.join(fake, 'package.json'),
      JSON.stringify({
        name: 'tsx',
        version: '0.0.0-fake',
        type: 'module',
        exports: { './esm/api': { require: './missing.cjs', import: './esm-api.mjs' }, './cjs/api': { import: './cjs-api.mjs' } },
      }),
    );
    const real = pathToFileURL(path.join(SDK_DIR, 'node_modules', 'tsx', 'dist')).href;
    for (const kind of ['esm', 'cjs']) {
      await writeFile(
        path.join(fake, `${kind}-api.mjs`),
        `import { register as real } from '${real}/${kind}/api/index.mjs'\nexport function register() { process.stderr.write('fake tsx ${kind} registered\\n'); return real() }\n`,
      );
    }
    const child = new Child(dir);
    try {
      const tsFile = path.join(dir, 'steps', 'hello.step.ts');
      const response = await child.initialize([tsFile]);
      assert.equal(response.result.steps[0].config?.name, 'Hello', JSON.stringify(response));
      await child.stderrContains('fake tsx esm registered');
      await child.stderrContains('fake tsx cjs registered');
    } finally {
      await child.close();
    }
  });
});
