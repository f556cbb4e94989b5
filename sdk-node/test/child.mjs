// Test side of the protocol: starts the runner as a real child process and
// plays the broker over NDJSON. Every wait has a deadline; nothing sleeps.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SDK_DIR = fileURLToPath(new URL('..', import.meta.url));
export const RUNNER = path.join(SDK_DIR, 'src', 'runner.mjs');
export const PROJECT = path.join(SDK_DIR, 'test', 'fixtures', 'project');

/** How long any single wait may take before the test fails. */
const DEADLINE_MS = 5000;

/**
 * @param {string} name a file under the fixture project's steps/
 * @returns {string} its absolute path
 */
export function step(name) {
  return path.join(PROJECT, 'steps', name);
}

/**
 * Waits for `promise`, failing after the deadline with `what` in the message.
 *
 * @template T
 * @param {Promise<T>} promise
 * @param {string} what
 * @returns {Promise<T>}
 */
export function within(promise, what) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const deadline = new Promise((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${DEADLINE_MS} ms waiting for ${what}`)), DEADLINE_MS);
  });
  return /** @type {Promise<T>} */ (Promise.race([promise, deadline])).finally(() => clearTimeout(timer));
}

/** A JSON-RPC message as read from the child; fields are checked by the tests. @typedef {Record<string, any>} Message */

export class Child {
  /** @type {Message[]} messages read and not yet taken by a test */
  inbox = [];
  /** @type {string[]} stdout lines that were not JSON: must stay empty */
  garbage = [];
  stderr = '';
  closed = false;
  /** @type {Array<() => void>} */
  #wakers = [];
  #nextId = 1;
  #stdoutRest = '';

  /**
   * Starts the runner the way the broker does: `node runner.mjs` with the project as cwd.
   *
   * @param {string} [cwd]
   */
  constructor(cwd = PROJECT) {
    this.cwd = cwd;
    this.process = spawn(process.execPath, [RUNNER], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    // 'close', not 'exit': it comes after the last stdout bytes have been read.
    /** @type {Promise<{code: number | null, signal: NodeJS.Signals | null}>} */
    this.exited = new Promise((resolve) =>
      this.process.on('close', (code, signal) => {
        this.closed = true;
        this.#wake();
        resolve({ code, signal });
      }),
    );
    this.process.stdout.setEncoding('utf8');
    this.process.stdout.on('data', (/** @type {string} */ text) => this.#onStdout(text));
    this.process.stderr.setEncoding('utf8');
    this.process.stderr.on('data', (/** @type {string} */ text) => {
      this.stderr += text;
      this.#wake();
    });
    // Writes after the child exited fail with EPIPE; the exit itself is what tests check.
    this.process.stdin.on('error', () => {});
  }

  /** @param {string} text */
  #onStdout(text) {
    const lines = (this.#stdoutRest + text).split('\n');
    this.#stdoutRest = lines.pop() ?? '';
    for (const line of lines) {
      try {
        this.inbox.push(JSON.parse(line));
      } catch {
        this.garbage.push(line);
      }
    }
    this.#wake();
  }

  #wake() {
    for (const wake of this.#wakers.splice(0)) wake();
  }

  /**
   * @template T
   * @param {() => T | undefined} probe returns a value once the condition holds
   * @param {string} what
   * @returns {Promise<T>}
   */
  #until(probe, what) {
    return within(
      new Promise((resolve, reject) => {
        const check = () => {
          const value = probe();
          if (value !== undefined) resolve(value);
          else if (this.closed) reject(new Error(`child exited (${this.process.exitCode}) before ${what}; stderr:\n${this.stderr}`));
          else this.#wakers.push(check);
        };
        check();
      }),
      what,
    );
  }

  /**
   * Takes the first message (already read or still to come) that matches.
   *
   * @param {(message: Message) => boolean} matches
   * @param {string} what
   * @returns {Promise<Message>}
   */
  next(matches, what) {
    return this.#until(() => {
      const index = this.inbox.findIndex(matches);
      return index === -1 ? undefined : this.inbox.splice(index, 1)[0];
    }, what);
  }

  /**
   * @param {string | number | null} id
   * @returns {Promise<Message>} the response to request `id`
   */
  response(id) {
    return this.next((m) => m.id === id && m.method === undefined, `the response to id ${JSON.stringify(id)}`);
  }

  /**
   * @param {string} method
   * @param {(message: Message) => boolean} [matches]
   * @returns {Promise<Message>} the next request or notification the child sends for `method`
   */
  sent(method, matches = () => true) {
    return this.next((m) => m.method === method && matches(m), `a ${method} from the child`);
  }

  /**
   * @param {string} text
   * @returns {Promise<string>} all of stderr, once it contains `text`
   */
  stderrContains(text) {
    return this.#until(() => (this.stderr.includes(text) ? this.stderr : undefined), `${JSON.stringify(text)} on stderr`);
  }

  /** @param {string | Uint8Array} data bytes for the child's stdin, as is */
  write(data) {
    this.process.stdin.write(data);
  }

  /** @param {unknown} message */
  send(message) {
    this.write(JSON.stringify(message) + '\n');
  }

  /**
   * Sends a request (test ids are strings, so they never look like the child's).
   *
   * @param {string} method
   * @param {unknown} [params]
   * @returns {string} the request id
   */
  call(method, params = {}) {
    const id = `t${this.#nextId++}`;
    this.send({ jsonrpc: '2.0', id, method, params });
    return id;
  }

  /**
   * Sends a request and waits for its response.
   *
   * @param {string} method
   * @param {unknown} [params]
   * @returns {Promise<Message>}
   */
  request(method, params) {
    return this.response(this.call(method, params));
  }

  /**
   * Answers a request the child sent.
   *
   * @param {Message} request
   * @param {unknown} result
   */
  reply(request, result) {
    this.send({ jsonrpc: '2.0', id: request.id, result });
  }

  /**
   * @param {unknown[]} steps paths (anything else tests the child's validation)
   * @param {Record<string, unknown>} [extra] more params, overriding the defaults
   * @returns {Promise<Message>}
   */
  initialize(steps, extra = {}) {
    return this.request('initialize', { protocolVersion: '1.0', project: this.cwd, steps, ...extra });
  }

  /**
   * Sends an invoke and returns its request id.
   *
   * @param {string} stepPath
   * @param {Record<string, unknown>} trigger
   * @param {unknown} input
   * @param {Record<string, unknown>} [extra]
   * @returns {string}
   */
  invoke(stepPath, trigger, input, extra = {}) {
    const invocationId = `i${this.#nextId}`;
    return this.call('invoke', { step: stepPath, trigger, input, traceId: 'trace-1', invocationId, attempt: 1, timeoutMs: 30000, ...extra });
  }

  /**
   * Closes stdin and waits for the exit; kills the child if it outlives the deadline.
   *
   * @returns {Promise<{code: number | null, signal: NodeJS.Signals | null}>}
   */
  async close() {
    this.process.stdin.end();
    try {
      return await within(this.exited, 'the child to exit');
    } finally {
      if (!this.closed) this.process.kill('SIGKILL');
    }
  }
}
