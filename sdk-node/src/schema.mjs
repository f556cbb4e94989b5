// Step configs travel as JSON (SPEC `initialize`: "schemas already converted
// to JSON Schema"). Motia steps put zod schemas in `bodySchema`, `input` and
// `responseSchema`; this turns them into JSON Schema.

import { isObject } from './rpc.mjs';
import { importFromProject } from './resolve.mjs';

/**
 * zod v4 renders unrepresentable types (transforms, dates, …) as `{}`
 * instead of throwing: a config must still load.
 * @typedef {{io?: 'input' | 'output', unrepresentable?: 'any' | 'throw'}} Zod4Options
 * @typedef {(schema: unknown, options?: Zod4Options) => Record<string, unknown>} Zod4Converter
 */

/** @type {Map<string, Promise<Zod4Converter>>} the project's zod v4 converter, loaded once */
const zod4Converters = new Map();

/**
 * Returns a JSON-ready copy of a step config: zod schemas in `bodySchema`,
 * `input` and the values of `responseSchema` become JSON Schema. The user's
 * object is not changed. Throws if the result is not JSON-serialisable (a
 * cycle, a BigInt), so the caller can report that step alone.
 *
 * @param {Record<string, unknown>} config
 * @param {string} project where to find zod when a v4 schema has no converter of its own
 * @returns {Promise<Record<string, unknown>>}
 */
export async function configToJson(config, project) {
  const out = { ...config };
  // Request-side schemas describe what comes in ("input" side of transforms).
  if (isZodSchema(out.bodySchema)) out.bodySchema = await zodToJsonSchema(out.bodySchema, project, 'input');
  if (isZodSchema(out.input)) out.input = await zodToJsonSchema(out.input, project, 'input');
  if (isObject(out.responseSchema)) {
    /** @type {Record<string, unknown>} */
    const responses = {};
    for (const [status, schema] of Object.entries(out.responseSchema)) {
      responses[status] = isZodSchema(schema) ? await zodToJsonSchema(schema, project, 'output') : schema;
    }
    out.responseSchema = responses;
  }
  return JSON.parse(JSON.stringify(out));
}

/** The hooks a stream config may define: Motia 1.x's onJoin/onLeave, 0.17's canAccess. */
export const STREAM_HOOKS = Object.freeze(['onJoin', 'onLeave', 'canAccess']);

/**
 * Returns a JSON-ready copy of a stream config: a zod `schema` becomes JSON
 * Schema (the "input" side: what `set` is given). Throws like configToJson.
 *
 * @param {Record<string, unknown>} config
 * @param {string} project
 * @returns {Promise<Record<string, unknown>>}
 */
export async function streamConfigToJson(config, project) {
  const out = { ...config };
  // SPEC stream.hooks: each hook the stream defines is reported as `true`; the child runs it.
  for (const hook of STREAM_HOOKS) {
    if (typeof out[hook] === 'function') out[hook] = true;
    else delete out[hook];
  }
  if (isZodSchema(out.schema)) out.schema = await zodToJsonSchema(out.schema, project, 'input');
  return JSON.parse(JSON.stringify(out));
}

/**
 * @param {unknown} value
 * @returns {boolean} whether `value` is a zod schema (v4 or v3)
 */
export function isZodSchema(value) {
  return isZod4(value) || isZod3(value);
}

/**
 * @param {unknown} value
 * @returns {value is {_zod: unknown, toJSONSchema?: (options?: Zod4Options) => Record<string, unknown>}}
 */
function isZod4(value) {
  return typeof value === 'object' && value !== null && '_zod' in value;
}

/**
 * @param {unknown} value
 * @returns {value is Zod3Schema}
 */
function isZod3(value) {
  return isObject(value) && isObject(value._def) && typeof value._def.typeName === 'string' && typeof value.safeParse === 'function';
}

/**
 * Converts one zod schema. v4 schemas use zod's own converter: the schema's
 * `toJSONSchema()` method (zod >= 4.2), else `toJSONSchema` from the project's
 * `zod/v4/core`. v3 has no converter built in: see zod3ToJsonSchema.
 *
 * @param {unknown} schema
 * @param {string} project
 * @param {'input' | 'output'} io
 * @returns {Promise<Record<string, unknown>>}
 */
async function zodToJsonSchema(schema, project, io) {
  /** @type {Zod4Options} */
  const options = { io, unrepresentable: 'any' };
  if (isZod4(schema)) {
    if (typeof schema.toJSONSchema === 'function') return schema.toJSONSchema(options);
    return (await zod4Converter(project))(schema, options);
  }
  if (isZod3(schema)) return zod3ToJsonSchema(schema, io);
  throw new TypeError('not a zod schema');
}

/**
 * @param {string} project
 * @returns {Promise<Zod4Converter>}
 */
function zod4Converter(project) {
  let converter = zod4Converters.get(project);
  if (converter === undefined) {
    converter = importFromProject(project, 'zod/v4/core').then((core) => core.toJSONSchema);
    zod4Converters.set(project, converter);
  }
  return converter;
}

/**
 * The parts of a zod v3 schema the walker reads.
 * @typedef {{_def: Zod3Def, safeParse: unknown, isOptional?: () => boolean}} Zod3Schema
 * @typedef {Record<string, any> & {typeName: string, description?: string}} Zod3Def
 */

/**
 * A small, best-effort zod v3 → JSON Schema walker over `_def`: objects,
 * strings, numbers, booleans, arrays, optional, nullable, default, enum,
 * literal, union, record, null, date, any/unknown, and effects (refine,
 * transform) as their inner schema. Anything else becomes `{}` (any value).
 *
 * @param {Zod3Schema} schema
 * @param {'input' | 'output'} [io] the side, as for zod v4's converter: it decides strip-mode objects
 * @returns {Record<string, unknown>}
 */
export function zod3ToJsonSchema(schema, io = 'input') {
  const def = schema._def;
  const out = zod3Node(def, io);
  if (typeof def.description === 'string') out.description = def.description;
  return out;
}

/**
 * @param {Zod3Def} def
 * @param {'input' | 'output'} io
 * @returns {Record<string, unknown>}
 */
function zod3Node(def, io) {
  switch (def.typeName) {
    case 'ZodString':
      return withChecks({ type: 'string' }, def.checks, STRING_CHECKS);
    case 'ZodNumber':
      return withChecks({ type: 'number' }, def.checks, NUMBER_CHECKS);
    case 'ZodBoolean':
      return { type: 'boolean' };
    case 'ZodNull':
      return { type: 'null' };
    case 'ZodDate':
      return { type: 'string', format: 'date-time' };
    case 'ZodLiteral':
      return { const: def.value };
    case 'ZodEnum':
      return { type: 'string', enum: [...def.values] };
    case 'ZodArray':
      return { type: 'array', items: zod3ToJsonSchema(def.type, io) };
    case 'ZodObject':
      return zod3Object(def, io);
    case 'ZodRecord':
      return { type: 'object', additionalProperties: zod3ToJsonSchema(def.valueType, io) };
    case 'ZodUnion':
    case 'ZodDiscriminatedUnion':
      return { anyOf: [...def.options].map((option) => zod3ToJsonSchema(option, io)) };
    case 'ZodOptional': // optionality is the parent object's `required`
      return zod3ToJsonSchema(def.innerType, io);
    case 'ZodNullable':
      return { anyOf: [zod3ToJsonSchema(def.innerType, io), { type: 'null' }] };
    case 'ZodDefault':
      return { ...zod3ToJsonSchema(def.innerType, io), default: def.defaultValue() };
    case 'ZodEffects':
      return zod3ToJsonSchema(def.schema, io);
    default: // ZodAny, ZodUnknown, and what this walker does not know
      return {};
  }
}

/**
 * @param {Zod3Def} def
 * @param {'input' | 'output'} io
 * @returns {Record<string, unknown>}
 */
function zod3Object(def, io) {
  /** @type {Record<string, Zod3Schema>} */
  const shape = def.shape();
  /** @type {Record<string, unknown>} */
  const properties = {};
  const required = [];
  for (const [key, child] of Object.entries(shape)) {
    properties[key] = zod3ToJsonSchema(child, io);
    if (!child.isOptional?.()) required.push(key);
  }
  /** @type {Record<string, unknown>} */
  const out = { type: 'object', properties };
  if (required.length > 0) out.required = required;
  // What zod accepts: a strip-mode object (zod's default) takes unknown keys
  // and drops them (bodyAsZodGivesIt), so on the input side the schema does
  // not restrict them, and on the output side there are none: zod v4's own
  // converter says the same. `.passthrough()` keeps them; `.strict()` refuses
  // them; `.catchall(s)` checks them against s.
  const catchall = def.catchall?._def?.typeName === 'ZodNever' ? undefined : def.catchall;
  if (catchall) out.additionalProperties = zod3ToJsonSchema(catchall, io);
  else if (def.unknownKeys === 'strict' || (def.unknownKeys === 'strip' && io === 'output')) out.additionalProperties = false;
  else if (def.unknownKeys === 'passthrough') out.additionalProperties = true;
  return out;
}

/** @typedef {Record<string, (check: Record<string, any>) => Record<string, unknown>>} CheckMap */

/** @type {CheckMap} */
const STRING_CHECKS = {
  min: (c) => ({ minLength: c.value }),
  max: (c) => ({ maxLength: c.value }),
  length: (c) => ({ minLength: c.value, maxLength: c.value }),
  email: () => ({ format: 'email' }),
  url: () => ({ format: 'uri' }),
  uuid: () => ({ format: 'uuid' }),
  datetime: () => ({ format: 'date-time' }),
  regex: (c) => ({ pattern: c.regex.source }),
};

/** @type {CheckMap} */
const NUMBER_CHECKS = {
  int: () => ({ type: 'integer' }),
  min: (c) => (c.inclusive ? { minimum: c.value } : { exclusiveMinimum: c.value }),
  max: (c) => (c.inclusive ? { maximum: c.value } : { exclusiveMaximum: c.value }),
};

/**
 * @param {Record<string, unknown>} out
 * @param {Array<Record<string, any>> | undefined} checks
 * @param {CheckMap} known
 * @returns {Record<string, unknown>}
 */
function withChecks(out, checks, known) {
  for (const check of checks ?? []) {
    const apply = Object.hasOwn(known, check.kind) ? known[check.kind] : undefined;
    if (apply) Object.assign(out, apply(check));
  }
  return out;
}

/**
 * The request body as zod would hand it on, as far as keys go: keys that a
 * strip-mode object (zod's default `z.object()`) does not declare are
 * removed, at every depth; `.passthrough()`/`.loose()`, `.strict()` and
 * `.catchall()` objects keep theirs. Values are the ones sent: transforms and
 * defaults are not applied, so a handler that calls `bodySchema.parse(req.body)`
 * itself, as Motia's docs do, gets what it would have got. A body that is
 * not a JSON object, or a schema that is not zod, gives the body unchanged.
 *
 * @param {unknown} schema the step's `bodySchema` as the step file wrote it
 * @param {unknown} body
 * @returns {unknown}
 */
export function bodyAsZodGivesIt(schema, body) {
  return isZodSchema(schema) ? stripUnknown(/** @type {ZodAny} */ (schema), body) : body;
}

/**
 * A zod schema of either major version, as the stripper reads it.
 * @typedef {{_def?: Record<string, any>, _zod?: {def: Record<string, any>}, safeParse?: (value: unknown) => {success: boolean}}} ZodAny
 */

/**
 * @param {ZodAny} schema
 * @param {unknown} value
 * @returns {unknown}
 */
function stripUnknown(schema, value) {
  const node = zodNode(schema);
  if (node === null) return value;
  switch (node.kind) {
    case 'object': {
      if (!isObject(value)) return value;
      /** @type {Record<string, unknown>} */
      const out = {};
      for (const [key, item] of Object.entries(value)) {
        const child = Object.hasOwn(node.shape, key) ? node.shape[key] : undefined;
        if (child !== undefined) out[key] = stripUnknown(child, item);
        else if (node.keepsUnknown) out[key] = item;
      }
      return out;
    }
    case 'array':
      return Array.isArray(value) ? value.map((item) => stripUnknown(node.item, item)) : value;
    case 'record':
      if (!isObject(value)) return value;
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, stripUnknown(node.item, item)]));
    case 'union': {
      // The option zod would pick: the first that accepts the value.
      const chosen = node.options.find((option) => option.safeParse?.(value).success);
      return chosen === undefined ? value : stripUnknown(chosen, value);
    }
    case 'wrapper':
      return value === null || value === undefined ? value : stripUnknown(node.inner, value);
  }
}

/**
 * The structure of one zod schema node that matters for unknown keys, from
 * v4's `_zod.def` or v3's `_def`; null for every other kind (left as is).
 *
 * @param {ZodAny} schema
 * @returns {{kind: 'object', shape: Record<string, ZodAny>, keepsUnknown: boolean} | {kind: 'array' | 'record', item: ZodAny} | {kind: 'union', options: ZodAny[]} | {kind: 'wrapper', inner: ZodAny} | null}
 */
function zodNode(schema) {
  const v4 = schema._zod?.def;
  if (v4 !== undefined) {
    switch (v4.type) {
      case 'object':
        // A catchall (unknown for `.loose()`, never for `.strict()`) means unknown keys are not stripped.
        return { kind: 'object', shape: v4.shape, keepsUnknown: v4.catchall !== undefined };
      case 'array':
        return { kind: 'array', item: v4.element };
      case 'record':
        return { kind: 'record', item: v4.valueType };
      case 'union':
        return { kind: 'union', options: v4.options };
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'catch':
      case 'readonly':
      case 'nonoptional':
        return { kind: 'wrapper', inner: v4.innerType };
      case 'pipe': // transforms and preprocess: the input side decides
        return { kind: 'wrapper', inner: v4.in };
      case 'lazy':
        return { kind: 'wrapper', inner: v4.getter() };
      default:
        return null;
    }
  }
  const v3 = schema._def;
  switch (v3?.typeName) {
    case 'ZodObject':
      return { kind: 'object', shape: v3.shape(), keepsUnknown: v3.unknownKeys !== 'strip' || v3.catchall?._def?.typeName !== 'ZodNever' };
    case 'ZodArray':
      return { kind: 'array', item: v3.type };
    case 'ZodRecord':
      return { kind: 'record', item: v3.valueType };
    case 'ZodUnion':
    case 'ZodDiscriminatedUnion':
      return { kind: 'union', options: [...v3.options] };
    case 'ZodOptional':
    case 'ZodNullable':
    case 'ZodDefault':
    case 'ZodCatch':
    case 'ZodReadonly':
    case 'ZodBranded':
      return { kind: 'wrapper', inner: v3.innerType ?? v3.type };
    case 'ZodEffects':
      return { kind: 'wrapper', inner: v3.schema };
    case 'ZodPipeline':
      return { kind: 'wrapper', inner: v3.in };
    case 'ZodLazy':
      return { kind: 'wrapper', inner: v3.getter() };
    default:
      return null;
  }
}
