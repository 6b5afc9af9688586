"""GetRandomPassword through every SDK flavour."""
import string

import pytest

from coffer_helpers import expect_error

LOWER = set(string.ascii_lowercase)
UPPER = set(string.ascii_uppercase)
DIGITS = set(string.digits)
PUNCT = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
ALL = LOWER | UPPER | DIGITS | PUNCT


def pw(api, **params):
    r = api.call("GetRandomPassword", **params)
    assert r["RequestId"]
    return r["RandomPassword"]


def test_default_length_and_alphabet(api):
    p = pw(api)
    assert len(p) == 32
    assert set(p) <= ALL, set(p) - ALL
    assert pw(api) != p


@pytest.mark.parametrize("length", ["8", "128", "57"])
def test_length_bounds_ok(api, length):
    assert len(pw(api, PasswordLength=length)) == int(length)


@pytest.mark.parametrize("length", ["7", "129", "0", "-5", "abc"])
def test_length_out_of_range(api, length):
    with expect_error(400, "InvalidParameter", "PasswordLength"):
        pw(api, PasswordLength=length)


@pytest.mark.parametrize("option,excluded", [
    ("ExcludeLowercase", LOWER), ("ExcludeUppercase", UPPER), ("ExcludeNumbers", DIGITS),
    ("ExcludePunctuation", PUNCT)])
def test_each_exclude_option(api, option, excluded):
    p = pw(api, PasswordLength="128", RequireEachIncludedType="true", **{option: "true"})
    assert len(p) == 128
    assert not set(p) & excluded, set(p) & excluded
    for cls in (LOWER, UPPER, DIGITS, PUNCT):
        if cls is not excluded:
            assert set(p) & cls, "an included character class is missing from %r" % p


def test_exclude_false_keeps_class(api):
    p = pw(api, PasswordLength="128", ExcludeLowercase="false", RequireEachIncludedType="true")
    assert set(p) & LOWER


def test_exclude_characters(api):
    banned = "aeiouAEIOU01!\"'\\"
    for _ in range(3):
        p = pw(api, PasswordLength="128", ExcludeCharacters=banned)
        assert len(p) == 128
        assert not set(p) & set(banned), set(p) & set(banned)


def test_require_each_included_type(api):
    for _ in range(10):
        p = pw(api, PasswordLength="8", RequireEachIncludedType="true")
        assert len(p) == 8
        for cls in (LOWER, UPPER, DIGITS, PUNCT):
            assert set(p) & cls, p


def test_only_digits(api):
    p = pw(api, PasswordLength="40", ExcludeLowercase="true", ExcludeUppercase="true", ExcludePunctuation="true")
    assert len(p) == 40 and set(p) <= DIGITS


def test_everything_excluded(api):
    with expect_error(400, "InvalidParameter"):
        pw(api, ExcludeLowercase="true", ExcludeUppercase="true", ExcludeNumbers="true", ExcludePunctuation="true")


def test_everything_excluded_via_exclude_characters(api):
    with expect_error(400, "InvalidParameter"):
        pw(api, ExcludeLowercase="true", ExcludeUppercase="true", ExcludePunctuation="true",
           ExcludeCharacters="0123456789")
