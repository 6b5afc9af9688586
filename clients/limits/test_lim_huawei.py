"""Huawei's CSMS SDK under `--limits cloud`: 429 over a rate (the SDK keeps only the status:
error_code "429"), its urllib3 retry (`retry_times`, which honours Retry-After) riding it out on a
GET, and `CSMS.0202` over the quota of secrets."""
import time

import pytest

from lim_helpers import SECRETS_PER_REGION


def csms(account, retry_times=0):
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.http.http_config import HttpConfig
    from huaweicloudsdkcsms.v1 import CsmsClient

    config = HttpConfig.get_default_config()
    config.timeout = (10, 60)
    config.retry_times = retry_times
    return CsmsClient.new_builder().with_http_config(config) \
        .with_credentials(BasicCredentials(account.ak, account.sk, account.project)) \
        .with_endpoint("http://" + account.endpoint).build()


def create(client, name, value="v"):
    from huaweicloudsdkcsms.v1 import CreateSecretRequest, CreateSecretRequestBody

    return client.create_secret(CreateSecretRequest(body=CreateSecretRequestBody(name=name, secret_string=value)))


def show_value(client, name):
    from huaweicloudsdkcsms.v1 import ShowSecretVersionRequest

    return client.show_secret_version(ShowSecretVersionRequest(secret_name=name, version_id="latest"))


def test_over_the_rate_the_sdk_sees_429(account, name):
    from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException

    c = csms(account)
    create(c, name)
    with pytest.raises(ClientRequestException) as caught:
        show_value(c, name)
    e = caught.value
    assert (e.status_code, e.error_code) == (429, "429"), e


def test_sdk_retry_honours_retry_after(account, name):
    c = csms(account, retry_times=2)
    create(c, name, "patient")
    started = time.monotonic()
    assert show_value(c, name).version.secret_string == "patient"
    # Refused once; Retry-After said 1 second; the retry passed.
    assert time.monotonic() - started >= 0.9


def test_quota_of_secrets_is_csms_0202(account, name):
    from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException

    c = csms(account)
    for i in range(SECRETS_PER_REGION):
        create(c, "%s-%d" % (name, i))
        time.sleep(1.05)  # one CSMS request a second on this server
    with pytest.raises(ClientRequestException) as caught:
        create(c, name + "-over")
    e = caught.value
    assert (e.status_code, e.error_code) == (400, "CSMS.0202"), e
