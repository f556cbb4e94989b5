// NDJSON framing (SPEC §1): a bounded line splitter for stdin and a
// single line writer for the protocol's stdout.

import { DEFAULT_MAX_LINE_BYTES } from './tables.mjs';

const NEWLINE = 0x0a;

/**
 * Splits a byte stream into `\n`-terminated lines of at most `maxLineBytes`
 * bytes (the newline excluded). Partial lines wait in a buffer that never
 * grows past the limit: a longer line is reported once through `onTooLong`
 * and its bytes are dropped up to and including the next newline, after which
 * splitting resumes (`framing.max-line`).
 */
export class LineReader {
  /** @type {Buffer[]} pieces of the line in progress */
  #parts = [];
  #size = 0;
  #discarding = false;

  /**
   * @param {(line: Buffer) => void} onLine called with each complete line, without its newline; the
   *   buffer may share memory with the chunk, so consume it before returning
   * @param {() => void} onTooLong called once per line that exceeds the limit
   * @param {number} [maxLineBytes]
   */
  constructor(onLine, onTooLong, maxLineBytes = DEFAULT_MAX_LINE_BYTES) {
    this.onLine = onLine;
    this.onTooLong = onTooLong;
    this.maxLineBytes = maxLineBytes;
  }

  /**
   * Feeds one chunk as it came from the stream.
   *
   * @param {Buffer} chunk
   */
  push(chunk) {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(NEWLINE, start);
      const end = newline === -1 ? chunk.length : newline;
      if (!this.#discarding) {
        const length = end - start;
        if (this.#size + length > this.maxLineBytes) {
          this.#parts = [];
          this.#size = 0;
          this.#discarding = true;
          this.onTooLong();
        } else if (newline !== -1) {
          let line = chunk.subarray(start, end);
          if (this.#size > 0) {
            this.#parts.push(line);
            line = Buffer.concat(this.#parts, this.#size + length);
            this.#parts = [];
            this.#size = 0;
          }
          this.onLine(line);
        } else if (length > 0) {
          this.#parts.push(chunk.subarray(start, end));
          this.#size += length;
        }
      }
      if (newline === -1) return;
      // The newline ends the line, including one being discarded.
      this.#discarding = false;
      start = newline + 1;
    }
  }
}

/**
 * @typedef {object} LineSink where protocol lines go
 * @property {(chunk: string, callback?: () => void) => boolean} write the stream's own write
 * @property {import('node:events').EventEmitter} stream emits `drain`
 */

/**
 * Writes whole lines to one stream. It is the only writer of protocol
 * output, so lines never interleave. Lines written in one turn of the event
 * loop go out together in a single write on the next tick (one system call
 * for a burst of replies, no added latency). When the stream asks for a pause
 * (write returns false) lines wait here until `drain`, so a slow reader on
 * the other end costs memory in one place only.
 */
export class LineWriter {
  /** @type {string[]} lines (with their newline) not yet handed to the stream */
  #queue = [];
  #scheduled = false;
  #blocked = false;
  #sink;

  /** @param {LineSink} sink */
  constructor(sink) {
    this.#sink = sink;
  }

  /**
   * Sends one line; `line` must not contain a newline.
   *
   * @param {string} line
   */
  writeLine(line) {
    this.#queue.push(line + '\n');
    if (!this.#scheduled && !this.#blocked) {
      this.#scheduled = true;
      process.nextTick(this.#writeQueued);
    }
  }

  /**
   * Resolves once every line written so far has been handed to the OS.
   *
   * @returns {Promise<void>}
   */
  flush() {
    this.#writeQueued();
    return new Promise((resolve) => {
      if (this.#blocked) this.#sink.stream.once('drain', () => resolve(this.flush()));
      // Write callbacks run in order, so an empty write's callback means
      // everything before it is out.
      else this.#sink.write('', resolve);
    });
  }

  #writeQueued = () => {
    this.#scheduled = false;
    if (this.#blocked || this.#queue.length === 0) return;
    const batch = this.#queue.length === 1 ? this.#queue[0] : this.#queue.join('');
    this.#queue = [];
    if (!this.#sink.write(batch)) {
      this.#blocked = true;
      this.#sink.stream.once('drain', this.#onDrain);
    }
  };

  #onDrain = () => {
    this.#blocked = false;
    this.#writeQueued();
  };
}
