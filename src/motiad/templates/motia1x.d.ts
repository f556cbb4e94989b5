// Motia 1.x's API (frameworks/motia/motia-js/packages/motia/src: types.ts,
// triggers.ts, step.ts), as motiad's `motia` module implements it in a step child.

/** Which way a step is triggered: `Handlers<typeof config>` of a 1.x step, `Handlers['Name']` of a 0.17 one. */
export type Handlers<TConfig = never> = [TConfig] extends [never] ? StepHandlers : Motia1xHandler<TConfig>

/** The handlers of the project's Motia 0.17 steps, by step name (filled in below by `motiad types`). */
export interface StepHandlers {}

/** A trigger's condition: only `false` skips the handler. */
export type TriggerCondition<TInput = any> = (input: TInput, ctx: Motia1xContext<any>) => boolean | Promise<boolean>

export interface HttpTrigger<TSchema = unknown> {
  type: 'http'
  method: ApiRouteMethod
  path: string
  bodySchema?: TSchema
  responseSchema?: Record<number, StepSchema>
  queryParams?: readonly QueryParam[]
  middleware?: readonly any[]
  /** motiad's: `request.requestBody.stream` reads the body as the client sends it; `request.body` is null. */
  streamBody?: boolean
  condition?: TriggerCondition
}

export interface QueueTrigger<TSchema = unknown> {
  type: 'queue'
  topic: string
  input?: TSchema
  config?: Partial<QueueConfig & { concurrency: number; backoffType: string; backoffDelayMs: number }>
  condition?: TriggerCondition
}

export interface CronTrigger {
  type: 'cron'
  /** 6 fields, seconds first (or 5; or 7 with a `*` year). */
  expression: string
  condition?: TriggerCondition
}

export interface StateTrigger {
  type: 'state'
  condition?: TriggerCondition
}

export interface StreamTrigger {
  type: 'stream'
  streamName: string
  groupId?: string
  itemId?: string
  condition?: TriggerCondition
}

export type TriggerConfig = HttpTrigger<any> | QueueTrigger<any> | CronTrigger | StateTrigger | StreamTrigger

/** A Motia 1.x step config: `triggers` in place of `type`. */
export interface Motia1xStepConfig {
  name: string
  description?: string
  triggers: readonly TriggerConfig[]
  enqueues?: readonly Emit[]
  virtualEnqueues?: readonly Emit[]
  virtualSubscribes?: readonly string[]
  flows?: readonly string[]
  includeFiles?: readonly string[]
}

/** The request of an HTTP trigger. */
export interface MotiaHttpRequest<TBody = any> {
  pathParams: Record<string, string>
  queryParams: Record<string, string | string[]>
  body: TBody
  headers: Record<string, string | string[]>
  method: string
  /** The body as the client sent it, in Buffer chunks (streamed from the client with `streamBody`). */
  requestBody: { stream: AsyncIterable<any> }
}

/** Where an HTTP trigger's handler may write its answer (server-sent events). */
export interface MotiaHttpResponse {
  status(statusCode: number): void
  headers(headers: Record<string, string>): void
  stream: { write(chunk: string | Uint8Array): boolean }
  close(): void
}

export interface MotiaHttpArgs<TBody = any> {
  request: MotiaHttpRequest<TBody>
  response: MotiaHttpResponse
}

export interface StateTriggerInput<T = any> {
  type: 'state'
  group_id: string
  item_id: string
  old_value?: T
  new_value?: T
}

export interface StreamWrapperMessage<T = any> {
  type: 'stream'
  timestamp: number
  streamName: string
  groupId: string
  id?: string
  event: { type: 'create' | 'update' | 'delete'; data: T } | { type: 'event'; data: { type: string; data: unknown } }
}
export type StreamTriggerInput<T = any> = StreamWrapperMessage<T>

export interface TriggerInfo {
  type: 'http' | 'queue' | 'cron' | 'state' | 'stream'
  index?: number
}

/** A zod schema's output type; `any` for JSON Schema (not inferred). */
export type InferSchema<S> = S extends { _zod: { output: infer O } } ? O : S extends { _output: infer O } ? O : any

type TriggerInput<T> = T extends { type: 'queue'; input?: infer S }
  ? InferSchema<S>
  : T extends { type: 'http'; bodySchema?: infer S }
    ? MotiaHttpArgs<InferSchema<S>>
    : T extends { type: 'state' }
      ? StateTriggerInput
      : T extends { type: 'stream' }
        ? StreamWrapperMessage
        : T extends { type: 'cron' }
          ? undefined
          : never

export type Motia1xInput<TConfig> = TConfig extends { triggers: readonly (infer T)[] } ? TriggerInput<T> : never

export interface MatchHandlers<TInput, TResult> {
  queue?: (input: Exclude<TInput, MotiaHttpArgs | StateTriggerInput | StreamWrapperMessage | undefined>) => Promise<void>
  http?: (args: Extract<TInput, MotiaHttpArgs>) => Promise<TResult>
  cron?: () => Promise<void>
  state?: (input: Extract<TInput, StateTriggerInput>) => Promise<TResult>
  stream?: (input: Extract<TInput, StreamWrapperMessage>) => Promise<TResult>
  default?: (input: TInput) => Promise<TResult | undefined>
}

/** The context of a Motia 1.x handler. */
export interface Motia1xContext<TInput> {
  traceId: string
  trigger: TriggerInfo
  is: {
    queue(input: TInput): boolean
    http(input: TInput): input is Extract<TInput, MotiaHttpArgs>
    cron(input: TInput): boolean
    state(input: TInput): input is Extract<TInput, StateTriggerInput>
    stream(input: TInput): input is Extract<TInput, StreamWrapperMessage>
  }
  getData(): any
  match<TResult = any>(handlers: MatchHandlers<TInput, TResult>): Promise<TResult | undefined>
  logger: Logger
  enqueue: typeof enqueue
}

export type Motia1xHandler<TConfig> = (
  input: Motia1xInput<TConfig>,
  ctx: Motia1xContext<Motia1xInput<TConfig>>,
) => Promise<ApiResponse<number, any> | void>

export type UpdateOp =
  | { type: 'set'; path: string; value?: unknown }
  | { type: 'merge'; path?: string; value: unknown }
  | { type: 'increment'; path: string; by: number }
  | { type: 'decrement'; path: string; by: number }
  | { type: 'remove'; path: string }

export interface SetResult<T> {
  new_value: T
  old_value?: T
}

export function http<TOptions extends Partial<Omit<HttpTrigger<any>, 'type' | 'method' | 'path' | 'condition'>> = {}>(
  method: ApiRouteMethod,
  path: string,
  options?: TOptions,
  condition?: TriggerCondition,
): { type: 'http'; method: ApiRouteMethod; path: string } & TOptions
export function queue<TOptions extends Partial<Omit<QueueTrigger<any>, 'type' | 'topic' | 'condition'>> = {}>(
  topic: string,
  options?: TOptions,
  condition?: TriggerCondition,
): { type: 'queue'; topic: string } & TOptions
export function cron(expression: string, condition?: TriggerCondition): CronTrigger
export function state(condition?: TriggerCondition): StateTrigger
export function stream(streamName: string, options?: TriggerCondition | { groupId?: string; itemId?: string; condition?: TriggerCondition }): StreamTrigger

export function step<TConfig extends Motia1xStepConfig>(config: TConfig, handler: Handlers<TConfig>): { config: TConfig; handler: Handlers<TConfig> }
export function step<TConfig extends Motia1xStepConfig>(config: TConfig): {
  config: TConfig
  handle(handler: Handlers<TConfig>): { config: TConfig; handler: Handlers<TConfig> }
}

export function enqueue(event: { topic: string; data: unknown; messageGroupId?: string }): Promise<void>
export const logger: Logger
export const stateManager: {
  get<T = any>(groupId: string, key: string): Promise<T | null>
  set<T = any>(groupId: string, key: string, value: T): Promise<SetResult<T>>
  update<T = any>(groupId: string, key: string, ops: UpdateOp[]): Promise<SetResult<T>>
  delete<T = any>(groupId: string, key: string): Promise<T | null>
  list<T = any>(groupId: string): Promise<T[]>
  listGroups(): Promise<string[]>
  clear(groupId: string): Promise<void>
}

export class Stream<TData = any> {
  constructor(config: StreamConfig)
  config: StreamConfig
  get(groupId: string, itemId: string): Promise<(TData & { id: string }) | null>
  set(groupId: string, itemId: string, data: TData): Promise<SetResult<TData & { id: string }>>
  delete(groupId: string, itemId: string): Promise<void>
  list(groupId: string): Promise<Array<TData & { id: string }>>
  send(channel: { groupId: string; id?: string }, event: { type: string; data: unknown }): Promise<void>
}
