"""Every official client of the other suites, over HTTPS, against a coffer whose certificate comes
from a throwaway CA: the way each one is told to trust that CA, and that it really checks (a client
given another CA is refused).

How each client trusts a private CA (what the README's TLS section says):

* Alibaba generation 2 (alibabacloud-tea-openapi / darabonba): ``Config(protocol="https", ca=PATH)``
  (or ``RuntimeOptions.ca``); the environment's ``SSL_CERT_FILE`` also works, since darabonba starts
  from Python's default verify paths before adding certifi's bundle.
* Alibaba generation 1 (aliyun-python-sdk-core): ``AcsClient(..., verify=PATH)`` or the
  ``ALIBABA_CLOUD_CA_BUNDLE`` variable, with ``request.set_protocol_type("https")``.
* The secrets-manager cache clients: V2 takes the generation-2 ``Config`` (its ``ca``); the classic
  aliyun-secret-manager-client builds its ``AcsClient`` with ``verify=False`` for KMS endpoints, so it
  speaks TLS but checks no certificate at all (pinned below, so the README stays true).
* Tencent (tencentcloud-sdk-python): ``HttpProfile(protocol="https", certification=PATH)``; it passes
  certifi's bundle to requests explicitly otherwise, so ``REQUESTS_CA_BUNDLE`` is not read.
* tccli has no CA option: it uses certifi's bundle, so the CA goes into that bundle (here: a copy of
  the certifi package with the CA appended, put first on ``PYTHONPATH``; the shared venv is not
  touched).
* Huawei (huaweicloudsdkcore): ``HttpConfig.ssl_ca_cert = PATH`` with ``ignore_ssl_verification =
  False``, or ``REQUESTS_CA_BUNDLE``.

Pooled connections: generation 2 keeps one requests session per process for every client, so a
client told the wrong CA could ride a connection another client verified. The refusals therefore
address the server as ``localhost`` (a name of its certificate too) and the successes as
``127.0.0.1``, and the environment-variable cases run in a child process.
"""
import datetime
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

_HERE = Path(__file__).resolve().parent
for _p in (_HERE.parent / "alibaba", _HERE.parent / "tencent", _HERE.parent / "huawei"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from coffer_helpers import (REGION, AdminCli, Gen1, coffer_binary, secret_value, session_server,  # noqa: E402
                            spawn_coffer, tail, unique)
from hw_helpers import DEFAULT_REGION as HW_REGION  # noqa: E402
from hw_helpers import Hw, random_project_id  # noqa: E402
from tc_helpers import REGION as TC_REGION  # noqa: E402
from tc_helpers import VENV_BIN  # noqa: E402

PYTHON = sys.executable


# ----------------------------------------------------------------------------- a throwaway CA
def _make_ca(directory, name):
    """A CA certificate and key (EC P-256), valid for a month."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    path = Path(directory) / ("%s.pem" % name.replace(" ", "-"))
    path.write_bytes(_pem(cert))
    return SimpleNamespace(cert=cert, key=key, path=path, subject=subject)


def _pem(cert):
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _make_server_cert(directory, ca):
    """A server certificate for 127.0.0.1 and localhost, issued by `ca`; its key file is 0600."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "coffer under test")]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
            .sign(ca.key, hashes.SHA256()))
    cert_path = Path(directory) / "server.pem"
    cert_path.write_bytes(_pem(cert))
    key_path = Path(directory) / "server.key"
    fd = os.open(str(key_path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """The CA coffer's certificate comes from, the server's certificate and key, and a stranger CA."""
    d = tmp_path_factory.mktemp("pki")
    ca = _make_ca(d, "coffer test CA")
    stranger = _make_ca(d, "stranger CA")
    cert, key = _make_server_cert(d, ca)
    return SimpleNamespace(ca=str(ca.path), stranger=str(stranger.path), cert=str(cert), key=str(key), dir=d)


# ----------------------------------------------------------------------------- the server, over https
def _wait_https(srv, ca, timeout=60):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline and srv.proc.poll() is None:
        try:
            if requests.get("https://%s/healthz" % srv.endpoint, timeout=2, verify=ca).status_code == 200:
                return srv
        except requests.RequestException as e:
            last = e
        time.sleep(0.1)
    if srv.proc.poll() is None:
        srv.proc.kill()
        srv.proc.wait()
    srv.log_file.close()
    pytest.fail("coffer did not answer over https (%s; exit code %s). Log:\n%s"
                % (last, srv.proc.returncode, tail(srv.log_text())), pytrace=False)


@pytest.fixture(scope="session")
def coffer(pki, tmp_path_factory):
    """`coffer serve --tls-cert --tls-key` for the whole suite (the Huawei project in its default
    region); SIGTERM at the end, then the log and data dir are checked like every suite's."""
    if os.environ.get("COFFER_TEST_ENDPOINT"):
        pytest.skip("the TLS suite starts its own server with its own certificate")
    binary = coffer_binary()
    tmp = tmp_path_factory.mktemp("coffer-tls")
    ak = "AKIDtls" + os.urandom(8).hex()
    sk = "tls-" + os.urandom(16).hex()
    project = random_project_id()

    def start():
        env = {k: v for k, v in os.environ.items() if not k.startswith(("COFFER_", "HUAWEICLOUD_"))}
        env["COFFER_BOOTSTRAP_HUAWEI_PROJECT_ID"] = project
        srv = spawn_coffer(binary, tmp / "data", tmp / "coffer.log", ak, sk, env=env,
                           extra_args=["--tls-cert", pki.cert, "--tls-key", pki.key,
                                       "--default-region", HW_REGION])
        srv.project_id = project
        srv.port = int(srv.endpoint.rsplit(":", 1)[1])
        return _wait_https(srv, pki.ca)

    yield from session_server("tls", start)


def _localhost(coffer):
    return "localhost:%d" % coffer.port


def _certificate_refused(text):
    text = str(text)
    return "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text


def run_python(code, env_extra):
    """Runs `code` in a child interpreter of this venv (a process with no pooled connections)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "ALIBABA_CLOUD_CA_BUNDLE")}
    env.update(env_extra)
    return subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_plain_http_is_not_served_on_the_https_port(coffer):
    with pytest.raises(requests.ConnectionError):
        requests.get("http://%s/healthz" % coffer.endpoint, timeout=5)


# ----------------------------------------------------------------------------- Alibaba generation 2
def _gen2(endpoint, coffer, ca, signature_algorithm=None):
    from alibabacloud_kms20160120.client import Client
    from alibabacloud_tea_openapi import models as open_api_models

    cfg = open_api_models.Config(access_key_id=coffer.ak, access_key_secret=coffer.sk, region_id=REGION,
                                 endpoint=endpoint, protocol="https", ca=ca)
    if signature_algorithm:
        cfg.signature_algorithm = signature_algorithm
    return Client(cfg)


@pytest.mark.parametrize("signature", [None, "v2"], ids=["acs3", "rpc-v1"])
def test_alibaba_gen2_over_https(coffer, pki, signature):
    from alibabacloud_kms20160120 import models

    client = _gen2(coffer.endpoint, coffer, pki.ca, signature)
    name, value = unique("tls-gen2"), secret_value("gen2")
    client.create_secret(models.CreateSecretRequest(secret_name=name, version_id="v1", secret_data=value))
    got = client.get_secret_value(models.GetSecretValueRequest(secret_name=name)).body
    assert (got.secret_name, got.version_id, got.secret_data) == (name, "v1", value)


def test_alibaba_gen2_refuses_a_server_its_ca_did_not_issue(coffer, pki):
    from alibabacloud_kms20160120 import models

    client = _gen2(_localhost(coffer), coffer, pki.stranger)
    with pytest.raises(Exception) as e:
        client.list_secrets(models.ListSecretsRequest())
    assert _certificate_refused(e.value), e.value


def test_alibaba_gen2_trusts_ssl_cert_file(coffer, pki):
    code = """
from alibabacloud_kms20160120.client import Client
from alibabacloud_kms20160120 import models
from alibabacloud_tea_openapi import models as om
cfg = om.Config(access_key_id=%r, access_key_secret=%r, region_id=%r, endpoint=%r, protocol="https")
print(Client(cfg).list_secrets(models.ListSecretsRequest()).body.request_id)
""" % (coffer.ak, coffer.sk, REGION, coffer.endpoint)
    ok = run_python(code, {"SSL_CERT_FILE": pki.ca})
    assert ok.returncode == 0 and ok.stdout.strip(), ok.stderr[-3000:]
    refused = run_python(code, {})
    assert refused.returncode != 0 and _certificate_refused(refused.stderr), refused.stderr[-3000:]


# ----------------------------------------------------------------------------- Alibaba generation 1
class Gen1Https(Gen1):
    """The generation-1 helper, over https, trusting `ca` (None: ALIBABA_CLOUD_CA_BUNDLE or certifi)."""

    def __init__(self, endpoint, ak, sk, ca):
        super().__init__(endpoint, ak, sk)
        self.kind = "gen1-https"
        if ca is not None:
            self.client.set_verify(ca)

    def prepare(self, req):
        req.set_endpoint(self.endpoint)
        req.set_protocol_type("https")
        return req


def test_alibaba_gen1_over_https(coffer, pki):
    api = Gen1Https(coffer.endpoint, coffer.ak, coffer.sk, pki.ca)
    name, value = unique("tls-gen1"), secret_value("gen1")
    api.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=value)
    got = api.call("GetSecretValue", SecretName=name)
    assert (got["SecretName"], got["SecretData"]) == (name, value)


def test_alibaba_gen1_trusts_alibaba_cloud_ca_bundle(coffer, pki, monkeypatch):
    monkeypatch.setenv("ALIBABA_CLOUD_CA_BUNDLE", pki.ca)
    api = Gen1Https(coffer.endpoint, coffer.ak, coffer.sk, None)
    assert api.call("ListSecrets")["RequestId"]


def test_alibaba_gen1_refuses_a_server_its_ca_did_not_issue(coffer, pki):
    from aliyunsdkcore.acs_exception.exceptions import ClientException

    api = Gen1Https(_localhost(coffer), coffer.ak, coffer.sk, pki.stranger)
    with pytest.raises(ClientException) as e:
        api.call("ListSecrets")
    assert _certificate_refused(e.value.get_error_msg()), e.value


# ----------------------------------------------------------------------------- the cache clients
def test_secrets_manager_cache_client_v2_over_https(coffer, pki):
    from alibabacloud_kms20160120 import models
    from alibabacloud_secretsmanager_client_v2.secret_manager_cache_client_builder import \
        SecretManagerCacheClientBuilder
    from alibabacloud_secretsmanager_client_v2.service.default_secret_manager_client_builder import \
        DefaultSecretManagerClientBuilder
    from alibabacloud_tea_openapi import models as open_api_models

    name, value = unique("tls-cache2"), secret_value("cache2")
    _gen2(coffer.endpoint, coffer, pki.ca).create_secret(
        models.CreateSecretRequest(secret_name=name, version_id="c1", secret_data=value))
    cfg = open_api_models.Config(access_key_id=coffer.ak, access_key_secret=coffer.sk, region_id=REGION,
                                 endpoint=coffer.endpoint, protocol="https", ca=pki.ca)
    client = SecretManagerCacheClientBuilder.new_cache_client_builder(
        DefaultSecretManagerClientBuilder.standard().add_config(cfg).build()).build()
    try:
        assert client.get_secret_value(name) == value
        assert client.get_secret_info(name).version_id == "c1"
    finally:
        client.close()


def _cache_v1(coffer, endpoint):
    from alibaba_cloud_secretsmanager_client.model.region_info import RegionInfo
    from alibaba_cloud_secretsmanager_client.secret_manager_cache_client_builder import \
        SecretManagerCacheClientBuilder
    from alibaba_cloud_secretsmanager_client.service.default_secret_manager_client_builder import \
        DefaultSecretManagerClientBuilder

    secret_client = (DefaultSecretManagerClientBuilder.standard()
                     .with_access_key(coffer.ak, coffer.sk)
                     .add_region_info(RegionInfo(region_id=REGION, endpoint="https://" + endpoint))
                     .build())
    return SecretManagerCacheClientBuilder.new_cache_client_builder(secret_client).build()


@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")
def test_classic_cache_client_over_https_checks_no_certificate(coffer, pki, monkeypatch):
    """aliyun-secret-manager-client reads over https, and trusts even a server whose CA it was never
    given (it builds its AcsClient with verify=False): the README warns about exactly this."""
    from alibabacloud_kms20160120 import models

    name, value = unique("tls-cache1"), secret_value("cache1")
    _gen2(coffer.endpoint, coffer, pki.ca).create_secret(
        models.CreateSecretRequest(secret_name=name, version_id="c1", secret_data=value))
    monkeypatch.setenv("ALIBABA_CLOUD_CA_BUNDLE", pki.stranger)
    client = _cache_v1(coffer, _localhost(coffer))
    try:
        assert client.get_secret_value(name) == value
    finally:
        client.close()


# ----------------------------------------------------------------------------- Tencent
def _tc(endpoint, coffer, ca, sign_method=None):
    from tencentcloud.common import credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.ssm.v20190923 import ssm_client

    hp = HttpProfile(protocol="https", endpoint=endpoint, certification=ca)
    hp.reqTimeout = 30
    profile = ClientProfile(httpProfile=hp, signMethod=sign_method)
    return ssm_client.SsmClient(credential.Credential(coffer.ak, coffer.sk), TC_REGION, profile)


@pytest.mark.parametrize("sign_method", [None, "HmacSHA256"], ids=["tc3", "v1"])
def test_tencent_sdk_over_https(coffer, pki, sign_method):
    from tencentcloud.ssm.v20190923 import models

    client = _tc(coffer.endpoint, coffer, pki.ca, sign_method)
    name, value = unique("tls-tc"), secret_value("tc")
    req = models.CreateSecretRequest()
    req.from_json_string(json.dumps({"SecretName": name, "VersionId": "v1", "SecretString": value}))
    client.CreateSecret(req)
    req = models.GetSecretValueRequest()
    req.from_json_string(json.dumps({"SecretName": name, "VersionId": "v1"}))
    got = client.GetSecretValue(req)
    assert (got.SecretName, got.VersionId, got.SecretString) == (name, "v1", value)


def test_tencent_sdk_refuses_a_server_its_ca_did_not_issue(coffer, pki):
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
    from tencentcloud.ssm.v20190923 import models

    client = _tc(_localhost(coffer), coffer, pki.stranger)
    with pytest.raises(TencentCloudSDKException) as e:
        client.ListSecrets(models.ListSecretsRequest())
    assert e.value.code == "ClientNetworkError" and _certificate_refused(e.value.message), e.value


@pytest.fixture(scope="session")
def certifi_with_ca(pki, tmp_path_factory):
    """A copy of the certifi package whose bundle also holds the test CA, for PYTHONPATH."""
    import certifi

    root = tmp_path_factory.mktemp("certifi-with-ca")
    shutil.copytree(Path(certifi.__file__).parent, root / "certifi")
    with open(root / "certifi" / "cacert.pem", "ab") as bundle:
        bundle.write(b"\n" + Path(pki.ca).read_bytes())
    return root


def _tccli(coffer, home, endpoint, pythonpath, action, **params):
    args = [str(VENV_BIN / "tccli"), "ssm", action, "--region", TC_REGION, "--endpoint", endpoint]
    for k, v in params.items():
        args += ["--" + k, str(v)]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TENCENTCLOUD_", "TCCLI_", "TKE_")) and k != "PYTHONPATH"}
    env.update(HOME=str(home), TENCENTCLOUD_SECRET_ID=coffer.ak, TENCENTCLOUD_SECRET_KEY=coffer.sk)
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=120)


def test_tccli_over_https_with_the_ca_in_its_certifi_bundle(coffer, certifi_with_ca, tmp_path):
    name, value = unique("tls-tccli"), secret_value("tccli")
    endpoint = "https://" + coffer.endpoint
    made = _tccli(coffer, tmp_path, endpoint, certifi_with_ca, "CreateSecret", SecretName=name, VersionId="v1",
                  SecretString=value)
    assert made.returncode == 0, made.stderr[-3000:]
    got = _tccli(coffer, tmp_path, endpoint, certifi_with_ca, "GetSecretValue", SecretName=name, VersionId="v1")
    assert got.returncode == 0, got.stderr[-3000:]
    assert json.loads(got.stdout)["SecretString"] == value
    # Without the CA in its bundle, tccli refuses the server.
    refused = _tccli(coffer, tmp_path, endpoint, None, "ListSecrets")
    assert refused.returncode != 0 and _certificate_refused(refused.stderr), refused.stderr[-3000:]


# ----------------------------------------------------------------------------- Huawei
class HwHttps(Hw):
    """The Huawei helper's CsmsClient over https, trusting `ca` (None: REQUESTS_CA_BUNDLE or certifi)."""

    def __init__(self, endpoint, ak, sk, project_id, ca):
        from huaweicloudsdkcore.auth.credentials import BasicCredentials
        from huaweicloudsdkcore.http.http_config import HttpConfig
        from huaweicloudsdkcore.http.http_handler import HttpHandler

        self.endpoint = endpoint
        self.project_id = project_id
        self.via = "sdk-https"
        self.last_http = None
        self.last_model = None
        config = HttpConfig.get_default_config()
        config.ignore_ssl_verification = False
        if ca is not None:
            config.ssl_ca_cert = ca
        config.timeout = (10, 60)
        handler = HttpHandler().add_response_handler(self._record)
        self.client = (self.client_class().new_builder().with_http_config(config)
                       .with_credentials(BasicCredentials(ak, sk, project_id)).with_http_handler(handler)
                       .with_endpoint("https://" + endpoint).build())


def test_huawei_sdk_over_https(coffer, pki):
    hw = HwHttps(coffer.endpoint, coffer.ak, coffer.sk, coffer.project_id, pki.ca)
    name, value = unique("tls-hw"), secret_value("hw")
    hw.call("create_secret", body={"name": name, "secret_string": value})
    got = hw.call("show_secret_version", secret_name=name, version_id="latest")["version"]
    assert got["secret_string"] == value


def test_huawei_sdk_trusts_requests_ca_bundle(coffer, pki, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", pki.ca)
    hw = HwHttps(coffer.endpoint, coffer.ak, coffer.sk, coffer.project_id, None)
    assert "secrets" in hw.call("list_secrets")


def test_huawei_sdk_refuses_a_server_its_ca_did_not_issue(coffer, pki):
    from huaweicloudsdkcore.exceptions.exceptions import SslHandShakeException

    hw = HwHttps(_localhost(coffer), coffer.ak, coffer.sk, coffer.project_id, pki.stranger)
    with pytest.raises(SslHandShakeException) as e:
        hw.call("list_secrets")
    assert _certificate_refused(e.value), e.value


# ----------------------------------------------------------------------------- coffer's own admin CLI
def test_admin_cli_over_https_with_ca_file(coffer, pki):
    cli = AdminCli(coffer)
    https = {"COFFER_ENDPOINT": "https://" + coffer.endpoint}
    accounts = cli.json("account", "list", env_extra=dict(https, COFFER_CA_FILE=pki.ca))
    assert len(accounts["Accounts"]) == 1
    err = cli.fails("account", "list", env_extra=dict(https, COFFER_CA_FILE=pki.stranger))
    assert "cannot reach coffer" in err and "certificate" in err.lower(), err
