"""Alibaba's secrets-manager cache clients, unmodified, reading from Coffer.

* aliyun-secret-manager-client (module alibaba_cloud_secretsmanager_client) - built on generation 1.
  Pointed at Coffer with RegionInfo(endpoint="http://127.0.0.1:PORT"): the gen-1 core connects over
  plain HTTP when the endpoint string carries the scheme (its request classes insist on https).
* alibabacloud-secretsmanager-client-v2 (module alibabacloud_secretsmanager_client_v2) - built on
  generation 2. Pointed at Coffer with add_config(Config(endpoint="127.0.0.1:PORT", protocol="http")).

Note: both clients' get_binary_value() wrap bytes with bytebuffer.ByteBuffer.wrap, which only accepts a
bytearray in every bytebuffer release, so it raises TypeError whatever the server does; binary secrets are
therefore checked through get_secret_info().
"""
import pytest

from coffer_helpers import REGION, binary_value, secret_value


@pytest.fixture
def cache_v1(coffer):
    from alibaba_cloud_secretsmanager_client.model.region_info import RegionInfo
    from alibaba_cloud_secretsmanager_client.secret_manager_cache_client_builder import \
        SecretManagerCacheClientBuilder
    from alibaba_cloud_secretsmanager_client.service.default_secret_manager_client_builder import \
        DefaultSecretManagerClientBuilder

    secret_client = (DefaultSecretManagerClientBuilder.standard()
                     .with_access_key(coffer.ak, coffer.sk)
                     .add_region_info(RegionInfo(region_id=REGION, endpoint="http://" + coffer.endpoint))
                     .build())
    client = SecretManagerCacheClientBuilder.new_cache_client_builder(secret_client).build()
    yield client
    client.close()


@pytest.fixture
def cache_v2(coffer):
    from alibabacloud_secretsmanager_client_v2.secret_manager_cache_client_builder import \
        SecretManagerCacheClientBuilder
    from alibabacloud_secretsmanager_client_v2.service.default_secret_manager_client_builder import \
        DefaultSecretManagerClientBuilder
    from alibabacloud_tea_openapi import models as open_api_models

    cfg = open_api_models.Config(access_key_id=coffer.ak, access_key_secret=coffer.sk, region_id=REGION,
                                 endpoint=coffer.endpoint, protocol="http")
    secret_client = DefaultSecretManagerClientBuilder.standard().add_config(cfg).build()
    client = SecretManagerCacheClientBuilder.new_cache_client_builder(secret_client).build()
    yield client
    client.close()


@pytest.fixture(params=["v1", "v2"])
def cache(request):
    return request.getfixturevalue("cache_" + request.param)


def test_read_text_secret(cache, gen2, name):
    value = secret_value("cache")
    gen2.call("CreateSecret", SecretName=name, VersionId="c1", SecretData=value)
    assert cache.get_secret_value(name) == value
    info = cache.get_secret_info(name)
    assert (info.secret_name, info.version_id, info.secret_data_type) == (name, "c1", "text")
    assert info.secret_value == value


def test_cached_then_refreshed(cache, gen2, name):
    v1, v2 = secret_value("1"), secret_value("2")
    gen2.call("CreateSecret", SecretName=name, VersionId="c1", SecretData=v1)
    assert cache.get_secret_value(name) == v1
    gen2.call("PutSecretValue", SecretName=name, VersionId="c2", SecretData=v2)
    assert cache.get_secret_value(name) == v1  # served from the cache
    assert cache.refresh_now(name) is True
    assert cache.get_secret_value(name) == v2
    assert cache.get_secret_info(name).version_id == "c2"


def test_read_binary_secret(cache, gen2, name):
    value = binary_value(64)
    gen2.call("CreateSecret", SecretName=name, VersionId="b1", SecretData=value, SecretDataType="binary")
    info = cache.get_secret_info(name)
    assert (info.secret_name, info.secret_data_type, info.secret_value) == (name, "binary", value)
    with pytest.raises(ValueError):
        cache.get_secret_value(name)  # the client refuses text access to a binary secret


def test_unknown_secret_raises_not_found(cache_v1, cache_v2, name):
    from aliyunsdkcore.acs_exception.exceptions import ServerException
    from Tea.exceptions import TeaException

    with pytest.raises(ServerException) as e1:
        cache_v1.get_secret_value(name)
    assert (e1.value.get_http_status(), e1.value.get_error_code()) == (404, "Forbidden.ResourceNotFound")
    with pytest.raises(TeaException) as e2:
        cache_v2.get_secret_value(name)
    assert e2.value.code == "Forbidden.ResourceNotFound"
