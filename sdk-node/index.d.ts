// Public types of @motiad/sdk, for step files:
//   import type { ApiRouteConfig, Handlers } from '@motiad/sdk'
// Names follow Motia's, so a Motia step keeps compiling when its 'motia'
// import is mapped here (tsconfig "paths": {"motia": ["node_modules/@motiad/sdk"]}).
// At run time the SDK needs none of this: type-only imports are erased.

/** Any JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A JSON Schema document. */
export type JsonSchema = { [keyword: string]: unknown };

/**
 * A schema in a step config: JSON Schema, or a zod schema (v3 or v4), which
 * the SDK converts to JSON Schema when the step loads.
 */
export type StepSchema = JsonSchema | { readonly _zod: unknown } | { readonly _def: unknown };

/** A topic a step emits: its name, or the name with a label for flow diagrams. */
export type Emit = string | { topic: string; label?: string; conditional?: boolean };

export interface QueueConfig {
  type?: 'standard' | 'fifo';
  maxRetries?: number;
  visibilityTimeout?: number;
  delaySeconds?: number;
}

export interface InfrastructureConfig {
  handler?: { timeout?: number; ram?: number };
  queue?: QueueConfig;
}

export interface StepConfigBase {
  name: string;
  description?: string;
  /** Flows this step is drawn in. */
  flows?: string[];
  emits?: Emit[];
  virtualEmits?: Emit[];
  virtualSubscribes?: string[];
  includeFiles?: string[];
}

export type ApiRouteMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS';

export interface QueryParam {
  name: string;
  description?: string;
}

export interface ApiRouteConfig extends StepConfigBase {
  type: 'api';
  path: string;
  method: ApiRouteMethod;
  bodySchema?: StepSchema;
  /** Response schemas by status code. */
  responseSchema?: Record<number, StepSchema>;
  queryParams?: QueryParam[];
  /** Run around the handler, first one outermost; the broker sees their names. */
  middleware?: ApiMiddleware<any>[];
  /**
   * motiad's: the handler reads the body as the client sends it, from
   * `ctx.bodyStream` (`req.body` is then null; no `bodySchema`).
   */
  streamBody?: boolean;
  infrastructure?: InfrastructureConfig;
}

export interface EventConfig extends StepConfigBase {
  type: 'event';
  subscribes: string[];
  /** Schema of the event data. */
  input?: StepSchema;
  infrastructure?: InfrastructureConfig;
}

export interface CronConfig extends StepConfigBase {
  type: 'cron';
  /** A cron expression. */
  cron: string;
  infrastructure?: InfrastructureConfig;
}

/** A step that never runs; it only draws virtual edges in flow diagrams. */
export interface NoopConfig extends StepConfigBase {
  type: 'noop';
  virtualEmits: Emit[];
  virtualSubscribes: string[];
}

export type StepConfig = ApiRouteConfig | EventConfig | CronConfig | NoopConfig;

/** The request an API step's handler receives. */
export interface ApiRequest<TBody = unknown> {
  method: string;
  path: string;
  /** The parsed JSON body, the text of a non-JSON body, or null when empty. */
  body: TBody;
  /** Header names are lower-case. */
  headers: Record<string, string | string[]>;
  pathParams: Record<string, string>;
  /** A repeated key gives an array. */
  queryParams: Record<string, string | string[]>;
  /** True when the body is read from `ctx.bodyStream` (a step with `streamBody`). */
  bodyStream?: boolean;
}

/** What an API step's handler returns. */
export interface ApiResponse<TStatus extends number = number, TBody = unknown> {
  status: TStatus;
  body?: TBody;
  headers?: Record<string, string>;
}

export interface EmitEvent<TData = unknown> {
  topic: string;
  data: TData;
  /** Orders delivery within the group on FIFO queues. */
  messageGroupId?: string;
}

/** Emits an event; resolves once the event is stored durably. */
export type Emitter = <TData = unknown>(event: EmitEvent<TData>) => Promise<{ eventId: string }>;

/** Key-value state of JSON values, grouped by a group id (often the trace id). */
export interface StateManager {
  /** The value, or null. */
  get<T = unknown>(groupId: string, key: string): Promise<T | null>;
  /** Stores the value; resolves with what was stored. */
  set<T = unknown>(groupId: string, key: string, value: T): Promise<T>;
  /** Deletes the value; resolves with it, or null. */
  delete<T = unknown>(groupId: string, key: string): Promise<T | null>;
  /** All values in the group, ordered by key. */
  getGroup<T = unknown>(groupId: string): Promise<T[]>;
  clear(groupId: string): Promise<null>;
  /** Applies Motia 1.x update operations in the store in one step. */
  update<T = unknown>(groupId: string, key: string, ops: UpdateOp[]): Promise<{ newValue: T; oldValue?: T }>;
  /** Every group that holds a value. */
  listGroups(): Promise<string[]>;
}

/** Motia 1.x's update operations (iii-sdk stream.ts UpdateOp). */
export type UpdateOp =
  | { type: 'set'; path: string; value?: unknown }
  | { type: 'merge'; path?: string; value: unknown }
  | { type: 'increment'; path: string; by: number }
  | { type: 'decrement'; path: string; by: number }
  | { type: 'remove'; path: string };

/**
 * Structured logs of the invocation. `fields` is an object of extra data;
 * Errors in it keep their name, message and stack.
 */
export interface Logger {
  debug(message: string, fields?: unknown): void;
  info(message: string, fields?: unknown): void;
  warn(message: string, fields?: unknown): void;
  error(message: string, fields?: unknown): void;
}

/** The context every handler receives. */
/** An item of a stream: its data and its id. */
export type BaseStreamItem<TData = Record<string, unknown>> = TData & { id: string };

/** Where `send` delivers an ephemeral event: a whole group, or one item's subscribers. */
export interface StateStreamEventChannel {
  groupId: string;
  id?: string;
}

/** An ephemeral event: pushed to subscribers, never stored. */
export interface StateStreamEvent<TData = unknown> {
  type: string;
  data: TData;
}

/** One stream's items, kept by the broker; every change reaches its WebSocket subscribers. */
export interface MotiaStream<TData = Record<string, unknown>> {
  /** The item, or null. */
  get(groupId: string, id: string): Promise<BaseStreamItem<TData> | null>;
  /** Stores the item (checked against the stream's schema); resolves with it, `id` included. */
  set(groupId: string, id: string, data: TData): Promise<BaseStreamItem<TData>>;
  /** Removes the item; resolves with it, or null. */
  delete(groupId: string, id: string): Promise<BaseStreamItem<TData> | null>;
  /** Every item of the group, ordered by id. */
  getGroup(groupId: string): Promise<BaseStreamItem<TData>[]>;
  /** Pushes an ephemeral event to the group's (or the item's) subscribers. */
  send<TEvent = unknown>(channel: StateStreamEventChannel, event: StateStreamEvent<TEvent>): Promise<null>;
  /** Applies Motia 1.x update operations to the item (checked against the schema). */
  update(groupId: string, id: string, ops: UpdateOp[]): Promise<{ newValue: BaseStreamItem<TData>; oldValue?: BaseStreamItem<TData> }>;
  /** Every group of the stream. */
  listGroups(): Promise<string[]>;
}

/** `ctx.streams.<name>`: every stream the project declares in a `*.stream.ts` file. */
export interface Streams {
  [name: string]: MotiaStream<any>;
}

/** A stream definition file's `config` (`export const config: StreamConfig = {...}`). */
export interface StreamConfig {
  name: string;
  /** A zod schema or JSON Schema for the items. */
  schema?: unknown;
  baseConfig?: { storageType: 'default' };
}

export interface FlowContext {
  emit: Emitter;
  state: StateManager;
  streams: Streams;
  logger: Logger;
  traceId: string;
  /**
   * The invocation's W3C `traceparent` header: send it in the handler's own
   * HTTP calls (`fetch(url, { headers: { traceparent } })`) so they join this
   * trace. Undefined from an older broker.
   */
  traceparent?: string;
  /** Aborted when the invocation times out or is cancelled: pass it on to fetch() and friends. */
  signal: AbortSignal;
}

/** Motia's other name for the handler context. */
export type Context = FlowContext;

/** The context of an API step's handler. */
export interface ApiContext extends FlowContext {
  /**
   * The request body as Buffer chunks, pulled from the client as the handler
   * reads them (`for await (const chunk of ctx.bodyStream)`), for a step whose
   * config has `streamBody: true`; undefined otherwise. A body cut short (the
   * client went away) fails the stream with a `BodyStreamError`.
   */
  bodyStream?: import('node:stream').Readable;
  /**
   * Streams the response instead of returning it: the first write sends
   * `status` and `headers`, each chunk goes to the client as it is written
   * (`write()` returns false until 'drain' while the client reads slowly);
   * once one has, what the handler returns only ends the body.
   */
  streamResponse(status?: number, headers?: Record<string, string>): import('node:stream').Writable;
}

/** The context of an event step's handler. */
export interface EventContext extends FlowContext {
  topic: string;
  eventId: string;
  /** 1 on the first delivery. */
  attempt: number;
}

export type ApiRouteHandler<TBody = any, TResponse extends ApiResponse = ApiResponse> = (
  req: ApiRequest<TBody>,
  ctx: ApiContext,
) => TResponse | Promise<TResponse>;

/**
 * Runs around an API handler, as in Motia: return `await next()` (changed or
 * not), or a response of its own without calling `next` (the handler is skipped).
 * A change to `req` is seen by the middleware after it and by the handler.
 */
export type ApiMiddleware<TBody = any> = (
  req: ApiRequest<TBody>,
  ctx: FlowContext,
  next: () => Promise<ApiResponse>,
) => ApiResponse | Promise<ApiResponse>;

export type EventHandler<TInput = any> = (input: TInput, ctx: EventContext) => void | Promise<void>;

export type CronHandler = (ctx: FlowContext) => void | Promise<void>;

export type StepHandler = ApiRouteHandler | EventHandler | CronHandler;

/**
 * Handlers by step name, as in Motia (`export const handler: Handlers['SendMessage'] = …`).
 * Augment it for precise types:
 *   declare module '@motiad/sdk' { interface Handlers { SendMessage: ApiRouteHandler<{text: string}> } }
 * Unlisted names get a loosely typed handler.
 */
export interface Handlers {
  [stepName: string]: (...args: any[]) => unknown;
}

/**
 * A failure that retrying cannot fix: the broker dead-letters the event
 * instead of redelivering it.
 */
export declare class NonRetryableError extends Error {
  readonly retryable: false;
  constructor(message?: string, options?: ErrorOptions);
}
