// zod schemas in configs become JSON Schema.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as z from 'zod';
import { z as z3 } from 'zod/v3';
import { bodyAsZodGivesIt, configToJson, zod3ToJsonSchema } from '../src/schema.mjs';
import { PROJECT } from './child.mjs';

/**
 * @param {unknown} schema a zod v3 schema
 * @returns {Record<string, unknown>}
 */
const v3 = (schema) => zod3ToJsonSchema(/** @type {import('../src/schema.mjs').Zod3Schema} */ (schema));

test('zod v3 scalars, with their checks', () => {
  assert.deepEqual(v3(z3.string().min(1).max(5)), { type: 'string', minLength: 1, maxLength: 5 });
  assert.deepEqual(v3(z3.string().email()), { type: 'string', format: 'email' });
  assert.deepEqual(v3(z3.string().regex(/^a+$/)), { type: 'string', pattern: '^a+$' });
  assert.deepEqual(v3(z3.number().int().min(0).lt(10)), { type: 'integer', minimum: 0, exclusiveMaximum: 10 });
  assert.deepEqual(v3(z3.boolean()), { type: 'boolean' });
  assert.deepEqual(v3(z3.literal('x')), { const: 'x' });
  assert.deepEqual(v3(z3.enum(['a', 'b'])), { type: 'string', enum: ['a', 'b'] });
  assert.deepEqual(v3(z3.any()), {});
  assert.deepEqual(v3(z3.string().describe('a name')), { type: 'string', description: 'a name' });
});

test('zod v3 composites: object, optional, nullable, default, array, union, record, effects', () => {
  const schema = z3
    .object({
      id: z3.string(),
      nick: z3.string().optional(),
      note: z3.string().nullable(),
      tags: z3.array(z3.string()).default([]),
      kind: z3.union([z3.literal('a'), z3.number()]),
      meta: z3.record(z3.number()),
      checked: z3.string().refine((s) => s.length > 0),
    })
    .passthrough();
  assert.deepEqual(v3(schema), {
    type: 'object',
    properties: {
      id: { type: 'string' },
      nick: { type: 'string' },
      note: { anyOf: [{ type: 'string' }, { type: 'null' }] },
      tags: { type: 'array', items: { type: 'string' }, default: [] },
      kind: { anyOf: [{ const: 'a' }, { type: 'number' }] },
      meta: { type: 'object', additionalProperties: { type: 'number' } },
      checked: { type: 'string' },
    },
    required: ['id', 'note', 'kind', 'meta', 'checked'],
    additionalProperties: true,
  });
  assert.deepEqual(v3(z3.object({ a: z3.string() }).catchall(z3.number())).additionalProperties, { type: 'number' });
});

// zod's own semantics (issue 18, item 4): z.object() strips unknown keys,
// .passthrough() keeps them, .strict() rejects them; the JSON Schema the
// broker validates with must accept and refuse the same bodies.
test('a zod v3 object accepts unknown keys unless it is strict, as zod does', () => {
  const shape = { a: z3.string() };
  const body = { a: 'x', extra: 1 };
  assert.equal(z3.object(shape).safeParse(body).success, true);
  assert.equal('additionalProperties' in v3(z3.object(shape)), false);
  // What zod's output holds (a response): no unknown key, as zod v4's converter says too.
  assert.equal(zod3ToJsonSchema(/** @type {any} */ (z3.object(shape)), 'output').additionalProperties, false);
  assert.equal(z3.object(shape).passthrough().safeParse(body).success, true);
  assert.equal(v3(z3.object(shape).passthrough()).additionalProperties, true);
  assert.equal(z3.object(shape).strict().safeParse(body).success, false);
  assert.equal(v3(z3.object(shape).strict()).additionalProperties, false);
});

test('a zod v4 body schema accepts unknown keys unless it is strict, as zod does', async () => {
  const converted = async (/** @type {unknown} */ bodySchema) => /** @type {any} */ (await configToJson({ name: 'S', bodySchema }, PROJECT)).bodySchema;
  const shape = { a: z.string(), inner: z.object({ b: z.number() }) };
  assert.equal('additionalProperties' in (await converted(z.object(shape))), false);
  assert.equal('additionalProperties' in (await converted(z.object(shape))).properties.inner, false);
  assert.deepEqual((await converted(z.looseObject(shape))).additionalProperties, {});
  assert.equal((await converted(z.strictObject(shape))).additionalProperties, false);
});

test("the handler's body is what zod would give: unknown keys of strip-mode objects dropped, at every depth", () => {
  const body = { a: 'x', extra: 1, inner: { b: 2, more: 3 }, list: [{ b: 1, junk: true }], either: { k: 'v', junk: 0 } };
  for (const zod of /** @type {any[]} */ ([z, z3])) {
    const inner = zod.object({ b: zod.number() });
    const either = zod.union([zod.object({ k: zod.number() }), zod.object({ k: zod.string() })]);
    /** @param {any} top */
    const schema = (top) => top.extend({ inner: inner.optional(), list: zod.array(inner), either });
    const expectedInside = { inner: { b: 2 }, list: [{ b: 1 }], either: { k: 'v' } };
    assert.deepEqual(bodyAsZodGivesIt(schema(zod.object({ a: zod.string() })), body), { a: 'x', ...expectedInside });
    assert.deepEqual(bodyAsZodGivesIt(schema(zod.object({ a: zod.string() }).passthrough()), body), { a: 'x', extra: 1, ...expectedInside });
    // What zod itself gives, for the strip-mode schema: the same keys.
    assert.deepEqual(schema(zod.object({ a: zod.string() })).parse(body), { a: 'x', ...expectedInside });
  }
  // Values stay as sent: a transform is the handler's to apply.
  assert.deepEqual(bodyAsZodGivesIt(z.object({ n: z.string().transform((s) => s.length) }), { n: 'abc', x: 1 }), { n: 'abc' });
  // Not zod, or not an object: unchanged.
  assert.deepEqual(bodyAsZodGivesIt({ type: 'object' }, { x: 1 }), { x: 1 });
  assert.equal(bodyAsZodGivesIt(z.object({}), 'text'), 'text');
});

test('configToJson converts the schema fields and leaves the user config alone', async () => {
  const config = {
    name: 'S',
    type: 'event',
    subscribes: ['t'],
    input: z.object({ n: z.number() }),
    bodySchema: { type: 'string' },
  };
  const json = await configToJson(config, PROJECT);
  assert.equal(/** @type {any} */ (json.input).properties.n.type, 'number');
  assert.deepEqual(json.bodySchema, { type: 'string' });
  assert.ok('_zod' in config.input, 'the original keeps its zod schema');
});

test('a v4 schema without its own toJSONSchema method is converted with the project zod', async () => {
  const schema = z.object({ n: z.string() });
  // Hide the method that newer zod versions carry, as zod 4.0 and 4.1 lack it.
  Object.defineProperty(schema, 'toJSONSchema', { value: undefined });
  const json = await configToJson({ name: 'S', type: 'event', input: schema }, PROJECT);
  assert.deepEqual(/** @type {any} */ (json.input).properties, { n: { type: 'string' } });
});

test('a config that cannot be JSON is refused', async () => {
  /** @type {Record<string, unknown>} */
  const config = { name: 'Loop' };
  config.self = config;
  await assert.rejects(configToJson(config, PROJECT), TypeError);
});
