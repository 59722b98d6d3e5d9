#!/usr/bin/env node
// Builds a TypeScript (or JavaScript) weft workflow into a WebAssembly component.
//
//   node build.mjs --entry workflow.ts --out workflow.wasm --wit ../../wit [--work /tmp/dir]
//
// 1. writes an entry module that imports the user's workflow (which registers its function
//    with `workflow(fn)`) and re-exports the SDK's `run`;
// 2. bundles it with esbuild into one ES module (the bare import `weft` resolves to this SDK,
//    `weft:*` and `wasi:*` stay external: they are the component's imports);
// 3. runs componentize-js on the bundle against the `workflow` world of the WIT package,
//    with http and fetch-event disabled. Clocks and random stay: weft answers them from the
//    history. stdio stays too: weft logs what the workflow writes (console.log/console.error)
//    and adds the tail of stderr to a failed Workflow Task, which is where the SDK reports an
//    exception that fails the task.
//
// esbuild and componentize-js are loaded from WEFT_NODE_MODULES (default: ./node_modules next
// to this script; `npm ci` in ./toolchain installs the pinned versions).

import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

function usage(msg) {
  if (msg) console.error(`build.mjs: ${msg}`);
  console.error('usage: node build.mjs --entry workflow.ts --out out.wasm --wit <wit dir> [--work <dir>]');
  process.exit(2);
}

const args = { entry: undefined, out: undefined, wit: undefined, work: undefined };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const key = argv[i].replace(/^--/, '');
  if (!(key in args) || i + 1 >= argv.length) usage(`unknown or incomplete argument ${argv[i]}`);
  args[key] = argv[++i];
}
if (!args.entry || !args.out || !args.wit) usage('--entry, --out and --wit are required');

const entry = path.resolve(args.entry);
const out = path.resolve(args.out);
const wit = path.resolve(args.wit);
if (!fs.existsSync(entry)) usage(`no such file: ${entry}`);
if (!fs.existsSync(wit)) usage(`no such WIT path: ${wit}`);
const work = args.work
  ? path.resolve(args.work)
  : fs.mkdtempSync(path.join(os.tmpdir(), 'weft-ts-'));
fs.mkdirSync(work, { recursive: true });

const nodeModules = path.resolve(process.env.WEFT_NODE_MODULES ?? path.join(here, 'node_modules'));
const requireTool = createRequire(path.join(nodeModules, 'noop.js'));
let esbuild;
try {
  esbuild = requireTool('esbuild');
} catch (e) {
  usage(`esbuild not found in ${nodeModules} (set WEFT_NODE_MODULES, or run npm ci in ${path.join(here, 'toolchain')}): ${e.message}`);
}
const componentizeCli = path.join(nodeModules, '@bytecodealliance', 'componentize-js', 'src', 'cli.js');
if (!fs.existsSync(componentizeCli)) usage(`componentize-js not found in ${nodeModules}`);

// 1. The entry.
const entryFile = path.join(work, '_weft_entry.js');
fs.writeFileSync(
  entryFile,
  `import ${JSON.stringify(entry)};\nexport { run } from "weft";\n`,
);

// 2. The bundle. `weft` is this SDK, wherever the user's file lives.
const sdkEntry = path.join(here, 'src', 'index.ts');
const weftPlugin = {
  name: 'weft-sdk',
  setup(build) {
    build.onResolve({ filter: /^weft$/ }, () => ({ path: sdkEntry }));
  },
};
const bundle = path.join(work, 'bundle.js');
await esbuild.build({
  entryPoints: [entryFile],
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  external: ['weft:*', 'wasi:*'],
  plugins: [weftPlugin],
  outfile: bundle,
  logLevel: 'warning',
});

// 3. The component. componentize-js is run from the WIT directory's parent with a relative
// --wit path.
const witParent = path.dirname(wit);
const r = spawnSync(
  process.execPath,
  [
    componentizeCli,
    bundle,
    '--wit', path.relative(witParent, wit) || '.',
    '--world-name', 'workflow',
    '-d', 'http', 'fetch-event',
    '-o', out,
  ],
  { cwd: witParent, stdio: 'inherit' },
);
if (r.error) {
  console.error(`build.mjs: componentize-js did not run: ${r.error.message}`);
  process.exit(1);
}
if (r.status !== 0) process.exit(r.status ?? 1);
if (!args.work) fs.rmSync(work, { recursive: true, force: true });
