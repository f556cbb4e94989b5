// The floor of a pipe round trip with a Node child: read a line, write it back.
// Run: node bench/micro/echo_child.mjs (no dependency but Node, like motiad's SDK).
import { createInterface } from 'node:readline';

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on('line', (line) => process.stdout.write(line + '\n'));
