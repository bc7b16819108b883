// Browser end-to-end test of "Train with DIMP" in the extension as users install it: the linux-x64 .vsix
// of `npm run package` is installed into the VS Code server (from code-server, provisioned by
// ../extension/vscodeHost.mjs) with its `--install-extension`, and a copy of the bundled sample is the
// workspace. The test drives the workbench in headless Chromium like a user (Quick Open, F1, the picker),
// and watches the training panel's webview: its charts receive points, the run finishes, the result and the
// CE/IMP/DIMP table appear, and the run folder is whole. Screenshots of the panel mid-run and at the end go
// to test-output/e2e/ (gitignored). Exits non-zero on any failure. (The extension-host tests,
// test/extension/runner.mjs, load the development folder instead, for speed.)
//
// The sample trains in about a second; the workspace's dimp.config.json asks for more epochs
// (DIMP_E2E_EPOCHS, default 40); the training worker's pause point holds each run mid-way while the test looks.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, installExtension, launchChromium, provisionVscodeHost, startVscodeServer, stopProcessGroup } from '../extension/vscodeHost.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const manifest = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
/** The package under test, written by `npm run package`. */
const vsix = path.join(repoRoot, 'release', `${manifest.name}-linux-x64-${manifest.version}.vsix`);
const outputDir = path.join(repoRoot, 'test-output', 'e2e');
const EPOCHS = Number(process.env.DIMP_E2E_EPOCHS ?? 40);
const started = Date.now();
const log = (message) => console.log(`[e2e ${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${message}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));



/** Stops a process started with `detached: true` and its process group (the server's extension host). */

/** The sample with more epochs, so that the run lasts long enough to watch. */
function makeWorkspace(dir) {
  mkdirSync(path.join(dir, '.vscode'), { recursive: true });
  for (const name of ['synthetic.jsonl', 'real_train.jsonl', 'real_val.jsonl', 'real_test.jsonl']) cpSync(path.join(repoRoot, 'sample', name), path.join(dir, name));
  const config = JSON.parse(readFileSync(path.join(repoRoot, 'sample', 'dimp.config.json'), 'utf8'));
  config.training = { ...config.training, epochs: EPOCHS };
  writeFileSync(path.join(dir, 'dimp.config.json'), JSON.stringify(config, null, 2));
  writeFileSync(path.join(dir, '.vscode', 'settings.json'), JSON.stringify({ 'files.autoSave': 'off' }, null, 2));
  // A second project whose config names no real set: scoring its file asks for one (once).
  mkdirSync(path.join(dir, 'other'));
  const rows = readFileSync(path.join(repoRoot, 'sample', 'synthetic.jsonl'), 'utf8').split('\n').slice(0, 600);
  writeFileSync(path.join(dir, 'other', 'generated.jsonl'), `${rows.join('\n')}\n`);
  writeFileSync(path.join(dir, 'other', 'dimp.config.json'), JSON.stringify({ labels: config.labels }, null, 2));
}

/**
 * Earlier runs on the same data, as a user would have made them with the CLI: CE, and IMP on scores kept
 * outside the workspace (so that the editor's DIMP run still has to score first).
 */
function trainEarlierRuns(workspace, scoresDir, env) {
  const cli = (...args) => {
    const result = spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'dimp-curator'), ...args], { cwd: workspace, env, encoding: 'utf8', timeout: 120_000 });
    if (result.status !== 0) throw new Error(`dimp-curator ${args.join(' ')} exited with ${result.status}:\n${result.stderr}`);
  };
  const synthetic = path.join(workspace, 'synthetic.jsonl');
  const scores = path.join(scoresDir, 'synthetic.scores.jsonl');
  cli('score', '--synthetic', synthetic, '--out', scores, '--checkers', path.join(scoresDir, 'checkers'));
  cli('train', '--loss', 'ce', '--synthetic', synthetic, '--epochs', '20');
  cli('train', '--loss', 'ce', '--synthetic', synthetic, '--epochs', '20', '--seed', '2');
  cli('train', '--loss', 'imp', '--synthetic', synthetic, '--scores', scores, '--epochs', '20');
}

/** Every path under `dir`, relative. */
function tree(dir) {
  const out = [];
  const walk = (d) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      out.push(path.relative(dir, p));
      if (entry.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

/**
 * Polls `probe` until it returns a truthy value. The limits are generous: they fail a hung run, and a slow
 * machine only makes the wait longer (DIMP_E2E_TIMEOUT_SCALE multiplies them on a very slow one).
 */
async function waitFor(what, probe, timeoutMs) {
  const deadline = Date.now() + timeoutMs * Number(process.env.DIMP_E2E_TIMEOUT_SCALE ?? 1);
  let last;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${last.message.split('\n')[0]})` : ''}`);
    await sleep(200);
  }
}

/**
 * Runs a command from the command palette (F1), as a user does. On a busy machine the palette can close
 * again before it is typed into (focus still moving after the previous action): then it is opened again.
 */
async function runCommand(page, title) {
  for (let attempt = 1; ; attempt++) {
    try {
      await page.keyboard.press('F1');
      const input = page.locator('.quick-input-widget input');
      await input.waitFor({ state: 'visible', timeout: 10_000 });
      await input.fill(`>${title}`, { timeout: 10_000 });
      const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
      await row.waitFor({ state: 'visible', timeout: 20_000 });
      // Click the matching row: Enter can land on another command while the filtered list is still settling.
      await row.click({ timeout: 10_000 });
      return;
    } catch (error) {
      if (attempt >= 3) throw error;
      log(`the command palette did not take "${title}" (${error.message.split('\n')[0]}); again`);
      await page.keyboard.press('Escape');
    }
  }
}

/** Opens a workspace file by name with Quick Open (Ctrl+P), as a user does. */
async function openFile(page, name) {
  log(`opening ${name} (Quick Open)`);
  await waitFor(
    `${name} in an editor`,
    async () => {
      await page.keyboard.press('Escape');
      await page.keyboard.press('Control+P');
      const input = page.locator('.quick-input-widget input');
      await input.waitFor({ state: 'visible', timeout: 5000 });
      await input.fill(name);
      await page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first().waitFor({ timeout: 5000 });
      await page.keyboard.press('Enter');
      await page.locator('.tabs-container .tab', { hasText: name }).waitFor({ timeout: 5000 });
      return true;
    },
    90_000,
  );
}

/**
 * Waits for a notification whose text matches `pattern`, read from the notification center (toasts hide
 * themselves after a while; the center keeps every notification until it is cleared).
 */
async function waitForNotification(page, what, pattern, timeoutMs) {
  return waitFor(
    what,
    async () => {
      const center = page.locator('.notifications-center');
      if (!(await center.isVisible())) await runCommand(page, 'Notifications: Show Notifications');
      const texts = await center.locator('.notification-list-item-message').allInnerTexts();
      return texts.find((text) => pattern.test(text));
    },
    timeoutMs,
  );
}

async function main() {
  if (!existsSync(vsix)) throw new Error(`${path.relative(repoRoot, vsix)} is missing: run \`npm run package\` first (or \`npm run package -- --target linux-x64\`)`);
  const bundle = path.join(repoRoot, 'dist', 'extension.js');
  if (existsSync(bundle) && statSync(vsix).mtimeMs < statSync(bundle).mtimeMs) log(`warning: ${path.relative(repoRoot, vsix)} is older than dist/: npm run package to test the latest build`);
  const host = await provisionVscodeHost(path.join(repoRoot, '.cache', 'vscode-host'), log);
  rmSync(outputDir, { recursive: true, force: true });
  mkdirSync(outputDir, { recursive: true });

  const temp = mkdtempSync(path.join(os.tmpdir(), 'dimp-e2e-'));
  const dirs = Object.fromEntries(['home', 'tmp', 'server-data', 'user-data', 'extensions', 'workspace'].map((name) => [name, path.join(temp, name)]));
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });
  const holdFile = path.join(temp, 'hold-training');
  makeWorkspace(dirs.workspace);
  mkdirSync(path.join(dirs['user-data'], 'User'), { recursive: true });
  writeFileSync(
    path.join(dirs['user-data'], 'User', 'settings.json'),
    JSON.stringify(
      {
        'workbench.colorTheme': 'Default Dark Modern',
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'telemetry.telemetryLevel': 'off',
        'extensions.autoCheckUpdates': false,
        'chat.disableAIFeatures': true,
        'workbench.secondarySideBar.defaultVisibility': 'hidden',
      },
      null,
      2,
    ),
  );
  const env = {
    ...process.env,
    HOME: dirs.home,
    TMPDIR: dirs.tmp,
    XDG_CONFIG_HOME: path.join(dirs.home, '.config'),
    XDG_CACHE_HOME: path.join(dirs.home, '.cache'),
    XDG_DATA_HOME: path.join(dirs.home, '.local', 'share'),
    XDG_STATE_HOME: path.join(dirs.home, '.local', 'state'),
    XDG_RUNTIME_DIR: path.join(dirs.tmp, 'runtime'),
    ORT_DISABLE_TELEMETRY: '1',
    // The training worker's pause point (src/worker/trainingWorker.ts): no file, no hold.
    DIMP_CURATOR_TEST_HOLD_FILE: holdFile,
  };
  mkdirSync(env.XDG_RUNTIME_DIR, { mode: 0o700 });

  log('training earlier CE and IMP runs with the CLI');
  trainEarlierRuns(dirs.workspace, path.join(temp, 'cli-scores'), env);

  let server;
  let browser;
  let ok = false;
  const cspViolations = [];
  try {
    const port = await freePort();
    log(`starting the VS Code server on 127.0.0.1:${port}`);
    const serverLog = path.join(temp, 'server.log');
    const serverDirs = { serverData: dirs['server-data'], userData: dirs['user-data'], extensions: dirs.extensions, env, logFile: serverLog };
    const installed = await installExtension(host, vsix, `${manifest.publisher}.${manifest.name}-${manifest.version}`, serverDirs);
    log(`installed ${path.relative(repoRoot, vsix)} into ${path.relative(temp, installed)}`);
    server = await startVscodeServer(host, { port, serverData: dirs['server-data'], userData: dirs['user-data'], extensions: dirs.extensions, workspace: dirs.workspace, env, logFile: serverLog });

    const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(dirs.workspace)}`;
    browser = await launchChromium({ ...env });
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 }, colorScheme: 'dark' });
    page.on('console', (message) => {
      if (/Content[- ]Security[- ]Policy/i.test(message.text())) cspViolations.push(message.text());
    });
    log('opening the workbench');
    await page.goto(url);
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    await page.locator('.statusbar').waitFor({ timeout: 60_000 });

    await openFile(page, 'synthetic.jsonl');

    const panel = page.frameLocator('iframe.webview').frameLocator('iframe#active-frame');
    const points = async (card) => Number((await panel.locator(`#${card}-card`).getAttribute('data-points', { timeout: 2000 })) ?? 0);
    const phase = async () => panel.locator('body').getAttribute('data-phase', { timeout: 2000 });
    const train = async (title) => {
      log(`F1 → DIMP: ${title}`);
      await runCommand(page, `DIMP: ${title}`);
      const start = page.locator('.quick-input-list .monaco-list-row', { hasText: `Start ${title}` }).first();
      try {
        await start.waitFor({ state: 'visible', timeout: 20_000 });
      } catch {
        log('the training picker did not open; running the command once more');
        await page.keyboard.press('Escape');
        await runCommand(page, `DIMP: ${title}`);
        await start.waitFor({ state: 'visible', timeout: 30_000 });
      }
      const pickerText = await page.locator('.quick-input-list').innerText();
      assert(/Validation set: real_val\.jsonl/.test(pickerText) && /dimp\.config\.json/.test(pickerText), `the picker shows the config's datasets:\n${pickerText}`);
      assert(new RegExp(`Epochs: ${EPOCHS}`).test(pickerText), `the picker shows ${EPOCHS} epochs:\n${pickerText}`);
      await page.keyboard.press('Enter');
      await panel.locator('#loss-card').waitFor({ timeout: 60_000 });
    };

    // A first run, CE, cancelled from the panel once training is under way: the worker holds it after
    // epoch 3 (the pause point), so the click always lands mid-run, however fast the machine.
    const runsBefore = readdirSync(path.join(dirs.workspace, 'runs')).sort();
    writeFileSync(holdFile, '3');
    await train('Train Baseline (CE)');
    await waitFor('training to be under way', async () => (await phase()) === 'training' && (await points('accuracy')) >= 3, 180_000);
    const ceHeading = await panel.locator('#heading').innerText();
    assert(ceHeading === 'CE training', `the heading names the run's loss (${ceHeading})`);
    log('pressing Cancel in the panel');
    await panel.locator('#cancel').click();
    await waitFor('the run to be cancelled', async () => (await phase()) === 'cancelled', 60_000);
    assert(JSON.stringify(readdirSync(path.join(dirs.workspace, 'runs')).sort()) === JSON.stringify(runsBefore), 'the cancelled run left nothing in runs/');
    // Back to the editor (a click in the panel's page keeps the keyboard there).
    await page.locator('.tabs-container .tab', { hasText: 'synthetic.jsonl' }).click();

    // The second run is held a quarter of the way through for the mid-run checks and screenshots.
    const midEpoch = Math.max(5, Math.min(Math.floor(EPOCHS / 4), 60));
    writeFileSync(holdFile, String(midEpoch));
    await train('Train with DIMP');
    log('panel open; waiting for the charts to receive points while training');
    await waitFor('loss and accuracy points mid-run', async () => (await phase()) === 'training' && (await points('loss')) >= 5 && (await points('accuracy')) >= midEpoch, 180_000);
    const mid = { loss: await points('loss'), accuracy: await points('accuracy'), weights: await points('weights') };
    log(`mid-run: ${mid.loss} loss points, ${mid.accuracy} validation points, ${mid.weights} histograms`);
    assert((await phase()) === 'training', 'still training when the mid-run screenshot is taken');
    await page.screenshot({ path: path.join(outputDir, 'workbench-mid-run.png') });
    await page.locator('iframe.webview').first().screenshot({ path: path.join(outputDir, 'training-panel-mid-run.png') });
    // The task's terminal is open in the panel, named after the task.
    await page.locator('.part.panel').getByText('Train with DIMP: synthetic.jsonl').first().waitFor({ timeout: 10_000 });

    rmSync(holdFile);
    log('waiting for the run to finish');
    await waitFor('the run to finish', async () => {
      const now = await phase();
      if (now === 'failed') throw new Error(`the run failed: ${await panel.locator('#message').innerText()}`);
      return now === 'finished';
    }, 300_000);
    await panel.locator('#result').waitFor({ state: 'visible', timeout: 10_000 });
    const end = { loss: await points('loss'), accuracy: await points('accuracy'), weights: await points('weights') };
    log(`finished: ${end.loss} loss points, ${end.accuracy} validation points, ${end.weights} histograms`);
    assert(end.loss > mid.loss && end.accuracy >= mid.accuracy, 'the charts kept receiving points');
    assert(end.weights === EPOCHS, `one histogram per epoch (${end.weights} of ${EPOCHS})`);
    const heading = await panel.locator('#heading').innerText();
    assert(heading === 'DIMP training', `the heading names the run's loss (${heading})`);
    const testAccuracy = await panel.locator('#result-test').innerText();
    assert(/^\d+\.\d%$/.test(testAccuracy), `the result shows the test accuracy (${testAccuracy})`);
    const historyLosses = await panel.locator('#history-rows .loss').allInnerTexts();
    assert(historyLosses.join(' ') === 'DIMP IMP CE CE', `the runs table lists this run and the earlier ones, newest first (${historyLosses.join(' ')})`);
    // The comparison: per loss over seeds, each loss against CE paired by seed, the majority-class rate.
    const comparison = await panel.locator('#comparison-rows tr').allInnerTexts();
    assert(comparison.length === 3 && /^CE\s+1, 2\s+\d+\.\d% ± \d+\.\d/.test(comparison[0]), `CE over seeds 1 and 2 as mean ± sd (${comparison[0]})`);
    assert(/^DIMP\s+1\s+\d+\.\d%\s+\d+\.\d%\s+[+−]\d+\.\d \(1 seed: run more seeds to compare\)/.test(comparison[2]), `one DIMP seed is not called against CE (${comparison[2]})`);
    const note = await panel.locator('#comparison-note').innerText();
    assert(/most frequent class scores \d+\.\d%/.test(note), `the majority-class rate is shown (${note})`);
    assert((await panel.locator('#history-rows td.best').count()) === 0, 'no winner styling');
    assert((await panel.locator('#history-rows tr.current').count()) === 1, 'the runs table marks this run');
    const runDir = await panel.locator('#run-dir').innerText();
    assert(runDir.startsWith(path.join(dirs.workspace, 'runs')), `the run folder is in the workspace (${runDir})`);
    for (const file of ['metrics.json', 'weights.jsonl', 'config.json', 'train-log.jsonl', 'model/model.onnx', 'model/config.json']) {
      assert(existsSync(path.join(runDir, file)), `${file} in the run folder`);
    }
    // The run scored first into the editor's storage: the editor features pick the scores up (the
    // Problems panel counts the likely mislabelled rows).
    await waitFor('the Problems badge to count the scored rows', async () => Number(await page.locator('.part.panel .action-item', { hasText: 'Problems' }).locator('.badge-content').innerText({ timeout: 1000 })) > 0, 30_000);
    const leftovers = tree(dirs.workspace).filter((p) => /\.tmp-/.test(p));
    assert(leftovers.length === 0, `no temporary files left: ${leftovers.join(', ')}`);

    await page.screenshot({ path: path.join(outputDir, 'workbench-finished.png') });

    // The end state with the panel's group maximized, so that the screenshot shows the panel whole.
    // Keyboard first: once a click puts the focus inside the webview, F1 stays there.
    await runCommand(page, 'View: Hide Panel');
    await runCommand(page, 'View: Close Primary Side Bar');
    await runCommand(page, 'View: Single Column Editor Layout');
    // The review queue, highest weights first, and the checker diagnostics in a row's hover (README screenshots).
    log('the review queue, highest first, and the hover of its first row');
    await page.locator('.tabs-container .tab', { hasText: 'synthetic.jsonl' }).click();
    await runCommand(page, 'Focus on Review Queue View');
    // Room for the queue: the folder's file tree folded (best effort: only the screenshot depends on it).
    await page.locator('.pane-header[aria-expanded="true"]', { hasText: /^workspace$/i }).first().click({ timeout: 5000 }).catch(() => undefined);
    await runCommand(page, 'DIMP: Review Highest First');
    const queue = page.locator('.pane', { has: page.locator('.pane-header', { hasText: 'Review Queue' }) });
    // The tree draws its new rows a moment after the description changes: both are awaited.
    let queueRows = [];
    const highestFirst = async () => {
      if (!/highest IMP weight first/.test(await queue.locator('.pane-header').innerText({ timeout: 2000 }))) return false;
      queueRows = (await queue.locator('.monaco-list-row').allInnerTexts()).slice(0, 3);
      const weights = queueRows.map((text) => Number(/w ([\d.e+-]+)/.exec(text)?.[1]));
      return weights.length === 3 && weights.every((w, i) => Number.isFinite(w) && (i === 0 || w <= weights[i - 1])) && weights[0] > weights[2];
    };
    await waitFor('the review queue to list rows highest weight first', highestFirst, 60_000);
    log(`review queue: ${queueRows.join(' | ')}`);
    await queue.locator('.monaco-list-row').first().click();
    // The click reveals the row's line in the editor; the hover there shows the same weight.
    const topWeight = /w ([\d.e+-]+)/.exec(queueRows[0])[1];
    const hover = page.locator('.monaco-hover').filter({ hasText: 'Quality checker:' }).first();
    await waitFor(`the hover of the revealed row (w ${topWeight})`, async () => {
      await page.keyboard.press('Escape');
      await page.locator('.tabs-container .tab', { hasText: 'synthetic.jsonl' }).click();
      await runCommand(page, 'Show or Focus Hover');
      await hover.waitFor({ state: 'visible', timeout: 5000 });
      return (await hover.innerText()).includes(`IMP weight ${topWeight}`);
    }, 60_000);
    const hoverText = await hover.innerText();
    assert(/IMP weight/.test(hoverText) && /accuracy/.test(hoverText) && /majority/.test(hoverText), `the hover shows the row's weights and the checker's diagnostics:\n${hoverText}`);
    await sleep(300);
    await page.screenshot({ path: path.join(outputDir, 'review-queue.png') });
    // The hover's footer: the checkers' diagnostics (the pointer on the hover keeps it open; the wheel scrolls it).
    const hoverBox = await hover.boundingBox();
    await hover.hover();
    for (let i = 0; i < 10; i++) {
      await page.mouse.wheel(0, 300);
      await sleep(50);
    }
    await sleep(300);
    if (hoverBox) await page.screenshot({ path: path.join(outputDir, 'checker-diagnostics.png'), clip: { x: Math.max(0, hoverBox.x - 8), y: Math.max(0, hoverBox.y - 8), width: hoverBox.width + 16, height: hoverBox.height + 16 } });
    await page.keyboard.press('Escape');
    await runCommand(page, 'View: Close Primary Side Bar');
    await page.locator('.tabs-container .tab', { hasText: 'DIMP Training' }).click();
    // Shown again, the page is rebuilt from the state the host re-sends.
    await waitFor('the panel to be drawn again', async () => (await phase()) === 'finished' && (await points('loss')) === end.loss, 30_000);
    await panel.locator('#result').waitFor({ state: 'visible', timeout: 10_000 });
    await sleep(500);
    // Cropped to the page's content, for the README.
    const box = await page.locator('iframe.webview').first().boundingBox();
    const contentHeight = await panel.locator('body').evaluate((body) => body.scrollHeight);
    await page.screenshot({ path: path.join(outputDir, 'training-panel-finished.png'), clip: { ...box, height: Math.min(box.height, contentHeight + 8) } });

    log('reloading the window: the panel comes back with its state');
    await page.reload();
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    // The restored tab: VS Code revives the panel through the extension's serializer when it is shown.
    const restoredTab = page.locator('.tabs-container .tab', { hasText: 'DIMP Training' });
    await restoredTab.waitFor({ timeout: 60_000 });
    await restoredTab.click();
    await waitFor('the revived panel to show the finished run', async () => (await phase()) === 'finished' && (await points('loss')) === end.loss, 60_000);
    assert((await panel.locator('#run-dir').innerText()) === runDir, 'the revived panel links the same run folder');

    // Scoring a file whose project names no real set asks for one once: the picked file is remembered for
    // that file, so scoring it again starts at once, and the training picker shows it as last used.
    log('scoring other/generated.jsonl: the real set is asked for once');
    await runCommand(page, 'Notifications: Clear All Notifications');
    await openFile(page, 'generated.jsonl');
    await runCommand(page, 'DIMP: Score Synthetic Data');
    await page.locator('.quick-input-widget', { hasText: 'the quality checker needs real data' }).waitFor({ state: 'visible', timeout: 30_000 });
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Real labelled data' }).first().click();
    // No native dialogs in the browser: VS Code's own file dialog, a quick input that takes a typed path.
    const dialog = page.locator('.quick-input-widget').filter({ has: page.locator('.quick-input-title', { hasText: /^Real labelled data$/ }) });
    await dialog.waitFor({ state: 'visible', timeout: 30_000 });
    const realPath = path.join(dirs.workspace, 'real_train.jsonl');
    // The dialog fills its input with the folder once it has read it; the path is typed over that.
    const dialogInput = dialog.locator('input');
    await waitFor('the file dialog to show its folder', async () => (await dialogInput.inputValue({ timeout: 2000 })).endsWith('/'), 30_000);
    await waitFor('the file dialog to hold the typed path', async () => {
      await dialogInput.fill(realPath, { timeout: 2000 });
      await sleep(200);
      return (await dialogInput.inputValue({ timeout: 2000 })) === realPath;
    }, 30_000);
    await waitFor('the file dialog to accept the typed path', async () => {
      if (await dialog.isVisible()) await dialog.locator('.monaco-button', { hasText: 'OK' }).click({ timeout: 2000 });
      return !(await dialog.isVisible());
    }, 30_000);
    const scored = /scored \d+ rows of generated\.jsonl/;
    log(`first scoring: ${await waitForNotification(page, 'the first scoring of generated.jsonl to finish', scored, 180_000)}`);
    await runCommand(page, 'Notifications: Clear All Notifications');
    // The first scoring's notification gone, so that only the second one can satisfy the wait below.
    await waitFor('the notifications to be cleared', async () => {
      const texts = await page.locator('.notifications-center .notification-list-item-message').allInnerTexts();
      return !texts.some((text) => scored.test(text));
    }, 30_000);
    await page.keyboard.press('Escape');
    await page.locator('.tabs-container .tab', { hasText: 'generated.jsonl' }).click();
    log('scoring generated.jsonl again: no question, the remembered real set is used');
    await runCommand(page, 'DIMP: Score Synthetic Data');
    // Scoring cannot start before the question is answered: a finished second scoring proves none was asked.
    log(`second scoring: ${await waitForNotification(page, 'the second scoring of generated.jsonl to finish without a question', scored, 180_000)}`);
    await page.keyboard.press('Escape');
    await page.locator('.tabs-container .tab', { hasText: 'generated.jsonl' }).click();
    await runCommand(page, 'DIMP: Train with DIMP');
    const realRow = page.locator('.quick-input-list .monaco-list-row', { hasText: 'Real set for scoring' }).first();
    await realRow.waitFor({ state: 'visible', timeout: 30_000 });
    const realText = await realRow.innerText();
    assert(/Real set for scoring: real_train\.jsonl/.test(realText) && /last used/.test(realText), `the training picker shows the real set scoring remembered:\n${realText}`);
    await page.keyboard.press('Escape');

    assert(cspViolations.length === 0, `no Content-Security-Policy violations:\n${cspViolations.join('\n')}`);
    log(`screenshots in ${path.relative(repoRoot, outputDir)}/: ${readdirSync(outputDir).join(', ')}`);
    ok = true;
  } catch (error) {
    console.error(`e2e: ${error.message}`);
    if (browser) {
      const pages = browser.contexts().flatMap((c) => c.pages());
      await pages[0]?.screenshot({ path: path.join(outputDir, 'failure.png') }).catch(() => undefined);
    }
    const logs = [];
    const walk = (d) => {
      for (const entry of existsSync(d) ? readdirSync(d, { withFileTypes: true }) : []) {
        const p = path.join(d, entry.name);
        if (entry.isDirectory()) walk(p);
        else if (/exthost\.log$|server\.log$/.test(entry.name)) logs.push(p);
      }
    };
    walk(temp);
    for (const file of logs.sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs).slice(-2)) {
      console.error(`--- last lines of ${path.relative(temp, file)} ---\n${readFileSync(file, 'utf8').split('\n').slice(-30).join('\n')}`);
    }
  } finally {
    await browser?.close().catch(() => undefined);
    await stopProcessGroup(server);
    if (process.env.DIMP_KEEP_TEST_FOLDER === '1') log(`kept ${temp}`);
    else rmSync(temp, { recursive: true, force: true, maxRetries: 3 });
  }
  console.log(ok ? '1 passed, 0 failed' : '0 passed, 1 failed');
  process.exitCode = ok ? 0 : 1;
}

main().catch((error) => {
  console.error(error.stack ?? String(error));
  process.exitCode = 1;
});
