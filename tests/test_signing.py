"""twinframe.signing: HMAC-signed values that round-trip and refuse any tampering."""

from __future__ import annotations

import re

import pytest

from twinframe import signing
from twinframe.cookies import format_set_cookie
from twinframe.signing import BadSignature, SignatureExpired, sign, unsign

SECRET = "s3cret-for-tests"


VALUES = ["Post created", "", 'héllo; "quoted", ünïcode ✓', "a.b.c", "x" * 2000]


@pytest.mark.parametrize("value", VALUES)
def test_round_trip(value: str) -> None:
    token = sign(value, SECRET)
    assert unsign(token, SECRET) == value
    assert unsign(token, SECRET.encode()) == value


def test_token_is_cookie_and_url_safe() -> None:
    token = sign('Post created; "quoted", \\ ünïcode', SECRET)
    assert re.fullmatch(r"[A-Za-z0-9_\-.]+", token)
    format_set_cookie("flash", token)  # raises if a browser would split it


def test_wrong_secret_is_refused() -> None:
    with pytest.raises(BadSignature):
        unsign(sign("hello", SECRET), "another-secret")


def test_any_single_character_change_is_refused() -> None:
    token = sign("Post created", SECRET)
    for i, char in enumerate(token):
        replacement = "A" if char != "A" else "B"
        forged = token[:i] + replacement + token[i + 1 :]
        with pytest.raises(BadSignature):
            unsign(forged, SECRET)


def test_forged_value_with_old_signature_is_refused() -> None:
    token = sign("Post created", SECRET)
    _, stamp, mac = token.split(".")
    forged_value = signing._b64encode(b"<script>alert(1)</script>")
    with pytest.raises(BadSignature):
        unsign(f"{forged_value}.{stamp}.{mac}", SECRET)


GARBAGE = ["", ".", "..", "abc", "a.b", "a.b.c", "é.1.x", "\x00", "a" * 500]


@pytest.mark.parametrize("garbage", GARBAGE)
def test_garbage_is_refused_cleanly(garbage: str) -> None:
    with pytest.raises(BadSignature):
        unsign(garbage, SECRET)


def test_valid_mac_over_malformed_message_is_refused() -> None:
    key = signing._key(SECRET)
    for message in ["!!!.123", "aGk.notanumber", "_w.1"]:  # bad base64, bad stamp, bad utf-8
        with pytest.raises(BadSignature, match="malformed"):
            unsign(f"{message}.{signing._mac(key, message)}", SECRET)


def test_max_age(monkeypatch: pytest.MonkeyPatch) -> None:
    now = 1_700_000_000.0
    monkeypatch.setattr(signing.time, "time", lambda: now)
    token = sign("flash", SECRET)
    now += 59
    assert unsign(token, SECRET, max_age=60) == "flash"
    assert unsign(token, SECRET) == "flash"  # no max_age: never expires
    now += 2
    with pytest.raises(SignatureExpired):
        unsign(token, SECRET, max_age=60)
    assert issubclass(SignatureExpired, BadSignature)


def test_empty_secret_is_an_error() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        sign("x", "")
    with pytest.raises(ValueError, match="must not be empty"):
        unsign("x.1.y", b"")
