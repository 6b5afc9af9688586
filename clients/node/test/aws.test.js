'use strict';
// AWS's Node.js SDK v3, unmodified: @aws-sdk/client-secrets-manager (Secrets Manager 2017-10-17,
// AWS JSON 1.1, SigV4) with `endpoint` pointed at coffer.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const sm = require('@aws-sdk/client-secrets-manager');
const { binaryValue, rejects, startCoffer, textValue, unique } = require('../lib/coffer');

let srv;
before(async () => {
  srv = await startCoffer();
});
after(async () => {
  await srv.stop();
});

function client({ sk = srv.sk, sessionToken } = {}) {
  return new sm.SecretsManagerClient({
    endpoint: `http://127.0.0.1:${srv.port}`,
    region: 'eu-central-1',
    credentials: { accessKeyId: srv.ak, secretAccessKey: sk, sessionToken },
    maxAttempts: 1,
  });
}

const named = (n) => (e) => e.name === n;

test('the secret lifecycle through the Secrets Manager client', async () => {
  const c = client();
  const name = unique('aws/node');
  const v1 = textValue('v1');
  const v2 = textValue('v2');
  const created = await c.send(new sm.CreateSecretCommand({ Name: name, SecretString: v1, Description: 'node',
    Tags: [{ Key: 'sdk', Value: 'node' }] }));
  assert.match(created.ARN, new RegExp(`^arn:aws:secretsmanager:eu-central-1:\\d{12}:secret:${name}-[A-Za-z0-9]{6}$`));
  let got = await c.send(new sm.GetSecretValueCommand({ SecretId: created.ARN }));
  assert.equal(got.SecretString, v1);
  assert.deepEqual(got.VersionStages, ['AWSCURRENT']);
  assert.ok(got.CreatedDate instanceof Date);
  const put = await c.send(new sm.PutSecretValueCommand({ SecretId: name, SecretString: v2 }));
  got = await c.send(new sm.GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPREVIOUS' }));
  assert.equal(got.SecretString, v1);
  const d = await c.send(new sm.DescribeSecretCommand({ SecretId: name }));
  assert.deepEqual(d.VersionIdsToStages[put.VersionId], ['AWSCURRENT']);
  assert.deepEqual(d.Tags, [{ Key: 'sdk', Value: 'node' }]);
  const listed = await c.send(new sm.ListSecretsCommand({ Filters: [{ Key: 'name', Values: [name] }] }));
  assert.deepEqual(listed.SecretList.map((s) => s.Name), [name]);
  const versions = await c.send(new sm.ListSecretVersionIdsCommand({ SecretId: name }));
  assert.equal(versions.Versions.length, 2);
  const batch = await c.send(new sm.BatchGetSecretValueCommand({ SecretIdList: [name] }));
  assert.equal(batch.SecretValues[0].SecretString, v2);
  const deleted = await c.send(new sm.DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: 7 }));
  assert.ok(deleted.DeletionDate instanceof Date);
  await rejects(c.send(new sm.GetSecretValueCommand({ SecretId: name })), named('InvalidRequestException'),
    'read of a deleted secret');
  await c.send(new sm.RestoreSecretCommand({ SecretId: name }));
  await c.send(new sm.DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }));
  await rejects(c.send(new sm.DescribeSecretCommand({ SecretId: name })), named('ResourceNotFoundException'),
    'describe of a removed secret');
});

test('binary values and random passwords', async () => {
  const c = client();
  const name = unique('aws-bin');
  const value = binaryValue();
  await c.send(new sm.CreateSecretCommand({ Name: name, SecretBinary: value }));
  const got = await c.send(new sm.GetSecretValueCommand({ SecretId: name }));
  assert.deepEqual(Buffer.from(got.SecretBinary), value);
  const pw = await c.send(new sm.GetRandomPasswordCommand({ PasswordLength: 40, ExcludePunctuation: true }));
  assert.match(pw.RandomPassword, /^[A-Za-z0-9]{40}$/);
});

test('a wrong secret key, a session token and an unknown secret get AWS errors', async () => {
  await rejects(client({ sk: 'wrong' }).send(new sm.ListSecretsCommand({})), named('InvalidSignatureException'),
    'wrong secret key');
  await rejects(client({ sessionToken: 'token' }).send(new sm.ListSecretsCommand({})),
    named('UnrecognizedClientException'), 'session token');
  const e = await rejects(client().send(new sm.GetSecretValueCommand({ SecretId: unique('absent') })),
    named('ResourceNotFoundException'), 'unknown secret');
  assert.equal(e.$metadata.httpStatusCode, 400);
});
