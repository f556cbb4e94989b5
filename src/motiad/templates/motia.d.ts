/** Any JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }

/** A JSON Schema document. */
export type JsonSchema = { [keyword: string]: unknown }

/** A schema in a step config: JSON Schema, or a zod schema (v3 or v4). */
export type StepSchema = JsonSchema | { readonly _zod: unknown } | { readonly _def: unknown }

/** A topic a step emits: its name, or the name with a label for flow diagrams. */
export type Emit = string | { topic: string; label?: string; conditional?: boolean }

export interface QueueConfig {
  type?: 'standard' | 'fifo'
  maxRetries?: number
  visibilityTimeout?: number
  delaySeconds?: number
}

export interface InfrastructureConfig {
  handler?: { timeout?: number; ram?: number; cpu?: number }
  queue?: QueueConfig
}

export interface StepConfigBase {
  name: string
  description?: string
  /** Flows this step is drawn in. */
  flows?: string[]
  emits?: Emit[]
  virtualEmits?: Emit[]
  virtualSubscribes?: string[]
  includeFiles?: string[]
  infrastructure?: InfrastructureConfig
}

export type ApiRouteMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS'

export interface QueryParam {
  name: string
  description?: string
}

export interface ApiRouteConfig extends StepConfigBase {
  type: 'api'
  path: string
  method: ApiRouteMethod
  bodySchema?: StepSchema
  /** Response schemas by status code. */
  responseSchema?: Record<number, StepSchema>
  queryParams?: QueryParam[]
  /** Run around the handler, in order. */
  middleware?: ApiMiddleware<any, any, any>[]
  /** motiad's: the handler reads the body from `ctx.bodyStream` as the client sends it. */
  streamBody?: boolean
}

export interface EventConfig extends StepConfigBase {
  type: 'event'
  subscribes: string[]
  /** Schema of the event data. */
  input?: StepSchema
}

export interface CronConfig extends StepConfigBase {
  type: 'cron'
  /** A cron expression: 5 fields, or 6 with seconds first. */
  cron: string
}

/** A step that never runs; it only draws virtual edges in flow diagrams. */
export interface NoopConfig extends StepConfigBase {
  type: 'noop'
  virtualEmits: Emit[]
  virtualSubscribes: string[]
}

export type StepConfig = ApiRouteConfig | EventConfig | CronConfig | NoopConfig | Motia1xStepConfig

/** The request an API step's handler receives. */
export interface ApiRequest<TBody = unknown> {
  method: string
  path: string
  /** The parsed JSON body, the text of a non-JSON body, or null when empty. */
  body: TBody
  /** Header names are lower-case. */
  headers: Record<string, string | string[]>
  pathParams: Record<string, string>
  /** A repeated key gives an array. */
  queryParams: Record<string, string | string[]>
}

/** What an API step's handler returns; `body` is required when its schema says so. */
export type ApiResponse<TStatus extends number = number, TBody = unknown> = {
  status: TStatus
  headers?: Record<string, string>
} & (undefined extends TBody ? { body?: TBody } : { body: TBody })

/** Emits an event (`{topic, data, messageGroupId?}`); resolves once it is stored durably. */
export type Emitter<TEmitData> = (event: TEmitData & { messageGroupId?: string }) => Promise<{ eventId: string }>

/** Key-value state of JSON values, grouped by a group id (often the trace id). */
export interface StateManager {
  get<T = unknown>(groupId: string, key: string): Promise<T | null>
  set<T = unknown>(groupId: string, key: string, value: T): Promise<T>
  delete<T = unknown>(groupId: string, key: string): Promise<T | null>
  getGroup<T = unknown>(groupId: string): Promise<T[]>
  clear(groupId: string): Promise<null>
}

/** An item of a stream: its data and its id. */
export type BaseStreamItem<TData = Record<string, unknown>> = TData & { id: string }

/** One stream's items; every change is pushed to its WebSocket subscribers. */
export interface MotiaStream<TData = Record<string, unknown>> {
  get(groupId: string, id: string): Promise<BaseStreamItem<TData> | null>
  set(groupId: string, id: string, data: TData): Promise<BaseStreamItem<TData>>
  delete(groupId: string, id: string): Promise<BaseStreamItem<TData> | null>
  getGroup(groupId: string): Promise<BaseStreamItem<TData>[]>
  /** An ephemeral event for the group's (or one item's) subscribers; never stored. */
  send<TEvent = unknown>(channel: { groupId: string; id?: string }, event: { type: string; data: TEvent }): Promise<null>
}

/** The project's streams by name; `motiad types` adds each declared one with its item type. */
export interface Streams {
  [name: string]: MotiaStream<any>
}

/** A `*.stream.ts` file's `config`. */
export interface StreamConfig {
  name: string
  schema?: StepSchema
  baseConfig?: { storageType: 'default' }
}

/** Structured logs of the invocation. */
export interface Logger {
  debug(message: string, fields?: unknown): void
  info(message: string, fields?: unknown): void
  warn(message: string, fields?: unknown): void
  error(message: string, fields?: unknown): void
}

/** The platform's AbortSignal where the project's types know it (lib "dom" or @types/node). */
export type AbortSignalLike = typeof globalThis extends { AbortSignal: { prototype: infer S } }
  ? S
  : { readonly aborted: boolean; readonly reason: unknown }

/** The context every handler receives; `emit` takes only the topics the step declares. */
export interface FlowContext<TEmitData = never> {
  emit: Emitter<TEmitData>
  state: StateManager
  /** `ctx.streams.<name>`, for every stream a `*.stream.ts`/`_stream.py` file declares. */
  streams: Streams
  logger: Logger
  traceId: string
  /** Aborted when the invocation times out or is cancelled. */
  signal: AbortSignalLike
}

/** The context of an event step's handler. */
export interface EventContext<TEmitData = never> extends FlowContext<TEmitData> {
  topic: string
  eventId: string
  /** 1 on the first delivery. */
  attempt: number
}

/** The context of an API step's handler. */
export interface ApiContext<TEmitData = never> extends FlowContext<TEmitData> {
  /** The body as the client sends it, in chunks, for a config with `streamBody: true` (`req.body` is then null). */
  bodyStream?: AsyncIterable<Uint8Array>
  /** Streams the response: each write goes to the client at once, the first with `status` and `headers`. */
  streamResponse(
    status?: number,
    headers?: Record<string, string>,
  ): { write(chunk: string | Uint8Array, callback?: (error?: Error | null) => void): boolean; end(): void }
}

export type ApiRouteHandler<
  TRequestBody = unknown,
  TResponseBody extends ApiResponse<number, unknown> = ApiResponse<number, unknown>,
  TEmitData = never,
> = (req: ApiRequest<TRequestBody>, ctx: ApiContext<TEmitData>) => Promise<TResponseBody> | TResponseBody

export type EventHandler<TInput, TEmitData = never> = (
  input: TInput,
  ctx: EventContext<TEmitData>,
) => Promise<void> | void

export type CronHandler<TEmitData = never> = (ctx: FlowContext<TEmitData>) => Promise<void> | void

/** Runs around an API handler: return `await next()` (maybe changed), or a response of its own. */
export type ApiMiddleware<TBody = unknown, TEmitData = never, TResult = unknown> = (
  req: ApiRequest<TBody>,
  ctx: FlowContext<TEmitData>,
  next: () => Promise<ApiResponse<number, TResult>>,
) => Promise<ApiResponse<number, TResult>>
