// The step protocol's tables: error codes, method names, version and limits.
// Generated from protocol/schema/index.json by `python -m motiad.protocol.tables`:
// do not edit; regenerate after changing the broker's protocol module.

/** The protocol version this SDK speaks (SPEC `lifecycle.version`). */
export const PROTOCOL_VERSION = '1.0';
export const DEFAULT_MAX_LINE_BYTES = 16777216;
export const MAX_ERROR_MESSAGE_CHARS = 1024;
export const SHUTDOWN_GRACE_MS = 10000;

/** Every error code of SPEC §5. */
export const ErrorCode = Object.freeze({
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  HANDLER_FAILED: -32000,
  TIMED_OUT: -32001,
  CANCELLED: -32002,
  UNKNOWN_STEP: -32003,
  VERSION_MISMATCH: -32004,
  LINE_TOO_LONG: -32005,
  UNKNOWN_INVOCATION: -32006,
  SHUTTING_DOWN: -32007,
});

/** The name of every method of SPEC §3. */
export const Method = Object.freeze({
  INITIALIZE: 'initialize',
  INVOKE: 'invoke',
  CANCEL: '$/cancel',
  TITLE: '$/title',
  PING: 'ping',
  SHUTDOWN: 'shutdown',
  EMIT: 'emit',
  STATE_GET: 'state.get',
  STATE_SET: 'state.set',
  STATE_DELETE: 'state.delete',
  STATE_GET_GROUP: 'state.getGroup',
  STATE_CLEAR: 'state.clear',
  STATE_UPDATE: 'state.update',
  STATE_LIST_GROUPS: 'state.listGroups',
  HTTP_WRITE: 'http.write',
  HTTP_READ: 'http.read',
  STREAM_UPDATE: 'stream.update',
  STREAM_LIST_GROUPS: 'stream.listGroups',
  STREAM_GET: 'stream.get',
  STREAM_SET: 'stream.set',
  STREAM_DELETE: 'stream.delete',
  STREAM_GET_GROUP: 'stream.getGroup',
  STREAM_SEND: 'stream.send',
  LOG: 'log',
});
