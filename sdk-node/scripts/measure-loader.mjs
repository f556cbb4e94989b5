// Measures what a Node child costs with each TypeScript loader: the time from
// spawn to the answer of `initialize` (one TypeScript API step importing a
// TypeScript service), and the resident memory after it, the child's own plus
// its children's (tsx runs an esbuild service process). Figures in README.md.
//   node scripts/measure-loader.mjs [runs]

import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SDK_DIR = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const RUNS = Number(process.argv[2] ?? 15);

const STEP = `import { ApiRouteConfig, Handlers } from 'motia'
import { greet } from '../src/greet'
export const config: ApiRouteConfig = { type: 'api', name: 'Hello', path: '/hello', method: 'GET', emits: [] }
export const handler: Handlers['Hello'] = async () => ({ status: 200, body: greet('you') })
`;

/**
 * @param {string} root
 * @param {boolean} withTsx
 * @returns {Promise<string>}
 */
async function makeProject(root, withTsx) {
  const dir = path.join(root, withTsx ? 'with-tsx' : 'bundled');
  await mkdir(path.join(dir, 'steps'), { recursive: true });
  await mkdir(path.join(dir, 'src'), { recursive: true });
  await writeFile(path.join(dir, 'package.json'), '{"name":"m","private":true}');
  await writeFile(path.join(dir, 'steps', 'hello.step.ts'), STEP);
  await writeFile(path.join(dir, 'src', 'greet.ts'), 'export const greet = (name: string): string => `hello ${name}`\n');
  if (withTsx) {
    await mkdir(path.join(dir, 'node_modules'));
    for (const name of ['tsx', 'esbuild', '@esbuild', 'get-tsconfig', 'resolve-pkg-maps']) {
      await symlink(path.join(SDK_DIR, 'node_modules', name), path.join(dir, 'node_modules', name)).catch(() => {});
    }
  }
  return dir;
}

/**
 * @param {number} pid
 * @returns {Promise<number>} resident kB of pid and its descendants
 */
async function treeRss(pid) {
  let total = 0;
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  total += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  for (const task of await readdir(`/proc/${pid}/task`).catch(() => [])) {
    const children = await readFile(`/proc/${pid}/task/${task}/children`, 'utf8').catch(() => '');
    for (const child of children.split(' ').filter(Boolean)) total += await treeRss(Number(child));
  }
  return total;
}

/**
 * @param {string} project
 * @returns {Promise<{ms: number, rssKb: number}>}
 */
async function once(project) {
  const started = performance.now();
  const child = spawn('node', [path.join(SDK_DIR, 'src', 'runner.mjs')], { cwd: project, stdio: ['pipe', 'pipe', 'inherit'] });
  const step = path.join(project, 'steps', 'hello.step.ts');
  child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '1.0', project, steps: [step] } })}\n`);
  const reply = await new Promise((resolve) => {
    let buffered = '';
    child.stdout.on('data', (chunk) => {
      buffered += chunk;
      if (buffered.includes('\n')) resolve(JSON.parse(buffered.split('\n')[0]));
    });
  });
  const ms = performance.now() - started;
  if (!reply.result?.steps?.[0]?.config) throw new Error(JSON.stringify(reply));
  const rssKb = await treeRss(/** @type {number} */ (child.pid));
  child.stdin.end();
  await new Promise((resolve) => child.on('exit', resolve));
  return { ms, rssKb };
}

/** @param {number[]} values */
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const root = await mkdtemp(path.join(tmpdir(), 'motiad-measure-'));
try {
  const projects = { bundled: await makeProject(root, false), tsx: await makeProject(root, true) };
  /** @type {Record<string, {ms: number[], rss: number[]}>} */
  const results = { bundled: { ms: [], rss: [] }, tsx: { ms: [], rss: [] } };
  for (let run = 0; run < RUNS; run++) {
    for (const [name, project] of Object.entries(projects)) {
      const { ms, rssKb } = await once(project);
      results[name].ms.push(ms);
      results[name].rss.push(rssKb);
    }
  }
  for (const [name, { ms, rss }] of Object.entries(results)) {
    console.log(`${name}: initialize answered after ${median(ms).toFixed(0)} ms, ${(median(rss) / 1024).toFixed(1)} MiB resident (medians of ${RUNS})`);
  }
} finally {
  await rm(root, { recursive: true, force: true });
}
