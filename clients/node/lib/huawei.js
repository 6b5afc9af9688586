'use strict';
// Huawei Cloud's CSMS v1 and KMS v1.0 operations on the unmodified @huaweicloud/huaweicloud-sdk-core
// client. The service packages (@huaweicloud/huaweicloud-sdk-csms, -kms) are not published on the
// registry we reach, so each operation is written here exactly as those packages' generated
// `ParamCreater` builds it (huaweicloud-sdk-nodejs-v3, services/csms/v1/CsmsClient.ts and
// services/kms/v2/KmsClient.ts): method, URL template, content type, path parameters put raw into
// the URL, query parameters and body. The core client (HcClient.sendRequest) then does what it
// does for every service: substitutes the parameters, adds the project id, signs and sends.

// The service packages import these two modules by path, as here.
const { BasicCredentials } = require('@huaweicloud/huaweicloud-sdk-core/auth/BasicCredentials');
const { ClientBuilder } = require('@huaweicloud/huaweicloud-sdk-core/ClientBuilder');

const JSON_BODY = 'application/json;charset=UTF-8';
const NO_BODY = 'application/json';

// name: [method, url, contentType, [path parameter names], [query parameter names], has body]
const OPERATIONS = {
  // CSMS v1 (services/csms/v1/CsmsClient.ts)
  createSecret: ['POST', '/v1/{project_id}/secrets', JSON_BODY, [], [], true],
  listSecrets: ['GET', '/v1/{project_id}/secrets', NO_BODY, [], ['limit', 'marker', 'event_name'], false],
  showSecret: ['GET', '/v1/{project_id}/secrets/{secret_name}', NO_BODY, ['secret_name'], [], false],
  updateSecret: ['PUT', '/v1/{project_id}/secrets/{secret_name}', JSON_BODY, ['secret_name'], [], true],
  deleteSecret: ['DELETE', '/v1/{project_id}/secrets/{secret_name}', NO_BODY, ['secret_name'], [], false],
  deleteSecretForSchedule: ['POST', '/v1/{project_id}/secrets/{secret_name}/scheduled-deleted-tasks/create', JSON_BODY, ['secret_name'], [], true],
  restoreSecret: ['POST', '/v1/{project_id}/secrets/{secret_name}/scheduled-deleted-tasks/cancel', NO_BODY, ['secret_name'], [], false],
  createSecretVersion: ['POST', '/v1/{project_id}/secrets/{secret_name}/versions', JSON_BODY, ['secret_name'], [], true],
  listSecretVersions: ['GET', '/v1/{project_id}/secrets/{secret_name}/versions', NO_BODY, ['secret_name'], ['marker', 'limit'], false],
  showSecretVersion: ['GET', '/v1/{project_id}/secrets/{secret_name}/versions/{version_id}', NO_BODY, ['secret_name', 'version_id'], [], false],
  updateSecretStage: ['PUT', '/v1/{project_id}/secrets/{secret_name}/stages/{stage_name}', JSON_BODY, ['secret_name', 'stage_name'], [], true],
  showSecretStage: ['GET', '/v1/{project_id}/secrets/{secret_name}/stages/{stage_name}', NO_BODY, ['secret_name', 'stage_name'], [], false],
  deleteSecretStage: ['DELETE', '/v1/{project_id}/secrets/{secret_name}/stages/{stage_name}', NO_BODY, ['secret_name', 'stage_name'], [], false],
  createSecretTag: ['POST', '/v1/{project_id}/csms/{secret_id}/tags', JSON_BODY, ['secret_id'], [], true],
  listSecretTags: ['GET', '/v1/{project_id}/csms/{secret_id}/tags', NO_BODY, ['secret_id'], [], false],
  deleteSecretTag: ['DELETE', '/v1/{project_id}/csms/{secret_id}/tags/{key}', NO_BODY, ['secret_id', 'key'], [], false],
  // KMS v1.0 (services/kms/v2/KmsClient.ts)
  createKey: ['POST', '/v1.0/{project_id}/kms/create-key', JSON_BODY, [], [], true],
  listKeyDetail: ['POST', '/v1.0/{project_id}/kms/describe-key', JSON_BODY, [], [], true],
  disableKey: ['POST', '/v1.0/{project_id}/kms/disable-key', JSON_BODY, [], [], true],
  enableKey: ['POST', '/v1.0/{project_id}/kms/enable-key', JSON_BODY, [], [], true],
  encryptData: ['POST', '/v1.0/{project_id}/kms/encrypt-data', JSON_BODY, [], [], true],
  decryptData: ['POST', '/v1.0/{project_id}/kms/decrypt-data', JSON_BODY, [], [], true],
};

/** `endpoint` with its scheme, as Huawei's SDKs take it (`http://127.0.0.1:7080`). */
function huaweiClient(endpoint, ak, sk, projectId) {
  const credentials = new BasicCredentials().withAk(ak).withSk(sk).withProjectId(projectId);
  const hcClient = new ClientBuilder((client) => client).withCredential(credentials).withEndpoint(endpoint).build();
  const client = {};
  for (const [name, [method, url, contentType, pathNames, queryNames, hasBody]] of Object.entries(OPERATIONS)) {
    // `request` carries the operation's fields under their wire names and `body`, like the
    // service packages' request objects given as plain objects.
    client[name] = (request = {}) => {
      const pathParams = {};
      for (const p of pathNames) {
        if (request[p] === null || request[p] === undefined) {
          throw new Error(`Required parameter ${p} was null or undefined when calling ${name}.`);
        }
        pathParams[p] = request[p];
      }
      const queryParams = {};
      for (const q of queryNames) {
        if (request[q] !== null && request[q] !== undefined) queryParams[q] = request[q];
      }
      const headers = hasBody ? { 'Content-Type': contentType } : {};
      const options = { method, url, contentType, queryParams, pathParams, headers };
      if (hasBody) options.data = request.body !== undefined ? request.body : {};
      options.responseHeaders = [''];
      return hcClient.sendRequest(options);
    };
  }
  return client;
}

module.exports = { huaweiClient, OPERATIONS };
