"""Alibaba's SDKs under `--limits cloud`: `429 Rejected.Throttling` over a rate (with the
`x-acs-retry-after` wait generation 2 reads), generation 2's retry policy riding it out, and
`400 Rejected.LimitExceeded` over the quota of secrets."""
import time

import pytest

from lim_helpers import SECRETS_PER_REGION

REGION = "cn-hangzhou"


def gen2(account, retry_options=None):
    from alibabacloud_kms20160120.client import Client
    from alibabacloud_tea_openapi import models as open_api_models

    cfg = open_api_models.Config(access_key_id=account.ak, access_key_secret=account.sk, region_id=REGION,
                                 endpoint=account.endpoint, protocol="http")
    if retry_options is not None:
        cfg.retry_options = retry_options
    return Client(cfg)


def gen1(account):
    from aliyunsdkcore.client import AcsClient

    return AcsClient(account.ak, account.sk, REGION)


def gen1_request(account, cls, **params):
    req = cls()
    req.set_endpoint(account.endpoint)
    req.set_protocol_type("http")
    for k, v in params.items():
        getattr(req, "set_" + k)(v)
    return req


def create(client, name, value="v"):
    from alibabacloud_kms20160120 import models

    return client.create_secret(models.CreateSecretRequest(secret_name=name, version_id="v1", secret_data=value))


def read(client, name):
    from alibabacloud_kms20160120 import models

    return client.get_secret_value(models.GetSecretValueRequest(secret_name=name))


def test_gen2_raises_throttling_exception_with_the_wait(account, name):
    from alibabacloud_tea_openapi.exceptions import ThrottlingException

    c = gen2(account)
    create(c, name)
    assert read(c, name).body.secret_data == "v"
    with pytest.raises(ThrottlingException) as caught:
        read(c, name)
    e = caught.value
    assert (e.status_code, e.code) == (429, "Rejected.Throttling"), e
    # One read a second: the next token is at most a second away (the SDK reads milliseconds).
    assert 1 <= e.retry_after <= 1000, e.retry_after
    assert e.request_id and e.request_id != "None"


def test_gen2_retry_policy_waits_and_succeeds(account, name):
    """Generation 2 makes one attempt unless told to retry; with a retry condition on
    Rejected.Throttling it sleeps the x-acs-retry-after the server sent and the call passes."""
    from darabonba.policy.retry import RetryCondition, RetryOptions

    retry = RetryOptions({"retryable": True, "retryCondition": [
        RetryCondition({"maxAttempts": 3, "errorCode": ["Rejected.Throttling"], "maxDelay": 5000})]})
    c = gen2(account, retry)
    create(c, name, "patient")
    read(c, name)
    started = time.monotonic()
    assert read(c, name).body.secret_data == "patient"
    waited = time.monotonic() - started
    # It was refused once, then waited the token's time (under a second) before the retry.
    assert 0.2 <= waited < 3, waited


def test_gen1_reports_the_throttling_code(account, name):
    from aliyunsdkcore.acs_exception.exceptions import ServerException
    from aliyunsdkkms.request.v20160120.GetSecretValueRequest import GetSecretValueRequest

    create(gen2(account), name)
    client = gen1(account)
    client.do_action_with_exception(gen1_request(account, GetSecretValueRequest, SecretName=name))
    with pytest.raises(ServerException) as caught:
        client.do_action_with_exception(gen1_request(account, GetSecretValueRequest, SecretName=name))
    e = caught.value
    assert (e.get_http_status(), e.get_error_code()) == (429, "Rejected.Throttling"), e


def test_quota_of_secrets_is_rejected_limit_exceeded(account, name):
    from alibabacloud_tea_openapi.exceptions import ClientException

    c = gen2(account)
    for i in range(SECRETS_PER_REGION):
        create(c, "%s-%d" % (name, i))
    with pytest.raises(ClientException) as caught:
        create(c, name + "-over")
    e = caught.value
    assert (e.status_code, e.code) == (400, "Rejected.LimitExceeded"), e
    assert str(SECRETS_PER_REGION) in e.message
