"""Tencent's SDK under `--limits cloud`: `RequestLimitExceeded` over an API's rate (at HTTP 200,
as Tencent answers), the SDK's StandardRetryer riding it out, and `LimitExceeded` over the quota
of secrets per region, which GetServiceStatus reports."""
import time

import pytest

from lim_helpers import SECRETS_PER_REGION

REGION = "ap-guangzhou"


def ssm(account, retryer=None):
    from tencentcloud.common import credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.ssm.v20190923 import ssm_client

    profile = ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=account.endpoint, reqTimeout=30))
    if retryer is not None:
        profile.retryer = retryer
    return ssm_client.SsmClient(credential.Credential(account.ak, account.sk), REGION, profile)


def create(client, name, value="v"):
    from tencentcloud.ssm.v20190923 import models

    req = models.CreateSecretRequest()
    req.SecretName, req.SecretString = name, value
    return client.CreateSecret(req)


def read(client, name):
    from tencentcloud.ssm.v20190923 import models

    req = models.GetSecretValueRequest()
    req.SecretName, req.VersionId = name, "SSM_Current"
    return client.GetSecretValue(req)


def test_request_limit_exceeded_per_api(account, name):
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
    from tencentcloud.ssm.v20190923 import models

    c = ssm(account)
    create(c, name)
    assert read(c, name).SecretString == "v"
    with pytest.raises(TencentCloudSDKException) as caught:
        read(c, name)
    assert caught.value.get_code() == "RequestLimitExceeded", caught.value
    assert caught.value.get_request_id()
    # Each API has its own limit: DescribeSecret goes on.
    req = models.DescribeSecretRequest()
    req.SecretName = name
    assert c.DescribeSecret(req).SecretName == name


def test_standard_retryer_retries_it_and_its_backoff_is_enough(account, name):
    """The SDK's StandardRetryer counts RequestLimitExceeded as retryable, and its first backoff
    (1 s) is enough for the next request to pass. (The retryer itself is not used end to end:
    tencentcloud-sdk-python-common 3.1.195's send_request never clears the first attempt's error,
    so a retry that succeeds is still reported as that error, whatever the server answers.)"""
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
    from tencentcloud.common.retry import StandardRetryer

    c = ssm(account)
    create(c, name, "patient")
    read(c, name)
    with pytest.raises(TencentCloudSDKException) as caught:
        read(c, name)
    assert StandardRetryer.should_retry(None, caught.value)
    time.sleep(StandardRetryer.backoff(0))
    assert read(c, name).SecretString == "patient"


def test_quota_of_secrets_is_limit_exceeded(account, name):
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
    from tencentcloud.ssm.v20190923 import models

    c = ssm(account)
    for i in range(SECRETS_PER_REGION):
        create(c, "%s-%d" % (name, i))
    with pytest.raises(TencentCloudSDKException) as caught:
        create(c, name + "-over")
    assert caught.value.get_code() == "LimitExceeded", caught.value
    status = c.GetServiceStatus(models.GetServiceStatusRequest())
    assert (status.SecretLimit, status.TotalCount) == (SECRETS_PER_REGION, SECRETS_PER_REGION)
