'use strict';
// The README's Node.js set-ups, run as written: each ```js block of the three "Pointing ... at
// coffer" sections is saved as an ES module next to this suite's node_modules and run with
// `node` against a fresh server, with only the port changed and the credentials in the
// environment (AK, SK, PROJECT_ID), as a reader would export them. Each stores "s3cret" as "db"
// and prints it back.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { startCoffer } = require('../lib/coffer');

const README = path.resolve(__dirname, '..', '..', '..', 'README.md');
const SECTIONS = [
  "## Pointing Alibaba's SDKs at coffer",
  "## Pointing Tencent's SDK and tccli at coffer",
  "## Pointing Huawei's SDK at coffer",
];

function jsBlocks(heading) {
  const text = fs.readFileSync(README, 'utf8');
  const start = text.indexOf(heading);
  assert.ok(start >= 0, `README has no section ${heading}`);
  const end = text.indexOf('\n## ', start + 1);
  const section = text.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
}

function run(file, env) {
  return new Promise((resolve) => {
    execFile(process.execPath, [file], { env, timeout: 60000 }, (error, stdout, stderr) => {
      resolve({ code: error ? error.code ?? 1 : 0, stdout, stderr });
    });
  });
}

for (const heading of SECTIONS) {
  test(`the Node.js snippet of "${heading.slice(3)}" works as written`, async () => {
    const blocks = jsBlocks(heading);
    assert.equal(blocks.length, 1, 'one Node.js block per cloud');
    const srv = await startCoffer();
    // Inside clients/node, so that its imports resolve to this suite's node_modules.
    const dir = fs.mkdtempSync(path.join(__dirname, '..', '.readme-'));
    try {
      assert.ok(blocks[0].includes('127.0.0.1:7080'), 'the snippet uses the default endpoint');
      const file = path.join(dir, 'snippet.mjs');
      fs.writeFileSync(file, blocks[0].replaceAll('127.0.0.1:7080', `127.0.0.1:${srv.port}`));
      const env = { PATH: process.env.PATH, AK: srv.ak, SK: srv.sk, PROJECT_ID: srv.projectId };
      const r = await run(file, env);
      assert.equal(r.code, 0, `the snippet failed:\n${r.stdout}\n${r.stderr}`);
      assert.equal(r.stdout.trim(), 's3cret');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      await srv.stop();
    }
  });
}
