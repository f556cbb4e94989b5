// The child process the broker starts for Node steps:
//   node /abs/sdk-node/src/runner.mjs   (cwd = the project root)
// It speaks the motiad protocol (protocol/SPEC.md) on stdin/stdout.
// The imports below are the SDK's own modules; no user code runs before
// claimStdout() has taken stdout (framing.stdout-owned).

import { StepHost } from './host.mjs';
import { LineWriter } from './lines.mjs';
import { RpcPeer } from './rpc.mjs';
import { claimStdout } from './stdio.mjs';
import { Method } from './tables.mjs';

const writer = new LineWriter(claimStdout());
const peer = new RpcPeer(writer);
new StepHost(peer, async () => {
  await writer.flush();
  process.exit(0);
});
// lifecycle.title: what `ps` shows for this child. libuv writes the title over
// the argument area it copied at start (cut to fit it) and sets the thread name.
peer.onNotification(Method.TITLE, (params) => {
  if (typeof params.title === 'string') process.title = params.title;
});

// rpc.concurrent: stdin is read on every turn of the event loop, whatever
// handlers are doing; replies go out as they are ready.
process.stdin.on('data', (chunk) => peer.push(chunk));
// lifecycle.stdin-eof: the broker is gone; running handlers do not matter any more.
process.stdin.on('end', () => process.exit(0));
// EPIPE on stdout means the same.
process.stdout.on('error', () => process.exit(0));
// Node's own warnings (MODULE_TYPELESS_PACKAGE_JSON, deprecations, …) go to
// the broker's log as warnings: printed to stderr by Node's default listener,
// removed here, they would be logged as INFO lines.
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  const code = /** @type {{code?: unknown}} */ (warning).code;
  const label = typeof code === 'string' ? `${warning.name} [${code}]` : warning.name;
  peer.notify('log', { level: 'warn', message: `${label}: ${warning.message}`, fields: { name: warning.name, ...(typeof code === 'string' ? { code } : {}) } });
});
// A promise that user code dropped must not take down the other invocations
// (Node would exit): report it as a log line instead.
process.on('unhandledRejection', (reason) => {
  process.stderr.write(`motiad-sdk-node: unhandled promise rejection: ${reason instanceof Error ? reason.stack : String(reason)}\n`);
});
