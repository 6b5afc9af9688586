'use strict';
// Starts the real `coffer` binary for one test file, as clients/conftest.py does for the Python
// suites: a fresh data dir, a free port on 127.0.0.1, the bootstrap access key (and Huawei
// project id) from the environment, and with COFFER_TEST_DATABASE_URL a throwaway PostgreSQL
// database. At the end the server is stopped with SIGTERM and its log and data dir are checked:
// no panic, no secret value (SENTINEL) or secret key in the log, no value in plaintext on disk.

const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const dns = require('node:dns');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..', '..');

// A distinctive marker put in secret values; it must never show up in the server's log or in
// plaintext in its files.
const SENTINEL = 'cofferNodeSentinel' + crypto.randomBytes(8).toString('hex');

// Host names under this suffix resolve to 127.0.0.1 in the test processes only, so the suite
// can use the "host name with a port" endpoint form (`ssm.coffer.test:PORT`) without an
// /etc/hosts entry. Node resolves `*.localhost` through the system resolver, which does not
// know them here; the SDKs' own code (URL parsing, Host header, signing) runs unchanged, only
// the address lookup underneath is answered here.
const TEST_DOMAIN = '.coffer.test';
const systemLookup = dns.lookup;
dns.lookup = function lookup(hostname, options, callback) {
  if (typeof hostname === 'string' && hostname.toLowerCase().endsWith(TEST_DOMAIN)) {
    hostname = '127.0.0.1';
  }
  return systemLookup.call(this, hostname, options, callback);
};

function cofferBinary() {
  const bin = process.env.COFFER_BIN || path.join(REPO, 'target', 'release', 'coffer');
  try {
    fs.accessSync(bin, fs.constants.X_OK);
  } catch {
    throw new Error(`coffer binary not found at ${bin} (build it, or set COFFER_BIN)`);
  }
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

// `postgres://user@host:port` of the test PostgreSQL server, or null when not asked for.
function pgServer() {
  const url = (process.env.COFFER_TEST_DATABASE_URL || '').trim();
  if (!url) return null;
  const u = new URL(url);
  return `${u.protocol}//${u.username ? u.username + '@' : ''}${u.host}`;
}

function psql(database, sql) {
  execFileSync('psql', ['-d', `${pgServer()}/${database}`, '-v', 'ON_ERROR_STOP=1', '-qAt', '-c', sql], {
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60000,
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

function randomHex(bytes) {
  return crypto.randomBytes(bytes).toString('hex');
}

async function waitReady(port, proc, logPath, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && proc.exitCode === null) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  proc.kill('SIGKILL');
  const log = fs.existsSync(logPath) ? fs.readFileSync(logPath, 'utf8') : '';
  throw new Error(`coffer did not become ready (exit code ${proc.exitCode}). Log:\n${log.slice(-6000)}`);
}

/**
 * Starts a server, with `extraArgs` after `serve`'s own. Returns {port, endpoint
 * ('127.0.0.1:PORT'), base ('http://127.0.0.1:PORT'), ak, sk, projectId, logText(), stop()};
 * stop() resolves to nothing and throws when the server misbehaved.
 */
async function startCoffer(extraArgs = []) {
  const bin = cofferBinary();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coffer-node-'));
  const dataDir = path.join(dir, 'data');
  const logPath = path.join(dir, 'coffer.log');
  const port = await freePort();
  const ak = 'NODE' + randomHex(8).toUpperCase();
  const sk = crypto.randomBytes(24).toString('base64url');
  const projectId = randomHex(16);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('COFFER_')));
  Object.assign(env, {
    COFFER_BOOTSTRAP_ACCESS_KEY_ID: ak,
    COFFER_BOOTSTRAP_ACCESS_KEY_SECRET: sk,
    COFFER_BOOTSTRAP_HUAWEI_PROJECT_ID: projectId,
    RUST_BACKTRACE: '1',
  });
  let database = null;
  if (pgServer()) {
    database = 'coffer_test_' + randomHex(16);
    psql('postgres', `CREATE DATABASE ${database}`);
    env.COFFER_DATABASE_URL = `${pgServer()}/${database}`;
  }
  const log = fs.openSync(logPath, 'a');
  const proc = spawn(bin, ['serve', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, ...extraArgs], {
    env,
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  const logText = () => (fs.existsSync(logPath) ? fs.readFileSync(logPath, 'utf8') : '');
  try {
    await waitReady(port, proc, logPath);
  } catch (e) {
    if (database) psql('postgres', `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    throw e;
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
    if (text.includes(Buffer.from(SENTINEL).toString('base64').slice(0, 24))) {
      problems.push('the server log contains a binary secret value');
    }
    if (text.includes(sk)) problems.push('the server log contains the access key secret');
    const plain = filesContaining(dataDir, Buffer.from(SENTINEL));
    if (plain.length) problems.push(`secret values stored in plaintext in ${plain.join(', ')}`);
    if (database) {
      const dump = execFileSync('pg_dump', ['--data-only', '-d', `${pgServer()}/${database}`], {
        maxBuffer: 1 << 30,
      });
      if (dump.includes(SENTINEL) || dump.includes(Buffer.from(SENTINEL).toString('hex'))) {
        problems.push('secret values stored in plaintext in the PostgreSQL store');
      }
      psql('postgres', `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    }
    if (problems.length) {
      throw new Error(problems.join('; ') + '\n--- server log (tail) ---\n' + text.slice(-8000));
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }

  return { port, endpoint: `127.0.0.1:${port}`, base: `http://127.0.0.1:${port}`, ak, sk, projectId, logText, stop };
}

/** A fresh name: letters, digits and '-'. */
function unique(prefix = 'node') {
  return `${prefix}-${randomHex(6)}`;
}

/** A text value with the sentinel and characters that are awkward on the wire. */
function textValue(tag = 'v') {
  return `${SENTINEL} ${tag} a+b*c~d %2B &x=y;é€😀\n\t"q' 中文 ${randomHex(4)}`;
}

/** Random bytes prefixed with the sentinel (for binary secrets). */
function binaryValue() {
  return Buffer.concat([Buffer.from(SENTINEL), crypto.randomBytes(16), Buffer.from([0, 1, 2, 0xfe, 0xff])]);
}

/** Awaits `promise` and checks that it failed with `check(err)` returning true; returns the error. */
async function rejects(promise, check, what) {
  let err = null;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `${what}: expected an error, but the call succeeded`);
  assert.ok(check(err), `${what}: unexpected error ${JSON.stringify(describeError(err))}`);
  return err;
}

function describeError(e) {
  const out = {};
  for (const k of ['name', 'code', 'message', 'statusCode', 'httpCode', 'status', 'errorCode', 'errorMsg', 'httpStatusCode']) {
    if (e && e[k] !== undefined) out[k] = String(e[k]).slice(0, 300);
  }
  return out;
}

module.exports = {
  SENTINEL,
  TEST_DOMAIN,
  binaryValue,
  describeError,
  rejects,
  startCoffer,
  textValue,
  unique,
};
