// An api invocation's request body read as a stream (SPEC http.body-stream)
// and its response written as one (SPEC http.stream).
//
// The body is a Readable that pulls: `_read` asks the broker for one chunk
// (`http.read`), and Node calls it again only when the handler has consumed
// what it holds, so a slow reader leaves the rest with the client. A body cut
// short (the client went away) destroys the stream with a BodyStreamError,
// which `for await` throws.

import { Readable, Writable } from 'node:stream';

/** The request body ended before its end (the client went away, the broker's body limit). */
export class BodyStreamError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'BodyStreamError';
  }
}

/**
 * @param {() => Promise<unknown>} read sends one `http.read` for the invocation
 * @returns {Readable}
 */
export function bodyStream(read) {
  const pull = () =>
    read().then(
      (answer) => {
        const { chunk, done, error } = /** @type {{chunk?: string, done?: boolean, error?: string | null}} */ (answer ?? {});
        if (error) {
          stream.destroy(new BodyStreamError(error));
          return;
        }
        const bytes = Buffer.from(typeof chunk === 'string' ? chunk : '', 'base64');
        if (bytes.length > 0) stream.push(bytes);
        if (done) stream.push(null);
        else if (bytes.length === 0) pull(); // nothing pushed: Node will not ask again
      },
      (/** @type {unknown} */ err) => stream.destroy(err instanceof Error ? err : new Error(String(err))),
    );
  const stream = new Readable({ read: pull });
  return stream;
}

/**
 * A Writable whose every chunk is one `http.write`, the first with the status
 * and headers; its write callback waits for the broker's answer (the client
 * took the chunk), so `write()` returns false until 'drain' when it reads slowly.
 *
 * @param {(params: Record<string, unknown>) => Promise<unknown>} send sends an `http.write` for the invocation
 * @param {() => {status: number, headers: Record<string, string>}} head the status and headers, read at the first write
 * @returns {Writable}
 */
export function responseStream(send, head) {
  let started = false;
  const stream = new Writable({
    write(chunk, _encoding, done) {
      /** @type {Record<string, unknown>} */
      const params = { chunk: Buffer.from(chunk).toString('base64'), encoding: 'base64' };
      if (!started) {
        started = true;
        Object.assign(params, head());
      }
      send(params).then(
        () => done(),
        (/** @type {unknown} */ err) => done(err instanceof Error ? err : new Error(String(err))),
      );
    },
  });
  // A failed write ends the stream; the handler's own awaits see it, the process must not.
  stream.on('error', () => {});
  return stream;
}
