// Runs the extension-host tests in a real VS Code: starts the VS Code server (from code-server, provisioned
// by vscodeHost.mjs) on 127.0.0.1 with this folder as the extension under development, opens the workbench
// in headless Chromium (which starts the extension host), and waits for the tests' run() to write its
// results. Prints one line per test and a closing `N passed, N failed`; exits non-zero on any failure or
// on a timeout. Everything it starts is stopped by PID; its HOME, XDG folders and TMPDIR are a temporary
// folder that is removed afterwards (kept with DIMP_KEEP_TEST_FOLDER=1).
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHROMIUM, freePort, launchChromium, provisionVscodeHost, startVscodeServer, stopProcessGroup } from './vscodeHost.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
// No progress for this long (no test reported since the workbench opened or since the last test) fails the
// run. It is not a limit on the whole run: provisioning and a busy machine only make it longer.
const IDLE_TIMEOUT_MS = Number(process.env.DIMP_EXTENSION_TEST_TIMEOUT_MS ?? 5 * 60_000);
const started = Date.now();
const log = (message) => console.log(`[extension tests ${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${message}`);


const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));


/** Files under `dir` whose name ends in `suffix`, newest last. */
function findFiles(dir, suffix) {
  const found = [];
  const walk = (d) => {
    for (const entry of existsSync(d) ? readdirSync(d, { withFileTypes: true }) : []) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.name.endsWith(suffix)) found.push(p);
    }
  };
  walk(dir);
  return found.sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs);
}

/** Copies the bundled sample into a fresh workspace with a dimp.config.json. */
function makeWorkspace(dir) {
  mkdirSync(dir, { recursive: true });
  for (const name of ['synthetic.jsonl', 'real_train.jsonl', 'real_val.jsonl', 'real_test.jsonl', 'dimp.config.json']) {
    cpSync(path.join(repoRoot, 'sample', name), path.join(dir, name));
  }
  mkdirSync(path.join(dir, '.vscode'));
  writeFileSync(path.join(dir, '.vscode', 'settings.json'), JSON.stringify({ 'files.autoSave': 'off' }, null, 2));
}

/** Stops a process started with `detached: true` and the process group it leads (the server's extension host). */

async function main() {
  const extensionTests = path.join(repoRoot, 'out', 'test', 'extension', 'suite', 'index.js');
  for (const required of [path.join(repoRoot, 'dist', 'extension.js'), path.join(repoRoot, 'dist', 'scoringWorker.js'), path.join(repoRoot, 'dist', 'trainingWorker.js'), extensionTests]) {
    if (!existsSync(required)) throw new Error(`${path.relative(repoRoot, required)} is missing: run npm run compile and npm run build first`);
  }
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is not at ${CHROMIUM}: run npm run setup (it installs Debian's chromium) or set DIMP_CHROMIUM to a Chromium binary`);
  }
  const host = await provisionVscodeHost(path.join(repoRoot, '.cache', 'vscode-host'), log);

  const temp = mkdtempSync(path.join(os.tmpdir(), 'dimp-exthost-'));
  const dirs = {
    home: path.join(temp, 'home'),
    tmp: path.join(temp, 'tmp'),
    serverData: path.join(temp, 'server-data'),
    userData: path.join(temp, 'user-data'),
    extensions: path.join(temp, 'extensions'),
    workspace: path.join(temp, 'workspace'),
  };
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });
  makeWorkspace(dirs.workspace);
  mkdirSync(path.join(dirs.userData, 'User'), { recursive: true });
  writeFileSync(
    path.join(dirs.userData, 'User', 'settings.json'),
    JSON.stringify({ 'workbench.startupEditor': 'none', 'telemetry.telemetryLevel': 'off', 'extensions.autoCheckUpdates': false, 'workbench.tips.enabled': false }, null, 2),
  );
  const resultsFile = path.join(temp, 'results.jsonl');
  const port = await freePort();
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
    DIMP_TEST_RESULTS: resultsFile,
    DIMP_TEST_WORKSPACE: dirs.workspace,
  };
  mkdirSync(env.XDG_RUNTIME_DIR, { mode: 0o700 });

  let server;
  let browser;
  // Ctrl-C or a CI timeout: stop what was started (the server runs in its own process group) before exiting.
  const onSignal = (signal) => {
    log(`${signal}: stopping the VS Code server and the browser`);
    Promise.allSettled([browser?.close(), stopProcessGroup(server, (error) => log(`could not signal the VS Code server (pid ${server.pid}): ${error.message}`))]).finally(() => {
      rmSync(temp, { recursive: true, force: true, maxRetries: 3 });
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let passed = 0;
  let failed = 0;
  let finished = false;
  try {
    log(`starting the VS Code server on 127.0.0.1:${port}`);
    const serverLog = path.join(temp, 'server.log');
    server = await startVscodeServer(host, { port, serverData: dirs.serverData, userData: dirs.userData, extensions: dirs.extensions, workspace: dirs.workspace, env, logFile: serverLog });

    const remote = (p) => `vscode-remote://127.0.0.1:${port}${p}`;
    const payload = JSON.stringify([
      ['extensionDevelopmentPath', remote(repoRoot)],
      ['extensionTestsPath', remote(extensionTests)],
    ]);
    const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(dirs.workspace)}&payload=${encodeURIComponent(payload)}`;
    log('opening the workbench in headless Chromium; the extension host runs the tests');
    browser = await launchChromium({ ...env, HOME: dirs.home });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on('pageerror', (error) => log(`workbench error: ${error.message}`));
    await page.goto(url);

    // The tests append one JSON line per test, then {"type":"end"}.
    let reported = 0;
    let deadline = Date.now() + IDLE_TIMEOUT_MS;
    while (!finished) {
      if (Date.now() > deadline) throw new Error(`no extension-host test reported for ${(IDLE_TIMEOUT_MS / 1000).toFixed(0)} s`);
      if (server.exitCode !== null) throw new Error(`the VS Code server exited with ${server.exitCode} during the tests`);
      const lines = existsSync(resultsFile) ? readFileSync(resultsFile, 'utf8').split('\n').filter(Boolean) : [];
      for (const line of lines.slice(reported)) {
        deadline = Date.now() + IDLE_TIMEOUT_MS;
        const event = JSON.parse(line);
        if (event.type === 'test') {
          if (event.ok) passed += 1;
          else failed += 1;
          log(`${event.ok ? 'ok  ' : 'FAIL'} ${event.name} (${event.ms} ms)${event.ok ? '' : `\n${event.error.replace(/^/gm, '       ')}`}`);
        } else if (event.type === 'screenshot-request') {
          await page.screenshot({ path: event.path });
          writeFileSync(`${event.path}.done`, '');
        } else if (event.type === 'end') {
          finished = true;
        }
      }
      reported = lines.length;
      await sleep(200);
    }
  } catch (error) {
    failed += 1;
    console.error(`extension tests: ${error.message}`);
    const hostLogs = [...findFiles(temp, 'remoteexthost.log'), ...findFiles(temp, 'DIMP Curator.log'), ...findFiles(temp, 'server.log')];
    for (const file of hostLogs) {
      console.error(`--- last lines of ${path.relative(temp, file)} ---\n${readFileSync(file, 'utf8').split('\n').slice(-40).join('\n')}`);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await browser?.close().catch(() => undefined);
    await stopProcessGroup(server, (error) => log(`could not signal the VS Code server (pid ${server.pid}): ${error.message}`));
    if (process.env.DIMP_KEEP_TEST_FOLDER === '1') log(`kept ${temp}`);
    else rmSync(temp, { recursive: true, force: true, maxRetries: 3 });
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed > 0 || !finished ? 1 : 0;
}

main().catch((error) => {
  console.error(error.stack ?? String(error));
  console.log('0 passed, 1 failed');
  process.exitCode = 1;
});
