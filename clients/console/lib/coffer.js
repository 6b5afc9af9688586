'use strict';
// Starts the real `coffer` binary for the console suite: a fresh data dir, a free port on
// 127.0.0.1, a known bootstrap access key, and extra `serve` flags. stop() sends SIGTERM and
// checks the log: no panic, no secret value (SENTINEL) and no access key secret in it, and no
// value in plaintext in the data dir.

const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..', '..');
const SENTINEL = 'cofferConsoleSentinel' + crypto.randomBytes(8).toString('hex');

function cofferBinary() {
  const bin = process.env.COFFER_BIN || path.join(REPO, 'target', 'release', 'coffer');
  fs.accessSync(bin, fs.constants.X_OK);
  return bin;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function filesContaining(root, needle) {
  const hits = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile() && fs.readFileSync(p).includes(needle)) hits.push(p);
    }
  };
  walk(root);
  return hits;
}

async function startCoffer(extraArgs = []) {
  const bin = cofferBinary();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coffer-console-'));
  const dataDir = path.join(dir, 'data');
  const logPath = path.join(dir, 'coffer.log');
  const port = await freePort();
  const ak = 'CONSOLE' + crypto.randomBytes(6).toString('hex').toUpperCase();
  const sk = crypto.randomBytes(24).toString('base64url');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('COFFER_')));
  Object.assign(env, {
    COFFER_BOOTSTRAP_ACCESS_KEY_ID: ak,
    COFFER_BOOTSTRAP_ACCESS_KEY_SECRET: sk,
    RUST_BACKTRACE: '1',
  });
  const log = fs.openSync(logPath, 'a');
  const proc = spawn(bin, ['serve', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, ...extraArgs], {
    env,
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  const logText = () => (fs.existsSync(logPath) ? fs.readFileSync(logPath, 'utf8') : '');
  const deadline = Date.now() + 60000;
  for (;;) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`coffer did not start. Log:\n${logText().slice(-4000)}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  async function stop() {
    const problems = [];
    if (proc.exitCode !== null) {
      problems.push(`coffer exited on its own with code ${proc.exitCode}`);
    } else {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15000);
      const code = await exited;
      clearTimeout(timer);
      if (code !== 0) problems.push(`coffer stopped with exit code ${code} after SIGTERM`);
    }
    const text = logText();
    if (/panicked|\bpanic\b/i.test(text)) problems.push('the server log contains a panic');
    if (text.includes(SENTINEL)) problems.push('the server log contains a secret value');
    if (text.includes(sk)) problems.push('the server log contains the access key secret');
    const plain = filesContaining(dataDir, Buffer.from(SENTINEL));
    if (plain.length) problems.push(`secret values stored in plaintext in ${plain.join(', ')}`);
    if (problems.length) {
      throw new Error(problems.join('; ') + '\n--- server log (tail) ---\n' + text.slice(-8000));
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }

  return { port, base: `http://127.0.0.1:${port}`, ak, sk, logText, stop };
}

module.exports = { SENTINEL, startCoffer };
