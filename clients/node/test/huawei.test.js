'use strict';
// Huawei Cloud's Node.js SDK core (@huaweicloud/huaweicloud-sdk-core), unmodified, driving CSMS v1
// and KMS v1.0 with each operation as the service packages define it (lib/huawei.js), at the
// endpoint forms a user types. The core signs a path it already escaped once more (a tag key
// `two words` is signed as `two%2520words`), which coffer accepts as that SDK's signing form
// (DESIGN.md, "Signing forms of the SDKs").

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { huaweiClient } = require('../lib/huawei');
const { binaryValue, rejects, startCoffer, textValue, unique } = require('../lib/coffer');

let srv;
before(async () => {
  srv = await startCoffer();
});
after(async () => {
  await srv.stop();
});

function endpoints() {
  return [`http://127.0.0.1:${srv.port}`, `http://localhost:${srv.port}`, `http://csms.coffer.test:${srv.port}`];
}

function client(endpoint, sk = srv.sk) {
  return huaweiClient(endpoint, srv.ak, sk, srv.projectId);
}

const hw = (status, code) => (e) => e.httpStatusCode === status && e.errorCode === code;
const name = () => unique('hw').replace(/-/g, '_');

for (const form of ['127.0.0.1', 'localhost', 'csms.coffer.test']) {
  test(`the whole secret lifecycle at ${form}:PORT`, async () => {
    const c = client(endpoints().find((e) => e.includes(`//${form}:`)));
    const n = name();
    const v1 = textValue('v1');
    const { secret } = await c.createSecret({ body: { name: n, secret_string: v1, description: 'first' } });
    assert.equal(secret.name, n);
    assert.equal(secret.state, 'ENABLED');

    // Read by version and by stage.
    assert.equal((await c.showSecretVersion({ secret_name: n, version_id: 'v1' })).version.secret_string, v1);
    const v2 = textValue('v2');
    const made = await c.createSecretVersion({ secret_name: n, body: { secret_string: v2 } });
    assert.equal(made.version_metadata.id, 'v2');
    assert.equal((await c.showSecretVersion({ secret_name: n, version_id: 'latest' })).version.secret_string, v2);
    assert.equal((await c.showSecretStage({ secret_name: n, stage_name: 'SYSCURRENT' })).stage.version_id, 'v2');
    assert.equal((await c.showSecretStage({ secret_name: n, stage_name: 'SYSPREVIOUS' })).stage.version_id, 'v1');

    // A custom stage, moved and removed.
    await c.updateSecretStage({ secret_name: n, stage_name: 'blue', body: { version_id: 'v1' } });
    assert.equal((await c.showSecretStage({ secret_name: n, stage_name: 'blue' })).stage.version_id, 'v1');
    await c.deleteSecretStage({ secret_name: n, stage_name: 'blue' });
    await rejects(c.showSecretStage({ secret_name: n, stage_name: 'blue' }), hw(404, 'CSMS.0005'), 'removed stage');

    // Versions page by page.
    const p1 = await c.listSecretVersions({ secret_name: n, limit: 1 });
    assert.equal(p1.version_metadatas.length, 1);
    const p2 = await c.listSecretVersions({ secret_name: n, limit: 1, marker: p1.page_info.next_marker });
    assert.deepEqual([p1, p2].map((p) => p.version_metadatas[0].id).sort(), ['v1', 'v2']);

    // Describe and update.
    await c.updateSecret({ secret_name: n, body: { description: 'second' } });
    const shown = (await c.showSecret({ secret_name: n })).secret;
    assert.equal(shown.description, 'second');

    // Tags, with keys that need escaping in the path: the delete is what the Node SDK signs
    // with the path escaped twice.
    const keys = ['two words', 'é ü', 'k 中', 'x:y@z=+', 'plain'];
    for (const key of keys) {
      await c.createSecretTag({ secret_id: secret.id, body: { tag: { key, value: 'v' } } });
    }
    let tags = (await c.listSecretTags({ secret_id: secret.id })).tags.map((t) => t.key).sort();
    assert.deepEqual(tags, [...keys].sort());
    for (const key of keys) {
      await c.deleteSecretTag({ secret_id: secret.id, key });
    }
    tags = (await c.listSecretTags({ secret_id: secret.id })).tags;
    assert.deepEqual(tags, []);

    // Delete with a window, restore, forced delete, then not found.
    const pending = (await c.deleteSecretForSchedule({ secret_name: n, body: { recovery_window_in_days: 7 } })).secret;
    assert.equal(pending.state, 'PENDING_DELETE');
    assert.ok(pending.scheduled_delete_time > Date.now() + 6 * 86400e3);
    await rejects(c.showSecretVersion({ secret_name: n, version_id: 'latest' }), (e) => e.httpStatusCode === 400, 'read while pending');
    assert.equal((await c.restoreSecret({ secret_name: n })).secret.state, 'ENABLED');
    assert.equal((await c.showSecretVersion({ secret_name: n, version_id: 'latest' })).version.secret_string, v2);
    await c.deleteSecret({ secret_name: n });
    await rejects(c.showSecret({ secret_name: n }), hw(404, 'CSMS.0106'), 'show after delete');
    await rejects(c.showSecretVersion({ secret_name: n, version_id: 'v1' }), hw(404, 'CSMS.0106'), 'read after delete');
  });
}

test('listSecrets pages with limit and marker', async () => {
  const c = client(endpoints()[0]);
  const made = [];
  for (let i = 0; i < 5; i++) {
    const n = name();
    made.push(n);
    await c.createSecret({ body: { name: n, secret_string: 'x' } });
  }
  const seen = [];
  let marker;
  for (let i = 0; i < 1000; i++) {
    const page = await c.listSecrets({ limit: 2, marker });
    assert.ok(page.secrets.length <= 2);
    seen.push(...page.secrets.map((s) => s.name));
    marker = page.page_info.next_marker;
    if (!marker) break;
  }
  for (const n of made) assert.ok(seen.includes(n), `${n} listed`);
  assert.equal(new Set(seen).size, seen.length, 'no secret listed twice');
});

test('a binary and a Unicode value round-trip', async () => {
  for (const endpoint of endpoints()) {
    const c = client(endpoint);
    const n = name();
    const bin = binaryValue();
    await c.createSecret({ body: { name: n, secret_binary: bin.toString('base64') } });
    const got = (await c.showSecretVersion({ secret_name: n, version_id: 'v1' })).version;
    assert.deepEqual(Buffer.from(got.secret_binary, 'base64'), bin);
    const text = textValue('ünï') + ' 𝄞 مرحبا';
    await c.createSecretVersion({ secret_name: n, body: { secret_string: text } });
    assert.equal((await c.showSecretVersion({ secret_name: n, version_id: 'v2' })).version.secret_string, text);
  }
});

test('a bad parameter is refused naming the field', async () => {
  const c = client(endpoints()[1]);
  const err = await rejects(
    c.createSecret({ body: { name: 'bad name!', secret_string: 'x' } }),
    (e) => e.httpStatusCode === 400 && /^CSMS\./.test(e.errorCode),
    'bad name',
  );
  assert.match(err.errorMsg, /name/);
  const err2 = await rejects(
    c.deleteSecretForSchedule({ secret_name: name(), body: { recovery_window_in_days: 'soon' } }),
    (e) => e.httpStatusCode === 400 || e.httpStatusCode === 404,
    'bad window',
  );
  assert.ok(err2.errorCode);
});

test('a wrong secret key is refused at every endpoint form', async () => {
  for (const endpoint of endpoints()) {
    await rejects(client(endpoint, srv.sk + 'x').listSecrets({}), hw(401, 'APIGW.0301'), `wrong key at ${endpoint}`);
    // The same for a request whose path the Node SDK escapes twice.
    await rejects(
      client(endpoint, srv.sk + 'x').deleteSecretTag({ secret_id: '00000000-0000-0000-0000-000000000000', key: 'two words' }),
      hw(401, 'APIGW.0301'),
      `wrong key, escaped path, at ${endpoint}`,
    );
  }
});

// KMS wraps its errors as {"error": {"error_code", "error_msg"}}; the Node core reads `error.code`
// or a top-level `error_code` (exception/ExceptionUtil.js), so it reports KMS errors by status
// alone, as it does against Huawei. The status is what these checks can see.
const kmsRefused = (e) => e.httpStatusCode === 400;

test('a KMS key, encrypt-data and decrypt-data under additional authenticated data', async () => {
  for (const endpoint of endpoints()) {
    const c = client(endpoint);
    const alias = unique('k').replace(/-/g, '_');
    const key = (await c.createKey({ body: { key_alias: alias, key_description: 'node' } })).key_info;
    const detail = (await c.listKeyDetail({ body: { key_id: key.key_id } })).key_info;
    assert.equal(detail.key_alias, alias);
    assert.equal(detail.key_state, '2');
    const text = textValue('kms');
    const enc = await c.encryptData({ body: { key_id: key.key_id, plain_text: text, additional_authenticated_data: 'ctx-1' } });
    const dec = await c.decryptData({ body: { cipher_text: enc.cipher_text, additional_authenticated_data: 'ctx-1' } });
    assert.equal(dec.plain_text, text);
    await rejects(
      c.decryptData({ body: { cipher_text: enc.cipher_text, additional_authenticated_data: 'ctx-2' } }),
      kmsRefused,
      'decrypt under another context',
    );
    // Disable and enable: a disabled key encrypts nothing.
    await c.disableKey({ body: { key_id: key.key_id } });
    await rejects(
      c.encryptData({ body: { key_id: key.key_id, plain_text: 'x' } }),
      kmsRefused,
      'encrypt with a disabled key',
    );
    await c.enableKey({ body: { key_id: key.key_id } });
    assert.ok((await c.encryptData({ body: { key_id: key.key_id, plain_text: 'x' } })).cipher_text);
  }
});
