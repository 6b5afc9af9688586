#!/usr/bin/env python3
"""Writes the committed seed corpus of every fuzz target under fuzz/corpus/<target>/.

Seeds are requests in the targets' input format (an HTTP/1.1 request as text, see
fuzz/src/wire.rs):
- every request the official SDKs sent in the capture fixtures of crates/auth/tests/fixtures/
  (Alibaba, Tencent, Huawei, botocore SigV4), byte for byte;
- one request per operation of each dialect, unsigned: the dialect targets sign every input
  again before handling it, so a seed only needs the operation and plausible parameters.

signature_roundtrip gets the captures with a four-byte mutation prefix (kind, position, byte),
a different kind each.

Run from anywhere: python3 fuzz/seeds.py (it replaces the seed files it writes, and leaves
files libFuzzer added alone).
"""

import json
import os
import re
import urllib.parse

ROOT = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(ROOT, "..", "crates", "auth", "tests", "fixtures")
CORPUS = os.path.join(ROOT, "corpus")
PROJECT = "0123456789abcdef0123456789abcdef"


def captures(name):
    """The requests of one capture file: head as sent (LF line ends) and Content-Length bytes
    of body (the file adds one LF after a body)."""
    text = open(os.path.join(FIXTURES, name), "rb").read()
    out = []
    for block in re.findall(rb"=====BEGIN REQUEST=====\n(.*?)=====END REQUEST=====", text, re.S):
        head, _, rest = block.partition(b"\n\n")
        m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        length = int(m.group(1)) if m else 0
        out.append(head + b"\n\n" + rest[:length])
    return out


def request(method, target, headers=(), body=b""):
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    lines = [f"{method} {target} HTTP/1.1", "host: 127.0.0.1:7080"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\n".join(lines) + "\n\n").encode() + body


def q(params):
    return urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


# ------------------------------------------------------------------------------- Alibaba

ALIBABA_OPS = {
    "CreateSecret": {"SecretName": "s1", "VersionId": "v1", "SecretData": "hunter2",
                     "SecretDataType": "text", "Tags": '[{"Key":"env","Value":"dev"}]'},
    "GetSecretValue": {"SecretName": "fuzz-canary", "VersionStage": "ACSPrevious"},
    "PutSecretValue": {"SecretName": "s1", "VersionId": "v2", "SecretData": "x",
                       "VersionStages": '["ACSCurrent","custom"]'},
    "UpdateSecret": {"SecretName": "s1", "Description": "d"},
    "UpdateSecretVersionStage": {"SecretName": "s1", "VersionStage": "ACSCurrent",
                                 "MoveToVersion": "v1", "RemoveFromVersion": "v2"},
    "DescribeSecret": {"SecretName": "s1", "FetchTags": "true"},
    "ListSecrets": {"PageSize": "2", "PageNumber": "1", "FetchTags": "true",
                    "Filters": '[{"Key":"SecretName","Values":["s"]}]'},
    "ListSecretVersionIds": {"SecretName": "s1", "IncludeDeprecated": "true"},
    "DeleteSecret": {"SecretName": "s1", "RecoveryWindowInDays": "7"},
    "RestoreSecret": {"SecretName": "s1"},
    "GetRandomPassword": {"PasswordLength": "12", "ExcludeCharacters": "abc"},
    "TagResource": {"SecretName": "s1", "Tags": '[{"Key":"k","Value":"v"}]'},
    "UntagResource": {"SecretName": "s1", "TagKeys": '["k"]'},
    "TagResources": {"ResourceType": "secret", "ResourceId.1": "s1", "Tag.1.Key": "k",
                     "Tag.1.Value": "v"},
    "UntagResources": {"ResourceType": "secret", "ResourceId.1": "s1", "TagKey.1": "k"},
    "ListTagResources": {"ResourceType": "secret", "ResourceId.1": "s1"},
    "GetSecretPolicy": {"SecretName": "s1"},
    "SetSecretPolicy": {"SecretName": "s1", "Policy": '{"Version":"1","Statement":[]}'},
    "RotateSecret": {"SecretName": "s1", "VersionId": "v9"},
    "UpdateSecretRotationPolicy": {"SecretName": "s1", "EnableAutomaticRotation": "true",
                                   "RotationInterval": "7d"},
    "CreateKey": {"Description": "k", "KeySpec": "Aliyun_AES_256", "KeyUsage": "ENCRYPT/DECRYPT"},
    "DescribeKey": {"KeyId": "alias/a"},
    "ListKeys": {"PageSize": "10"},
    "EnableKey": {"KeyId": "k"},
    "DisableKey": {"KeyId": "k"},
    "ScheduleKeyDeletion": {"KeyId": "k", "PendingWindowInDays": "7"},
    "CancelKeyDeletion": {"KeyId": "k"},
    "UpdateKeyDescription": {"KeyId": "k", "Description": "d"},
    "CreateAlias": {"KeyId": "k", "AliasName": "alias/a"},
    "UpdateAlias": {"KeyId": "k", "AliasName": "alias/a"},
    "DeleteAlias": {"AliasName": "alias/a"},
    "ListAliases": {},
    "ListAliasesByKeyId": {"KeyId": "k"},
    "Encrypt": {"KeyId": "alias/a", "Plaintext": "aGVsbG8=",
                "EncryptionContext": '{"a":"b"}'},
    "Decrypt": {"CiphertextBlob": "AAAA", "EncryptionContext": '{"a":"b"}'},
    "GenerateDataKey": {"KeyId": "k", "NumberOfBytes": "32"},
    "GenerateDataKeyWithoutPlaintext": {"KeyId": "k", "KeySpec": "AES_128"},
    "ReEncrypt": {"CiphertextBlob": "AAAA", "DestinationKeyId": "k"},
    "UpdateRotationPolicy": {"KeyId": "k", "EnableAutomaticRotation": "true",
                             "RotationInterval": "604800s"},
    "CreateKeyVersion": {"KeyId": "k"},
    "ListKeyVersions": {"KeyId": "k"},
    "DescribeKeyVersion": {"KeyId": "k", "KeyVersionId": "kv"},
}


def alibaba_seeds():
    seeds = {}
    for i, c in enumerate(captures("alibaba-captures.txt")):
        seeds[f"capture-{i + 1:02}"] = c
    for i, (action, params) in enumerate(sorted(ALIBABA_OPS.items())):
        common = {"Action": action, "Version": "2016-01-20", "RegionId": "cn-hangzhou",
                  "Format": "XML" if i % 5 == 0 else "JSON"}
        if i % 3 == 0:
            # ACS3 shape: action in headers, values in a form body.
            seeds[f"op-{action}"] = request(
                "POST", "/?" + q({"RegionId": "cn-hangzhou"}),
                [("x-acs-action", action), ("x-acs-version", "2016-01-20"),
                 ("content-type", "application/x-www-form-urlencoded"),
                 ("authorization", "ACS3-HMAC-SHA256 Credential=x,SignedHeaders=host,Signature=00")],
                q(params))
        else:
            seeds[f"op-{action}"] = request("POST", "/?" + q({**params, **common}))
    return seeds


# ------------------------------------------------------------------------------- Tencent

TENCENT_OPS = {
    "CreateSecret": {"SecretName": "s1", "VersionId": "v1", "SecretString": "hunter2",
                     "Tags": [{"TagKey": "env", "TagValue": "dev"}]},
    "GetSecretValue": {"SecretName": "fuzz-canary", "VersionId": "v1"},
    "PutSecretValue": {"SecretName": "s1", "VersionId": "v2", "SecretBinary": "AAEC/w=="},
    "UpdateSecret": {"SecretName": "s1", "VersionId": "v1", "SecretString": "x"},
    "UpdateDescription": {"SecretName": "s1", "Description": "d"},
    "DescribeSecret": {"SecretName": "s1"},
    "ListSecrets": {"Offset": 0, "Limit": 2, "OrderType": 1, "State": 1,
                    "SearchSecretName": "s", "TagFilters": [{"TagKey": "env", "TagValue": ["dev"]}]},
    "ListSecretVersionIds": {"SecretName": "s1"},
    "DeleteSecretVersion": {"SecretName": "s1", "VersionId": "v1"},
    "EnableSecret": {"SecretName": "s1"},
    "DisableSecret": {"SecretName": "s1"},
    "DeleteSecret": {"SecretName": "s1", "RecoveryWindowInDays": 7, "CleanSSHKey": False},
    "RestoreSecret": {"SecretName": "s1"},
    "GetServiceStatus": {},
    "GetRegions": {},
    "DescribeSupportedProducts": {},
    "CreateProductSecret": {"SecretName": "p1", "UserNamePrefix": "u", "ProductName": "Mysql",
                            "InstanceID": "i-1", "Domains": ["%"], "PrivilegesList": [
                                {"PrivilegeName": "GlobalPrivileges", "Privileges": ["SELECT"]}]},
    "RotateProductSecret": {"SecretName": "p1"},
    "DescribeAsyncRequestInfo": {"FlowID": 1},
    "UpdateRotationStatus": {"SecretName": "p1", "EnableRotation": True, "Frequency": 30},
    "DescribeRotationDetail": {"SecretName": "p1"},
    "DescribeRotationHistory": {"SecretName": "p1"},
}
TENCENT_KMS_OPS = {
    "CreateKey": {"Alias": "a", "Description": "d"},
    "DescribeKey": {"KeyId": "k"},
    "DescribeKeys": {"KeyIds": ["k"]},
    "ListKeys": {"Offset": 0, "Limit": 10},
    "EnableKey": {"KeyId": "k"},
    "DisableKey": {"KeyId": "k"},
    "ScheduleKeyDeletion": {"KeyId": "k", "PendingWindowInDays": 7},
    "CancelKeyDeletion": {"KeyId": "k"},
    "UpdateAlias": {"KeyId": "k", "Alias": "b"},
    "UpdateKeyDescription": {"KeyId": "k", "Description": "d"},
    "Encrypt": {"KeyId": "k", "Plaintext": "aGVsbG8=", "EncryptionContext": '{"a":"b"}'},
    "Decrypt": {"CiphertextBlob": "AAAA"},
    "GenerateDataKey": {"KeyId": "k", "KeySpec": "AES_256"},
    "ReEncrypt": {"CiphertextBlob": "AAAA", "DestinationKeyId": "k"},
    "EnableKeyRotation": {"KeyId": "k"},
    "DisableKeyRotation": {"KeyId": "k"},
    "GetKeyRotationStatus": {"KeyId": "k"},
    "GetServiceStatus": {},
}


def flatten(params, prefix=""):
    """Tencent's flattened form of nested parameters (Tags.0.TagKey=...)."""
    out = []
    for k, v in params.items() if isinstance(params, dict) else enumerate(params):
        name = f"{prefix}{k}"
        if isinstance(v, (dict, list)):
            out += flatten(v, name + ".")
        else:
            out.append((name, str(v).lower() if isinstance(v, bool) else str(v)))
    return out


def tencent_seeds():
    seeds = {}
    for i, c in enumerate(captures("tencent-captures.txt")):
        seeds[f"capture-{i + 1:02}"] = c
    ops = [("2019-09-23", a, p) for a, p in sorted(TENCENT_OPS.items())]
    ops += [("2019-01-18", a, p) for a, p in sorted(TENCENT_KMS_OPS.items())]
    for i, (version, action, params) in enumerate(ops):
        tag = f"op-{'kms-' if version == '2019-01-18' else ''}{action}"
        if i % 4 == 3:
            # Legacy v1 form POST: every field flattened in the body.
            fields = flatten(params) + [("Action", action), ("Version", version),
                                        ("Region", "ap-guangzhou"), ("SecretId", "x"),
                                        ("SignatureMethod", "HmacSHA256")]
            seeds[tag] = request("POST", "/", [("content-type", "application/x-www-form-urlencoded")],
                                 q(fields))
        elif i % 4 == 2:
            # TC3 over GET: parameters flattened in the query.
            seeds[tag] = request("GET", "/?" + q(flatten(params)),
                                 [("content-type", "application/x-www-form-urlencoded"),
                                  ("x-tc-action", action), ("x-tc-version", version),
                                  ("x-tc-region", "ap-guangzhou")])
        else:
            seeds[tag] = request("POST", "/", [("content-type", "application/json"),
                                               ("x-tc-action", action), ("x-tc-version", version),
                                               ("x-tc-region", "ap-guangzhou"),
                                               ("x-tc-language", "en-US")],
                                 params)
    return seeds


# -------------------------------------------------------------------------------- Huawei

HUAWEI_OPS = [
    ("POST", "secrets", {"name": "s1", "secret_string": "hunter2", "description": "d",
                         "tags": [{"key": "env", "value": "dev"}]}),
    ("GET", "secrets?limit=2&marker=s&event_name=e", None),
    ("POST", "secrets/batch-get-secret-value", {"secret_names": ["fuzz-canary", "s1"]}),
    ("GET", "secrets/fuzz-canary", None),
    ("PUT", "secrets/s1", {"description": "d2", "event_subscriptions": ["e1"]}),
    ("DELETE", "secrets/s1", None),
    ("POST", "secrets/s1/scheduled-deleted-tasks/create", {"recovery_window_in_days": 7}),
    ("POST", "secrets/s1/scheduled-deleted-tasks/cancel", None),
    ("POST", "secrets/s1/versions", {"secret_binary": "AAEC/w==", "version_stages": ["SYSCURRENT", "c"]}),
    ("GET", "secrets/s1/versions?limit=5", None),
    ("GET", "secrets/fuzz-canary/versions/latest", None),
    ("PUT", "secrets/s1/versions/v1", {"expire_time": 1893456000000}),
    ("PUT", "secrets/s1/stages/c", {"version_id": "v1"}),
    ("GET", "secrets/s1/stages/SYSPREVIOUS", None),
    ("DELETE", "secrets/s1/stages/c", None),
    ("POST", "secrets/s1/rotate", None),
    ("GET", "csms/tasks?secret_name=s1&status=SUCCESS", None),
    ("GET", "csms/tags", None),
    ("POST", "csms/resource_instances/action", {"action": "filter", "limit": "10", "offset": "0",
                                                "tags": [{"key": "env", "values": ["dev"]}]}),
    ("POST", "csms/events", {"name": "e1", "event_types": ["SECRET_VERSION_CREATED"],
                             "state": "ENABLED", "notification": {"target_type": "SMN",
                             "target_id": "t", "target_name": "n"}}),
    ("GET", "csms/events", None),
    ("GET", "csms/events/e1", None),
    ("PUT", "csms/events/e1", {"state": "DISABLED"}),
    ("DELETE", "csms/events/e1", None),
    ("GET", "csms/notification-records", None),
    ("POST", "csms/00000000-0000-0000-0000-000000000000/tags", {"tag": {"key": "k", "value": "v"}}),
    ("GET", "csms/00000000-0000-0000-0000-000000000000/tags", None),
    ("POST", "csms/00000000-0000-0000-0000-000000000000/tags/action",
     {"action": "create", "tags": [{"key": "k", "value": "v"}]}),
    ("DELETE", "csms/00000000-0000-0000-0000-000000000000/tags/k", None),
    ("POST", "kms/create-key", {"key_alias": "a", "key_spec": "AES_256"}),
    ("POST", "kms/describe-key", {"key_id": "k"}),
    ("POST", "kms/list-keys", {"limit": "10"}),
    ("POST", "kms/disable-key", {"key_id": "k"}),
    ("POST", "kms/schedule-key-deletion", {"key_id": "k", "pending_days": "7"}),
    ("POST", "kms/encrypt-data", {"key_id": "k", "plain_text": "hello",
                                  "encryption_context": {"a": "b"}}),
    ("POST", "kms/decrypt-data", {"cipher_text": "AAAA"}),
    ("POST", "kms/create-datakey", {"key_id": "k", "datakey_length": "256"}),
    ("POST", "kms/decrypt-datakey", {"key_id": "k", "cipher_text": "AAAA", "datakey_cipher_length": "32"}),
    ("POST", "kms/re-encrypt", {"cipher_text": "AAAA", "destination_key_id": "k"}),
    ("POST", "kms/update-key-rotation-interval", {"key_id": "k", "rotation_interval": 30}),
]


def huawei_seeds():
    seeds = {}
    for i, c in enumerate(captures("huawei-captures.txt")):
        seeds[f"capture-{i + 1:02}"] = c
    for method, rest, body in HUAWEI_OPS:
        name = re.sub(r"[^a-z0-9]+", "-", f"{method} {rest.split('?')[0]}".lower()).strip("-")
        headers = [("content-type", "application/json;charset=UTF-8" if body else "application/json"),
                   ("x-project-id", PROJECT)]
        seeds[f"op-{name}"] = request(method, f"/v1/{PROJECT}/{rest}", headers,
                                      body if body is not None else b"")
    return seeds


# ------------------------------------------------------------------------ native (SigV4)

NATIVE_OPS = [
    ("POST", "accounts", {"name": "team-a", "region": "default"}),
    ("GET", "accounts", None),
    ("GET", "accounts/1234", None),
    ("DELETE", "accounts/1234", None),
    ("POST", "accounts/1234/access-keys", {"admin": False}),
    ("GET", "accounts/1234/access-keys", None),
    ("POST", "access-keys/AKIDOTHER/disable", None),
    ("POST", "access-keys/AKIDOTHER/enable", None),
    ("DELETE", "access-keys/AKIDOTHER", None),
    ("PUT", "accounts/1234/policies/p1", {"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": ["secrets:GetValue"], "Resource": ["*"],
         "Condition": {"StringEquals": {"coffer:ResourceTag/env": "dev"}}}]}),
    ("GET", "accounts/1234/policies/p1", None),
    ("GET", "accounts/1234/policies", None),
    ("DELETE", "accounts/1234/policies/p1", None),
    ("PUT", "access-keys/AKIDOTHER/policies/p1", None),
    ("DELETE", "access-keys/AKIDOTHER/policies/p1", None),
    ("GET", "audit?n=5", None),
    ("POST", "db-instances", {"id": "db1", "engine": "mysql", "host": "127.0.0.1", "port": 3306,
                              "username": "root", "password": "pw"}),
    ("GET", "db-instances", None),
    ("GET", "db-instances/db1", None),
    ("DELETE", "db-instances/db1", None),
    ("GET", "rewrap", None),
]


def native_seeds():
    seeds = {}
    for i, c in enumerate(captures("sigv4-captures.txt")):
        seeds[f"capture-{i + 1:02}"] = c
    for method, rest, body in NATIVE_OPS:
        name = re.sub(r"[^a-z0-9]+", "-", f"{method} {rest.split('?')[0]}".lower()).strip("-")
        headers = [("content-type", "application/json")] if body is not None else []
        seeds[f"op-{name}"] = request(method, f"/coffer/v1/{rest}", headers,
                                      body if body is not None else b"")
    return seeds


# ------------------------------------------------------------------ AWS Secrets Manager

# Request bodies as botocore sends them (secretsmanager/2017-10-17, AWS JSON 1.1).
AWS_OPS = {
    "CreateSecret": {"Name": "s1", "SecretString": "hunter2", "ClientRequestToken": "c" * 36,
                     "Tags": [{"Key": "env", "Value": "dev"}], "Description": "d"},
    "GetSecretValue": {"SecretId": "fuzz-canary", "VersionStage": "AWSCURRENT"},
    "BatchGetSecretValue": {"SecretIdList": ["fuzz-canary", "s1", "missing"]},
    "BatchGetSecretValue-filters": {"Filters": [{"Key": "name", "Values": ["fuzz"]}], "MaxResults": 2},
    "PutSecretValue": {"SecretId": "s1", "SecretBinary": "AAEC/w==", "VersionStages": ["AWSCURRENT", "blue"]},
    "UpdateSecret": {"SecretId": "s1", "Description": "d2", "KmsKeyId": "alias/aws/secretsmanager"},
    "UpdateSecretVersionStage": {"SecretId": "s1", "VersionStage": "blue",
                                 "MoveToVersionId": "c" * 36},
    "DescribeSecret": {"SecretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:s1-AbCdEf"},
    "ListSecrets": {"MaxResults": 2, "SortOrder": "asc", "IncludePlannedDeletion": True,
                    "Filters": [{"Key": "tag-key", "Values": ["env"]}, {"Key": "all", "Values": ["!x"]}]},
    "ListSecretVersionIds": {"SecretId": "s1", "IncludeDeprecated": True, "MaxResults": 5},
    "DeleteSecret": {"SecretId": "s1", "RecoveryWindowInDays": 7},
    "RestoreSecret": {"SecretId": "s1"},
    "TagResource": {"SecretId": "s1", "Tags": [{"Key": "k", "Value": "v"}]},
    "UntagResource": {"SecretId": "s1", "TagKeys": ["k"]},
    "GetRandomPassword": {"PasswordLength": 20, "ExcludeCharacters": "abc", "RequireEachIncludedType": True},
    "PutResourcePolicy": {"SecretId": "s1", "BlockPublicPolicy": True, "ResourcePolicy": json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*",
                                                 "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})},
    "GetResourcePolicy": {"SecretId": "s1"},
    "DeleteResourcePolicy": {"SecretId": "s1"},
    "ValidateResourcePolicy": {"ResourcePolicy": "{}"},
    "RotateSecret": {"SecretId": "s1", "RotationRules": {"ScheduleExpression": "rate(10 days)"},
                     "RotateImmediately": False},
    "CancelRotateSecret": {"SecretId": "s1"},
    "ReplicateSecretToRegions": {"SecretId": "s1", "AddReplicaRegions": [{"Region": "eu-west-1"}]},
    "RemoveRegionsFromReplication": {"SecretId": "s1", "RemoveReplicaRegions": ["eu-west-1"]},
    "StopReplicationToReplica": {"SecretId": "s1"},
}


def aws_seeds():
    seeds = {}
    for op, body in sorted(AWS_OPS.items()):
        target = op.split("-")[0]
        seeds[f"op-{op}"] = request("POST", "/", [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", f"secretsmanager.{target}")], body)
    return seeds


def write(target, seeds):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def main():
    ali, ten, hw, nat = alibaba_seeds(), tencent_seeds(), huawei_seeds(), native_seeds()
    caps = lambda s: {k: v for k, v in s.items() if k.startswith("capture-")}
    write("auth_alibaba", caps(ali))
    write("auth_tencent", caps(ten))
    write("auth_huawei", caps(hw))
    write("auth_sigv4", caps(nat))
    write("dialect_alibaba", ali)
    write("dialect_tencent", ten)
    write("dialect_huawei", hw)
    write("dialect_native", nat)
    write("dialect_aws", aws_seeds())
    roundtrip = {}
    kind = 0
    for prefix, seeds in (("alibaba", ali), ("tencent", ten), ("huawei", hw), ("sigv4", nat)):
        for name, data in caps(seeds).items():
            pos = (kind * 37) % 65536
            head = bytes([kind % 16, pos & 0xFF, pos >> 8, ord("x")])
            roundtrip[f"{prefix}-{name}"] = head + data
            kind += 1
    write("signature_roundtrip", roundtrip)


if __name__ == "__main__":
    main()
