// SPEC `framing.stdout-owned`: stdout carries protocol lines only, so
// whatever user code prints must go to stderr, where the broker turns each
// line into a log record.

import { Console } from 'node:console';

/** Console methods that print to stdout; each is pointed at stderr. */
const STDOUT_CONSOLE_METHODS = /** @type {const} */ (['log', 'info', 'debug', 'dir', 'table']);

/**
 * Takes stdout for the protocol and sends user output to stderr. Call it
 * before any user code is loaded. Keeps the stream's own `write` for protocol
 * lines, then replaces `process.stdout.write` (which `console` and most
 * libraries go through) and the stdout-bound console methods with stderr ones.
 * Output written straight to file descriptor 1 (`fs.writeSync(1, …)`) cannot
 * be caught from JavaScript.
 *
 * @returns {import('./lines.mjs').LineSink} where protocol lines go
 */
export function claimStdout() {
  const stdout = process.stdout;
  const protocolWrite = stdout.write;
  const stderr = process.stderr;
  stdout.write = /** @type {typeof stdout.write} */ (stderr.write.bind(stderr));
  const toStderr = new Console({ stdout: stderr, stderr });
  for (const method of STDOUT_CONSOLE_METHODS) console[method] = toStderr[method];
  return {
    stream: stdout,
    write: (chunk, callback) => protocolWrite.call(stdout, chunk, 'utf8', callback),
  };
}
