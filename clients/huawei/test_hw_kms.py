"""Huawei KMS v1.0 routes on the CSMS endpoint, through the official KmsClient (huaweicloudsdkkms,
module v2): key lifecycle with key_alias, aliases, automatic rotation, data encryption and data
keys, a CSMS secret under a KMS key, and the same key seen through Alibaba's API."""
import base64
import hashlib
import uuid

import pytest

from hw_helpers import HwKms, expect_hw, hw_name


@pytest.fixture
def kms(coffer):
    return HwKms(coffer.endpoint, coffer.ak, coffer.sk, coffer.project_id, via="kms")


def new_alias():
    return "k_" + uuid.uuid4().hex[:12]


def create(kms, alias=None, **body):
    body.setdefault("key_alias", alias or new_alias())
    info = kms.call("create_key", body=body)["key_info"]
    assert set(info) >= {"key_id", "domain_id", "region_id"}
    return info["key_id"]


def describe(kms, kid):
    return kms.call("list_key_detail", body={"key_id": kid})["key_info"]


def all_keys(kms, **filters):
    seen, marker = [], None
    while True:
        body = dict(filters, limit="2", **({"marker": marker} if marker else {}))
        r = kms.call("list_keys", body=body)
        seen += r["key_details"]
        assert [d["key_id"] for d in r["key_details"]] == r["keys"]
        if r["truncated"] == "false":
            assert r["total"] == len(seen)
            return seen
        marker = r["next_marker"]


def test_key_lifecycle(kms):
    alias = new_alias()
    kid = create(kms, alias, key_description="payments")
    d = describe(kms, kid)
    assert (d["key_id"], d["key_alias"], d["key_description"]) == (kid, alias, "payments")
    assert (d["key_state"], d["key_spec"], d["key_usage"], d["origin"]) == ("2", "AES_256", "ENCRYPT_DECRYPT", "kms")
    assert d["default_key_flag"] == "0" and d["key_rotation_enabled"] == "false"
    assert len(d["creation_date"]) == 13 and d["scheduled_deletion_date"] == ""

    # Paging through every key shows it, and the default key under csms/default.
    listed = all_keys(kms)
    assert kid in [k["key_id"] for k in listed]
    defaults = [k for k in listed if k["default_key_flag"] == "1"]
    assert [k["key_alias"] for k in defaults] == ["csms/default"]

    kms.call("update_key_description", body={"key_id": kid, "key_description": "renamed"})
    renamed = new_alias()
    r = kms.call("update_key_alias", body={"key_id": kid, "key_alias": renamed})
    assert r["key_info"] == {"key_id": kid, "key_alias": renamed}
    d = describe(kms, kid)
    assert (d["key_description"], d["key_alias"]) == ("renamed", renamed)
    # The old name is free again.
    create(kms, alias)

    assert kms.call("disable_key", body={"key_id": kid})["key_info"] == {"key_id": kid, "key_state": "3"}
    assert kid in [k["key_id"] for k in all_keys(kms, key_state="3")]
    assert kid not in [k["key_id"] for k in all_keys(kms, key_state="2")]
    assert kms.call("enable_key", body={"key_id": kid})["key_info"]["key_state"] == "2"
    r = kms.call("delete_key", body={"key_id": kid, "pending_days": "7"})
    assert (r["key_id"], r["key_state"]) == (kid, "4")
    d = describe(kms, kid)
    assert d["key_state"] == "4" and len(d["scheduled_deletion_date"]) == 13
    with expect_hw(400, "KMS.1201"):
        kms.call("enable_key", body={"key_id": kid})
    with expect_hw(400, "KMS.0210"):
        kms.call("encrypt_data", body={"key_id": kid, "plain_text": "x"})
    with expect_hw(400, "KMS.1402"):
        kms.call("delete_key", body={"key_id": kid, "pending_days": "7"})
    # Cancelling the deletion leaves the key disabled.
    assert kms.call("cancel_key_deletion", body={"key_id": kid})["key_state"] == "3"
    with expect_hw(400, "KMS.1501"):
        kms.call("cancel_key_deletion", body={"key_id": kid})
    with expect_hw(400, "KMS.1301"):
        kms.call("disable_key", body={"key_id": kid})
    kms.call("enable_key", body={"key_id": kid})
    with expect_hw(400, "KMS.1201"):
        kms.call("enable_key", body={"key_id": kid})
    # The default key is always enabled and cannot be deleted.
    default = [k for k in all_keys(kms) if k["default_key_flag"] == "1"][0]["key_id"]
    with expect_hw(400, "KMS.0211"):
        kms.call("disable_key", body={"key_id": default})
    with expect_hw(400, "KMS.0211"):
        kms.call("delete_key", body={"key_id": default, "pending_days": "7"})


def test_aliases(kms):
    kid, other = create(kms), create(kms)
    a = "alias/" + new_alias()
    made = kms.call("create_alias", body={"key_id": kid, "alias": a})
    assert (made["key_id"], made["alias"]) == (kid, a) and made["alias_urn"].endswith(":" + a)
    listed = kms.call("list_aliases", key_id=kid)
    assert [x["alias"] for x in listed["aliases"]] == [a] or a in [x["alias"] for x in listed["aliases"]]
    with expect_hw(400, "KMS.1104"):
        kms.call("create_alias", body={"key_id": other, "alias": a})
    moved = kms.call("associate_alias", body={"alias": a, "target_key_id": other})
    assert moved["key_id"] == other
    assert a in [x["alias"] for x in kms.call("list_aliases", key_id=other)["aliases"]]
    assert a not in [x["alias"] for x in kms.call("list_aliases", key_id=kid)["aliases"]]
    with expect_hw(404, "KMS.0207"):
        kms.call("delete_alias", body={"key_id": kid, "aliases": [a]})
    kms.call("delete_alias", body={"key_id": other, "aliases": [a]})
    assert a not in [x["alias"] for x in kms.call("list_aliases")["aliases"]]
    for bad in ("noprefix", "alias/", "alias/x/default", "alias/" + "x" * 256, "alias/bad*char"):
        with expect_hw(400, "KMS.0308", "alias"):
            kms.call("create_alias", body={"key_id": kid, "alias": bad})


def test_rotation(kms):
    kid = create(kms)
    st = kms.call("show_key_rotation_status", body={"key_id": kid})
    assert (st["key_rotation_enabled"], st["number_of_rotations"], st["last_rotation_time"]) == (False, 0, "")
    kms.call("enable_key_rotation", body={"key_id": kid})
    st = kms.call("show_key_rotation_status", body={"key_id": kid})
    assert (st["key_rotation_enabled"], st["rotation_interval"]) == (True, 365)
    assert describe(kms, kid)["key_rotation_enabled"] == "true"
    kms.call("update_key_rotation_interval", body={"key_id": kid, "rotation_interval": 30})
    assert kms.call("show_key_rotation_status", body={"key_id": kid})["rotation_interval"] == 30
    for bad in (29, 366):
        with expect_hw(400, "KMS.0308", "rotation_interval"):
            kms.call("update_key_rotation_interval", body={"key_id": kid, "rotation_interval": bad})

    early = kms.call("encrypt_data", body={"key_id": kid, "plain_text": "before rotation"})["cipher_text"]
    assert kms.call("rotate_on_demand", body={"key_id": kid})["key_id"] == kid
    st = kms.call("show_key_rotation_status", body={"key_id": kid})
    assert st["number_of_rotations"] == 1 and len(st["last_rotation_time"]) == 13
    # Old ciphertexts still open after the material changed.
    assert kms.call("decrypt_data", body={"cipher_text": early})["plain_text"] == "before rotation"
    kms.call("disable_key_rotation", body={"key_id": kid})
    st = kms.call("show_key_rotation_status", body={"key_id": kid})
    assert (st["key_rotation_enabled"], st["rotation_interval"]) == (False, 30)


def test_encrypt_and_decrypt_data(kms, coffer):
    kid, other = create(kms), create(kms)
    text = "p\u00e4ssw\u00f6rd \U0001F511 " + uuid.uuid4().hex
    r = kms.call("encrypt_data", body={"key_id": kid, "plain_text": text, "additional_authenticated_data": "ctx-1"})
    assert r["key_id"] == kid
    blob = r["cipher_text"]
    base64.b64decode(blob, validate=True)
    assert len(blob) >= 128
    out = kms.call("decrypt_data", body={"cipher_text": blob, "additional_authenticated_data": "ctx-1"})
    assert (out["key_id"], out["plain_text"]) == (kid, text)
    assert base64.b64decode(out["plain_text_base64"]).decode() == text
    # The wrong context, the wrong key id, or one changed byte: refused alike.
    with expect_hw(400, "KMS.2201"):
        kms.call("decrypt_data", body={"cipher_text": blob, "additional_authenticated_data": "ctx-2"})
    with expect_hw(400, "KMS.2201"):
        kms.call("decrypt_data", body={"cipher_text": blob, "key_id": other, "additional_authenticated_data": "ctx-1"})
    raw = bytearray(base64.b64decode(blob))
    raw[-3] ^= 1
    with expect_hw(400, "KMS.2201"):
        kms.call("decrypt_data", body={"cipher_text": base64.b64encode(bytes(raw)).decode(),
                                       "additional_authenticated_data": "ctx-1"})
    # Re-encryption under another key keeps the data and moves the binding.
    re = kms.call("re_encrypt", body={"cipher_text": blob, "destination_key_id": other,
                                      "source_additional_authenticated_data": "ctx-1"})
    assert (re["key_id"], re["source_key_id"]) == (other, kid)
    assert kms.call("decrypt_data", body={"cipher_text": re["cipher_text"]})["plain_text"] == text
    # Limits and bad input.
    with expect_hw(400, "KMS.0308", "plain_text"):
        kms.call("encrypt_data", body={"key_id": kid, "plain_text": "x" * 4097})
    with expect_hw(400, "KMS.0204", "plain_text"):
        kms.call("encrypt_data", body={"key_id": kid})
    with expect_hw(400, "KMS.0308", "additional_authenticated_data"):
        kms.call("encrypt_data", body={"key_id": kid, "plain_text": "x", "additional_authenticated_data": "a" * 129})
    with expect_hw(400, "KMS.0308", "encryption_algorithm"):
        kms.call("encrypt_data", body={"key_id": kid, "plain_text": "x", "encryption_algorithm": "SM2_ENCRYPT"})
    with expect_hw(400, "KMS.2201"):
        kms.call("decrypt_data", body={"cipher_text": "not-base64!" * 20})
    with expect_hw(404, "KMS.0207"):
        kms.call("encrypt_data", body={"key_id": str(uuid.uuid4()), "plain_text": "x"})
    kms.call("disable_key", body={"key_id": kid})
    with expect_hw(400, "KMS.0209"):
        kms.call("encrypt_data", body={"key_id": kid, "plain_text": "x"})
    with expect_hw(400, "KMS.0209"):
        kms.call("decrypt_data", body={"cipher_text": blob, "additional_authenticated_data": "ctx-1"})


def test_data_keys(kms):
    kid = create(kms)
    dk = kms.call("create_datakey", body={"key_id": kid, "datakey_length": "512"})
    plain = bytes.fromhex(dk["plain_text"])
    assert len(plain) == 64
    bytes.fromhex(dk["cipher_text"])
    opened = kms.call("decrypt_datakey", body={"key_id": kid, "cipher_text": dk["cipher_text"],
                                               "datakey_cipher_length": "64"})
    assert bytes.fromhex(opened["data_key"]) == plain and opened["datakey_length"] == "64"
    assert opened["datakey_dgst"] == hashlib.sha256(plain).hexdigest()
    spec = kms.call("create_datakey", body={"key_id": kid, "key_spec": "AES_128"})
    assert len(bytes.fromhex(spec["plain_text"])) == 16
    bare = kms.call("create_datakey_without_plaintext", body={"key_id": kid, "additional_authenticated_data": "a"})
    assert set(bare) >= {"key_id", "cipher_text"} and "plain_text" not in bare
    got = kms.call("decrypt_datakey", body={"key_id": kid, "cipher_text": bare["cipher_text"],
                                            "datakey_cipher_length": "32", "additional_authenticated_data": "a"})
    assert len(bytes.fromhex(got["data_key"])) == 32
    # A key of the caller's own, sealed and opened again.
    mine = bytes(range(32))
    sealed = kms.call("encrypt_datakey", body={"key_id": kid, "plain_text": (mine + hashlib.sha256(mine).digest()).hex(),
                                               "datakey_plain_length": "32"})
    assert sealed["datakey_length"] == "32"
    back = kms.call("decrypt_datakey", body={"key_id": kid, "cipher_text": sealed["cipher_text"],
                                             "datakey_cipher_length": "32"})
    assert back["data_key"] == mine.hex()
    with expect_hw(400, "KMS.2103"):
        kms.call("encrypt_datakey", body={"key_id": kid, "plain_text": (mine + bytes(32)).hex(),
                                          "datakey_plain_length": "32"})
    for bad in ("7", "12", "8200"):
        with expect_hw(400, "KMS.0308", "datakey_length"):
            kms.call("create_datakey", body={"key_id": kid, "datakey_length": bad})
    with expect_hw(400, "KMS.2201"):
        kms.call("decrypt_datakey", body={"key_id": kid, "cipher_text": "00" * 80, "datakey_cipher_length": "32"})


def test_bad_create_key(kms):
    with expect_hw(400, "KMS.1101", "key_alias"):
        kms.call("create_key", body={"key_alias": "bad alias"})
    with expect_hw(400, "KMS.1101", "key_alias"):
        kms.call("create_key", body={"key_alias": "x/default"})
    with expect_hw(400, "KMS.0204", "key_alias"):
        kms.call("create_key", body={"key_description": "no alias"})
    with expect_hw(400, "KMS.0308", "key_spec"):
        kms.call("create_key", body={"key_alias": new_alias(), "key_spec": "RSA_2048"})
    with expect_hw(400, "KMS.1103", "key_description"):
        kms.call("create_key", body={"key_alias": new_alias(), "key_description": "d" * 256})
    with expect_hw(400, "KMS.1401", "pending_days"):
        kms.call("delete_key", body={"key_id": create(kms), "pending_days": "6"})
    with expect_hw(400, "KMS.1601", "limit"):
        kms.call("list_keys", body={"limit": "0"})
    alias = new_alias()
    create(kms, alias)
    with expect_hw(400, "KMS.1104"):
        create(kms, alias)
    with expect_hw(404, "KMS.0207"):
        describe(kms, str(uuid.uuid4()))


def test_a_secret_under_a_kms_key(kms, hw):
    kid = create(kms)
    name = hw_name()
    hw.call("create_secret", body={"name": name, "secret_string": "under a kms key", "kms_key_id": kid})
    assert hw.call("show_secret", secret_name=name)["secret"]["kms_key_id"] == kid
    # A key that protects a secret cannot be scheduled for deletion.
    with expect_hw(400, "KMS.0308", "protects"):
        kms.call("delete_key", body={"key_id": kid, "pending_days": "7"})
    kms.call("disable_key", body={"key_id": kid})
    with expect_hw(400, "CSMS.0401"):
        hw.call("show_secret_version", secret_name=name, version_id="latest")
    kms.call("enable_key", body={"key_id": kid})
    got = hw.call("show_secret_version", secret_name=name, version_id="latest")
    assert got["version"]["secret_string"] == "under a kms key"
