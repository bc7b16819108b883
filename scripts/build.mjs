// Bundles the extension, its workers (worker threads running the core: scoring and training, so the
// extension host never blocks), the CLI (Node) and the training panel's page (browser) with esbuild.
// onnxruntime-node stays external: esbuild cannot bundle its .node binary, so it ships in node_modules.
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
// The panel's page: its own bundle, chart.js and @vscode-elements/elements inside, served from
// dist/webview/ (the webview's only local resource root).
const webview = {
  bundle: true,
  platform: 'browser',
  target: 'chrome114',
  format: 'iife',
  minify: true,
  sourcemap: true,
  logLevel: 'warning',
};

await Promise.all([
  build({ ...common, entryPoints: ['src/extension/extension.ts'], outfile: 'dist/extension.js' }),
  build({ ...common, entryPoints: ['src/worker/scoringWorker.ts'], outfile: 'dist/scoringWorker.js' }),
  build({ ...common, entryPoints: ['src/worker/trainingWorker.ts'], outfile: 'dist/trainingWorker.js' }),
  build({ ...common, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } }),
  // Transformer models run in a worker thread; the bundles find this script next to themselves.
  build({ ...common, entryPoints: ['src/core/model/transformer/transformerWorker.ts'], outfile: 'dist/transformerWorker.js' }),
  // So do the built-in checkers' scoring workers (several at once on large files).
  build({ ...common, entryPoints: ['src/core/model/ngramWorker.ts'], outfile: 'dist/ngramWorker.js' }),
  // And the built-in classifier's Hogwild training threads.
  build({ ...common, entryPoints: ['src/core/train/hogwildWorker.ts'], outfile: 'dist/hogwildWorker.js' }),
  build({ ...webview, entryPoints: { training: 'webview/training/main.ts' }, outdir: 'dist/webview' }),
  build({ ...webview, entryPoints: { training: 'webview/training/training.css' }, outdir: 'dist/webview' }),
]);
if (watch) console.log('watch mode is not supported; rerun npm run build');
