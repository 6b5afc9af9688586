'use strict';
// Alibaba Cloud's Node.js clients, unmodified, against KMS 2016-01-20: @alicloud/openapi-client
// (ACS3-HMAC-SHA256, `callApi` with the operation's parameters as its generated clients pass
// them), @alicloud/pop-core (RPC v1 HMAC-SHA1, GET and POST) and @alicloud/kms20160120 (its
// generated client on @alicloud/rpc-client, RPC v1), at the endpoint forms a user types.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const OpenApi = require('@alicloud/openapi-client');
const OpenApiUtil = require('@alicloud/openapi-util').default;
const Util = require('@alicloud/tea-util');
const { RPCClient } = require('@alicloud/pop-core');
const Kms = require('@alicloud/kms20160120');
const { binaryValue, rejects, startCoffer, textValue, unique } = require('../lib/coffer');

const REGION = 'cn-hangzhou';
const VERSION = '2016-01-20';

let srv;
before(async () => {
  srv = await startCoffer();
});
after(async () => {
  await srv.stop();
});

function endpoints() {
  return [`127.0.0.1:${srv.port}`, `localhost:${srv.port}`, `kms.coffer.test:${srv.port}`];
}

/** ACS3 through @alicloud/openapi-client: `call(action, params)` resolves to the JSON body. */
function acs3(endpoint, sk = srv.sk) {
  const client = new OpenApi.default(
    new OpenApi.Config({ accessKeyId: srv.ak, accessKeySecret: sk, endpoint, protocol: 'http', regionId: REGION }),
  );
  return async (action, query) => {
    const params = new OpenApi.Params({
      action,
      version: VERSION,
      protocol: 'HTTP',
      pathname: '/',
      method: 'POST',
      authType: 'AK',
      style: 'RPC',
      reqBodyType: 'formData',
      bodyType: 'json',
    });
    const request = new OpenApi.OpenApiRequest({ query: OpenApiUtil.query(query) });
    const res = await client.callApi(params, request, new Util.RuntimeOptions({}));
    return res.body;
  };
}

/** RPC v1 through @alicloud/pop-core, in GET or POST form. */
function pop(endpoint, method, sk = srv.sk) {
  const client = new RPCClient({
    accessKeyId: srv.ak,
    accessKeySecret: sk,
    endpoint: `http://${endpoint}`,
    apiVersion: VERSION,
  });
  return (action, params) => client.request(action, { RegionId: REGION, ...params }, { method, timeout: 30000 });
}

const CLIENTS = {
  'openapi-client ACS3': (endpoint, sk) => acs3(endpoint, sk),
  'pop-core RPC GET': (endpoint, sk) => pop(endpoint, 'GET', sk),
  'pop-core RPC POST': (endpoint, sk) => pop(endpoint, 'POST', sk),
};

const code = (c) => (e) => e.code === c || (e.data && e.data.Code === c);
const stagesOf = (r) => [...r.VersionStages.VersionStage].sort();

async function lifecycle(call) {
  const name = unique('ali');
  const v1 = textValue('v1');
  const created = await call('CreateSecret', {
    SecretName: name,
    VersionId: 'v1',
    SecretData: v1,
    Description: 'first',
    Tags: JSON.stringify([{ TagKey: 'team', TagValue: 'a b' }]),
  });
  assert.equal(created.SecretName, name);
  assert.equal(created.VersionId, 'v1');

  // Read by version and by stage.
  assert.equal((await call('GetSecretValue', { SecretName: name, VersionId: 'v1' })).SecretData, v1);
  const v2 = textValue('v2');
  await call('PutSecretValue', { SecretName: name, VersionId: 'v2', SecretData: v2 });
  const current = await call('GetSecretValue', { SecretName: name, VersionStage: 'ACSCurrent' });
  assert.equal(current.SecretData, v2);
  assert.deepEqual(stagesOf(current), ['ACSCurrent']);
  assert.equal((await call('GetSecretValue', { SecretName: name, VersionStage: 'ACSPrevious' })).SecretData, v1);
  const ids = await call('ListSecretVersionIds', { SecretName: name });
  assert.deepEqual(ids.VersionIds.VersionId.map((v) => v.VersionId).sort(), ['v1', 'v2']);

  // Stages: a custom stage moved onto v1.
  await call('UpdateSecretVersionStage', { SecretName: name, VersionStage: 'blue', MoveToVersion: 'v1' });
  assert.equal((await call('GetSecretValue', { SecretName: name, VersionStage: 'blue' })).SecretData, v1);

  // Describe, update, tags.
  await call('UpdateSecret', { SecretName: name, Description: 'second' });
  await call('TagResource', { SecretName: name, Tags: JSON.stringify([{ TagKey: 'env', TagValue: 'dev' }]) });
  let d = await call('DescribeSecret', { SecretName: name, FetchTags: 'true' });
  assert.equal(d.Description, 'second');
  const tags = Object.fromEntries(d.Tags.Tag.map((t) => [t.TagKey, t.TagValue]));
  assert.deepEqual(tags, { team: 'a b', env: 'dev' });
  await call('UntagResource', { SecretName: name, TagKeys: JSON.stringify(['env']) });
  d = await call('DescribeSecret', { SecretName: name, FetchTags: 'true' });
  assert.deepEqual(d.Tags.Tag.map((t) => t.TagKey), ['team']);

  // Delete with a window, restore, forced delete, then not found.
  const del = await call('DeleteSecret', { SecretName: name, RecoveryWindowInDays: '7' });
  assert.ok(del.PlannedDeleteTime);
  d = await call('DescribeSecret', { SecretName: name });
  assert.ok(d.PlannedDeleteTime);
  await call('RestoreSecret', { SecretName: name });
  assert.equal((await call('GetSecretValue', { SecretName: name })).SecretData, v2);
  await call('DeleteSecret', { SecretName: name, ForceDeleteWithoutRecovery: 'true' });
  await rejects(call('DescribeSecret', { SecretName: name }), code('Forbidden.ResourceNotFound'), 'describe after delete');
  await rejects(call('GetSecretValue', { SecretName: name }), code('Forbidden.ResourceNotFound'), 'read after delete');
}

for (const [label, make] of Object.entries(CLIENTS)) {
  for (const form of ['127.0.0.1', 'localhost', 'kms.coffer.test']) {
    test(`the whole secret lifecycle through ${label} at ${form}:PORT`, async () => {
      await lifecycle(make(endpoints().find((e) => e.startsWith(form + ':'))));
    });
  }

  test(`${label}: ListSecrets pages, binary and Unicode values, a bad parameter, a wrong key`, async () => {
    const call = make(endpoints()[0]);
    const prefix = unique('page');
    for (let i = 0; i < 5; i++) {
      await call('CreateSecret', {
        SecretName: `${prefix}-${i}`,
        VersionId: 'v1',
        SecretData: 'x',
        Tags: JSON.stringify([{ TagKey: 'batch', TagValue: prefix }]),
      });
    }
    const filters = JSON.stringify([{ Key: 'TagValue', Values: [prefix] }]);
    const seen = [];
    for (let page = 1; page <= 4; page++) {
      const r = await call('ListSecrets', { Filters: filters, PageSize: '2', PageNumber: String(page) });
      assert.equal(r.TotalCount, 5);
      seen.push(...r.SecretList.Secret.map((s) => s.SecretName));
    }
    assert.deepEqual(seen.sort(), [0, 1, 2, 3, 4].map((i) => `${prefix}-${i}`));

    const name = unique('bin');
    const bin = binaryValue();
    await call('CreateSecret', { SecretName: name, VersionId: 'b', SecretData: bin.toString('base64'), SecretDataType: 'binary' });
    const got = await call('GetSecretValue', { SecretName: name });
    assert.equal(got.SecretDataType, 'binary');
    assert.deepEqual(Buffer.from(got.SecretData, 'base64'), bin);
    const text = textValue('ünï') + ' 𝄞 مرحبا';
    await call('PutSecretValue', { SecretName: name, VersionId: 't', SecretData: text });
    assert.equal((await call('GetSecretValue', { SecretName: name, VersionId: 't' })).SecretData, text);

    const err = await rejects(
      call('CreateSecret', { SecretName: unique('bad'), VersionId: 'v1', SecretData: 'x', SecretDataType: 'nonsense' }),
      (e) => /InvalidParameter/.test(e.code || ''),
      'bad SecretDataType',
    );
    assert.match(err.message, /SecretDataType/);
    await rejects(
      make(endpoints()[1], srv.sk + 'x')('ListSecrets', {}),
      (e) => /SignatureDoesNotMatch|IncompleteSignature/.test(e.code || ''),
      'wrong secret key',
    );
  });

  test(`${label}: a KMS key, Encrypt and Decrypt under an encryption context`, async () => {
    const call = make(endpoints()[2]);
    const key = (await call('CreateKey', { Description: 'node' })).KeyMetadata;
    assert.equal(key.KeyState, 'Enabled');
    const ctx = JSON.stringify({ app: 'node', client: label });
    const plain = binaryValue();
    const enc = await call('Encrypt', { KeyId: key.KeyId, Plaintext: plain.toString('base64'), EncryptionContext: ctx });
    assert.equal(enc.KeyId, key.KeyId);
    const dec = await call('Decrypt', { CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ctx });
    assert.deepEqual(Buffer.from(dec.Plaintext, 'base64'), plain);
    await rejects(
      call('Decrypt', { CiphertextBlob: enc.CiphertextBlob, EncryptionContext: JSON.stringify({ app: 'other' }) }),
      (e) => typeof e.code === 'string' && e.code.length > 0,
      'decrypt under another context',
    );
  });
}

function kms20160120(endpoint, sk = srv.sk) {
  return new Kms.default({ accessKeyId: srv.ak, accessKeySecret: sk, regionId: REGION, endpoint, protocol: 'http' });
}

for (const form of ['127.0.0.1', 'localhost', 'kms.coffer.test']) {
  test(`@alicloud/kms20160120: the secret lifecycle and a KMS key at ${form}:PORT`, async () => {
    const c = kms20160120(endpoints().find((e) => e.startsWith(form + ':')));
    const name = unique('gen');
    const v1 = textValue('v1');
    await c.createSecret(new Kms.CreateSecretRequest({
      secretName: name,
      versionId: 'v1',
      secretData: v1,
      tags: JSON.stringify([{ TagKey: 'team', TagValue: 'a' }]),
    }));
    assert.equal((await c.getSecretValue(new Kms.GetSecretValueRequest({ secretName: name }))).secretData, v1);
    const v2 = textValue('v2');
    await c.putSecretValue(new Kms.PutSecretValueRequest({ secretName: name, versionId: 'v2', secretData: v2 }));
    const got = await c.getSecretValue(new Kms.GetSecretValueRequest({ secretName: name, versionId: 'v1' }));
    assert.equal(got.secretData, v1);
    await c.updateSecretVersionStage(new Kms.UpdateSecretVersionStageRequest({ secretName: name, versionStage: 'blue', moveToVersion: 'v1' }));
    const ids = await c.listSecretVersionIds(new Kms.ListSecretVersionIdsRequest({ secretName: name }));
    assert.deepEqual(ids.versionIds.versionId.map((v) => v.versionId).sort(), ['v1', 'v2']);
    await c.updateSecret(new Kms.UpdateSecretRequest({ secretName: name, description: 'second' }));
    await c.tagResource(new Kms.TagResourceRequest({ secretName: name, tags: JSON.stringify([{ TagKey: 'env', TagValue: 'dev' }]) }));
    const d = await c.describeSecret(new Kms.DescribeSecretRequest({ secretName: name, fetchTags: 'true' }));
    assert.equal(d.description, 'second');
    assert.deepEqual(d.tags.tag.map((t) => t.tagKey).sort(), ['env', 'team']);
    const list = await c.listSecrets(new Kms.ListSecretsRequest({ pageSize: 100 }));
    assert.ok(list.secretList.secret.some((s) => s.secretName === name));
    await c.deleteSecret(new Kms.DeleteSecretRequest({ secretName: name, recoveryWindowInDays: '7' }));
    await c.restoreSecret(new Kms.RestoreSecretRequest({ secretName: name }));
    await c.deleteSecret(new Kms.DeleteSecretRequest({ secretName: name, forceDeleteWithoutRecovery: 'true' }));
    await rejects(c.describeSecret(new Kms.DescribeSecretRequest({ secretName: name })), code('Forbidden.ResourceNotFound'), 'describe after delete');

    const key = (await c.createKey(new Kms.CreateKeyRequest({ description: 'gen' }))).keyMetadata;
    const plain = Buffer.from(textValue('kms')).toString('base64');
    const ctx = { app: 'node' };
    const enc = await c.encrypt(new Kms.EncryptRequest({ keyId: key.keyId, plaintext: plain, encryptionContext: ctx }));
    const dec = await c.decrypt(new Kms.DecryptRequest({ ciphertextBlob: enc.ciphertextBlob, encryptionContext: ctx }));
    assert.equal(dec.plaintext, plain);
    await rejects(
      kms20160120(endpoints()[0], srv.sk + 'x').listSecrets(new Kms.ListSecretsRequest({})),
      (e) => /SignatureDoesNotMatch/.test(e.code || ''),
      'wrong secret key',
    );
  });
}
