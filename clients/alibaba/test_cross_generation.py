"""Values written through one SDK flavour read back byte-exact through every other one (the flavours
encode differently: gen 1 puts SecretData in the URL with %20, gen 2 in a form body with '+')."""
import itertools

import pytest

from coffer_helpers import make_api, unique

KINDS = ["gen1", "gen2", "gen2v2"]
AWKWARD = [
    "plain",
    "spaces and+plus and %20 and %2B and ~tilde* and &amp; = ; / ? # [ ] @ ! $ ' ( ) , :",
    "unicode: caf\u00e9 \u4e2d\u6587 \u0414\u0430 \U0001F600 \u00a0nbsp",
    "  leading and trailing spaces  ",
    "line1\nline2\r\nline3\ttab",
    '{"user": "root", "passwd": "p@ss+w0rd/=="}',
]


@pytest.mark.parametrize("writer,reader", list(itertools.product(KINDS, KINDS)))
def test_value_roundtrip_between_flavours(coffer, writer, reader):
    w, r = make_api(writer, coffer), make_api(reader, coffer)
    name = unique("x")
    w.call("CreateSecret", SecretName=name, VersionId="v0", SecretData=AWKWARD[0])
    for i, value in enumerate(AWKWARD[1:], 1):
        w.call("PutSecretValue", SecretName=name, VersionId="v%d" % i, SecretData=value)
        got = r.call("GetSecretValue", SecretName=name)
        assert (got["VersionId"], got["SecretData"]) == ("v%d" % i, value), (writer, reader)
    described = r.call("DescribeSecret", SecretName=name)
    assert described["SecretName"] == name


@pytest.mark.parametrize("kind", KINDS)
def test_description_and_tags_with_awkward_text(coffer, kind):
    api = make_api(kind, coffer)
    name = unique("d")
    desc = "Desc + plus & amp = eq %20 caf\u00e9 \U0001F600"
    api.call("CreateSecret", SecretName=name, VersionId="v1", SecretData="x", Description=desc,
             Tags='[{"TagKey":"a+b","TagValue":"c d:e@f/g=h"}]')
    for reader in KINDS:
        d = make_api(reader, coffer).call("DescribeSecret", SecretName=name, FetchTags="true")
        assert d["Description"] == desc
        assert d["Tags"]["Tag"] == [{"TagKey": "a+b", "TagValue": "c d:e@f/g=h"}]
