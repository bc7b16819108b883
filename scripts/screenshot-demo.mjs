// Renders README's terminal screenshot (media/demo-terminal.png) from a real run of `dimp-curator demo` on the
// bundled sample: the run's summary lines (progress per epoch left out) in a terminal-like page, shot with the
// same headless Chromium the browser tests use. Run `npm run build` first.
// Usage: node scripts/screenshot-demo.mjs [--out media/demo-terminal.png]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { launchChromium } from '../test/extension/vscodeHost.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { out: { type: 'string', default: path.join(repoRoot, 'media', 'demo-terminal.png') } } });

/** Runs the demo in a temporary folder; its stdout and stderr lines in the order they came. */
function runDemo(cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'dimp-curator'), 'demo'], { cwd, env: { ...process.env, NO_COLOR: '1' } });
    const lines = [];
    const take = (stream) => {
      let rest = '';
      stream.on('data', (chunk) => {
        const parts = (rest + chunk).split('\n');
        rest = parts.pop();
        lines.push(...parts);
      });
      stream.on('end', () => rest && lines.push(rest));
    };
    take(child.stdout);
    take(child.stderr);
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(lines) : reject(new Error(`dimp-curator demo exited with ${code}:\n${lines.slice(-20).join('\n')}`))));
  });
}

// What a reader of the README needs: the stages, the checkers' summary, the flaw table and the comparison.
// The checkers' long summary lines repeat the short "… checker trained: …" ones, wider than the picture.
const noise = /^epoch \d|: epoch \d+ of \d+$|^reading |^training the |^best epoch |^training \(|^labels \(settings\)|^(quality|diversity) checker: trained on/;
const escape = (text) => text.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]);

const work = mkdtempSync(path.join(os.tmpdir(), 'dimp-demo-shot-'));
const browser = await launchChromium(process.env);
try {
  const lines = (await runDemo(work)).filter((line) => !noise.test(line)).map((line) => line.replace(work + path.sep, '').replace(repoRoot + path.sep, ''));
  const body = ['$ npm run demo', ...lines].map((line) => {
    const text = escape(line) || '&nbsp;';
    if (line.startsWith('$ ')) return `<div class="prompt">${text}</div>`;
    return `<div${/^dimp\s/.test(line) ? ' class="dimp"' : ''}>${text}</div>`;
  });
  const page = await browser.newPage({ viewport: { width: 1180, height: 200 }, deviceScaleFactor: 1 });
  await page.setContent(`<!doctype html><style>
    body { margin: 0; background: #1e1e1e; }
    pre { margin: 0; padding: 16px 22px; color: #d4d4d4; font: 14px/20.4px 'DejaVu Sans Mono', monospace; white-space: pre; }
    .prompt { color: #4ec9b0; } .dimp { color: #dcdcaa; }
  </style><pre>${body.join('')}</pre>`);
  const size = await page.locator('pre').boundingBox();
  await page.setViewportSize({ width: 1180, height: Math.ceil(size.height) });
  await page.screenshot({ path: values.out });
  console.log(`wrote ${path.relative(process.cwd(), values.out)} (${lines.length} lines of the demo's output)`);
} finally {
  await browser.close();
  rmSync(work, { recursive: true, force: true });
}
