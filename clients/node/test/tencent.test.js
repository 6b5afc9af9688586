'use strict';
// Tencent Cloud's Node.js SDKs, unmodified: tencentcloud-sdk-nodejs-ssm (SSM 2019-09-23) and the
// common client of tencentcloud-sdk-nodejs-common for KMS 2019-01-18, at the endpoint forms a
// user types. The Node SDK signs the host without its port and takes the credential scope's
// service from the endpoint's first label (`127`, `localhost:PORT`, `vault`), which coffer
// accepts as that SDK's signing form (DESIGN.md, "Signing forms of the SDKs").

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const tencentcloud = require('tencentcloud-sdk-nodejs-ssm');
const { CommonClient } = require('tencentcloud-sdk-nodejs-common');
const { binaryValue, rejects, startCoffer, textValue, unique } = require('../lib/coffer');

const REGION = 'ap-guangzhou';
const SsmClient = tencentcloud.ssm.v20190923.Client;

let srv;
before(async () => {
  srv = await startCoffer();
});
after(async () => {
  await srv.stop();
});

/** The endpoint forms: an address, localhost, and host names with a port. */
function endpoints() {
  return [
    `127.0.0.1:${srv.port}`,
    `localhost:${srv.port}`,
    `vault.coffer.test:${srv.port}`,
    `ssm.coffer.test:${srv.port}`,
  ];
}

function ssm(endpoint, { sk = srv.sk, reqMethod = 'POST' } = {}) {
  return new SsmClient({
    credential: { secretId: srv.ak, secretKey: sk },
    region: REGION,
    profile: { httpProfile: { endpoint, protocol: 'http://', reqMethod, reqTimeout: 30 } },
  });
}

function kms(endpoint) {
  return new CommonClient('kms.tencentcloudapi.com', '2019-01-18', {
    credential: { secretId: srv.ak, secretKey: srv.sk },
    region: REGION,
    profile: { httpProfile: { endpoint, protocol: 'http://', reqTimeout: 30 } },
  });
}

const code = (c) => (e) => e.code === c;

for (const form of ['127.0.0.1', 'localhost', 'vault.coffer.test', 'ssm.coffer.test']) {
  test(`the whole secret lifecycle through the SSM client at ${form}:PORT`, async () => {
    const endpoint = endpoints().find((e) => e.startsWith(form + ':'));
    const c = ssm(endpoint);
    const name = unique('tc');
    const v1 = textValue('v1');
    const created = await c.CreateSecret({
      SecretName: name,
      VersionId: 'v1',
      SecretString: v1,
      Description: 'first',
      Tags: [{ TagKey: 'team', TagValue: 'a b' }],
    });
    assert.equal(created.SecretName, name);
    assert.equal(created.VersionId, 'v1');

    // Read by version and by the current stage.
    assert.equal((await c.GetSecretValue({ SecretName: name, VersionId: 'v1' })).SecretString, v1);
    const v2 = textValue('v2');
    await c.PutSecretValue({ SecretName: name, VersionId: 'v2', SecretString: v2 });
    assert.equal((await c.GetSecretValue({ SecretName: name, VersionId: 'SSM_Current' })).SecretString, v2);
    assert.equal((await c.GetSecretValue({ SecretName: name, VersionId: 'v1' })).SecretString, v1);
    const ids = (await c.ListSecretVersionIds({ SecretName: name })).Versions.map((v) => v.VersionId).sort();
    assert.deepEqual(ids, ['v1', 'v2']);

    // Describe and update.
    await c.UpdateDescription({ SecretName: name, Description: 'second' });
    const d = await c.DescribeSecret({ SecretName: name });
    assert.equal(d.Description, 'second');
    assert.equal(d.Status, 'Enabled');
    const v3 = textValue('v3');
    await c.UpdateSecret({ SecretName: name, VersionId: 'v2', SecretString: v3 });
    assert.equal((await c.GetSecretValue({ SecretName: name, VersionId: 'v2' })).SecretString, v3);

    // The tag it was created with finds it.
    const tagged = await c.ListSecrets({ TagFilters: [{ TagKey: 'team', TagValue: ['a b'] }], Limit: 100 });
    assert.ok(tagged.SecretMetadatas.some((m) => m.SecretName === name));

    // Disable and enable: a disabled secret's value cannot be read.
    await c.DisableSecret({ SecretName: name });
    assert.equal((await c.DescribeSecret({ SecretName: name })).Status, 'Disabled');
    await rejects(c.GetSecretValue({ SecretName: name, VersionId: 'v1' }), (e) => /Disabled|OperationDenied/.test(e.code), 'read while disabled');
    await c.EnableSecret({ SecretName: name });

    // Delete with a window (Tencent wants it disabled first), restore, then forced delete.
    await c.DisableSecret({ SecretName: name });
    const del = await c.DeleteSecret({ SecretName: name, RecoveryWindowInDays: 7 });
    assert.ok(del.DeleteTime > Date.now() / 1000 + 6 * 86400);
    assert.equal((await c.DescribeSecret({ SecretName: name })).Status, 'PendingDelete');
    await c.RestoreSecret({ SecretName: name });
    assert.equal((await c.DescribeSecret({ SecretName: name })).Status, 'Disabled');
    await c.DeleteSecret({ SecretName: name, RecoveryWindowInDays: 0 });
    await rejects(c.DescribeSecret({ SecretName: name }), code('ResourceNotFound'), 'describe after delete');
    await rejects(c.GetSecretValue({ SecretName: name, VersionId: 'v1' }), code('ResourceNotFound'), 'read after delete');
  });
}

test('ListSecrets pages with Offset and Limit', async () => {
  const c = ssm(endpoints()[0]);
  const prefix = unique('page');
  const names = [];
  for (let i = 0; i < 5; i++) {
    const name = `${prefix}-${i}`;
    names.push(name);
    await c.CreateSecret({ SecretName: name, VersionId: 'v1', SecretString: 'x' });
  }
  const seen = [];
  for (let offset = 0; ; offset += 2) {
    const page = await c.ListSecrets({ SearchSecretName: prefix, Offset: offset, Limit: 2, OrderType: 1 });
    assert.equal(page.TotalCount, 5);
    assert.ok(page.SecretMetadatas.length <= 2);
    if (page.SecretMetadatas.length === 0) break;
    seen.push(...page.SecretMetadatas.map((m) => m.SecretName));
  }
  assert.deepEqual(seen, names);
});

test('GET requests (reqMethod GET) are signed the same way and work', async () => {
  const c = ssm(endpoints()[2], { reqMethod: 'GET' });
  const name = unique('get');
  const value = textValue('get');
  await c.CreateSecret({ SecretName: name, VersionId: 'v1', SecretString: value });
  assert.equal((await c.GetSecretValue({ SecretName: name, VersionId: 'v1' })).SecretString, value);
});

test('a binary and a Unicode value round-trip', async () => {
  for (const endpoint of endpoints()) {
    const c = ssm(endpoint);
    const name = unique('val');
    const bin = binaryValue();
    await c.CreateSecret({ SecretName: name, VersionId: 'bin', SecretBinary: bin.toString('base64') });
    const got = await c.GetSecretValue({ SecretName: name, VersionId: 'bin' });
    assert.deepEqual(Buffer.from(got.SecretBinary, 'base64'), bin);
    const text = textValue('ünï') + ' 𝄞 مرحبا';
    await c.PutSecretValue({ SecretName: name, VersionId: 'text', SecretString: text });
    assert.equal((await c.GetSecretValue({ SecretName: name, VersionId: 'text' })).SecretString, text);
  }
});

test('a bad parameter is refused naming the field', async () => {
  const c = ssm(endpoints()[1]);
  const err = await rejects(
    c.CreateSecret({ SecretName: 'bad name!', VersionId: 'v1', SecretString: 'x' }),
    (e) => e.code === 'InvalidParameterValue' || e.code === 'InvalidParameter',
    'bad SecretName',
  );
  assert.match(err.message, /SecretName/);
  await rejects(c.GetSecretValue({ SecretName: unique('none') }), code('MissingParameter'), 'missing VersionId');
});

test('a wrong secret key is refused at every endpoint form', async () => {
  for (const endpoint of endpoints()) {
    await rejects(
      ssm(endpoint, { sk: srv.sk + 'x' }).ListSecrets({}),
      code('AuthFailure.SignatureFailure'),
      `wrong key at ${endpoint}`,
    );
  }
});

test('KMS through the common client: a key, Encrypt and Decrypt under an encryption context', async () => {
  for (const endpoint of endpoints()) {
    const k = kms(endpoint);
    const alias = unique('key').replace(/-/g, '_');
    const key = await k.request('CreateKey', { Alias: alias, Description: 'node' });
    assert.equal(key.Alias, alias);
    assert.equal(key.KeyState, 'Enabled');
    const ctx = JSON.stringify({ app: 'node', where: endpoint });
    const plain = binaryValue();
    const enc = await k.request('Encrypt', { KeyId: key.KeyId, Plaintext: plain.toString('base64'), EncryptionContext: ctx });
    assert.equal(enc.KeyId, key.KeyId);
    const dec = await k.request('Decrypt', { CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ctx });
    assert.deepEqual(Buffer.from(dec.Plaintext, 'base64'), plain);
    // Another context does not open it.
    await rejects(
      k.request('Decrypt', { CiphertextBlob: enc.CiphertextBlob, EncryptionContext: JSON.stringify({ app: 'other' }) }),
      (e) => typeof e.code === 'string' && e.code.length > 0,
      'decrypt under another context',
    );
    const described = await k.request('DescribeKey', { KeyId: key.KeyId });
    assert.equal(described.KeyMetadata.KeyId, key.KeyId);
  }
});
