// Bundles the extension, its scoring worker (a worker thread running the core, so the extension host never
// blocks) and the CLI with esbuild. onnxruntime-node stays external: esbuild cannot bundle its .node
// binary, so it ships in node_modules.
import { build } from 'esbuild';

const watch = process.argv.includes('--watch');
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  external: ['vscode', 'onnxruntime-node'],
  logLevel: 'warning',
};

await Promise.all([
  build({ ...common, entryPoints: ['src/extension/extension.ts'], outfile: 'dist/extension.js' }),
  build({ ...common, entryPoints: ['src/worker/scoringWorker.ts'], outfile: 'dist/scoringWorker.js' }),
  build({ ...common, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } }),
  // Transformer models run in a worker thread; the bundles find this script next to themselves.
  build({ ...common, entryPoints: ['src/core/model/transformer/transformerWorker.ts'], outfile: 'dist/transformerWorker.js' }),
]);
if (watch) console.log('watch mode is not supported; rerun npm run build');
