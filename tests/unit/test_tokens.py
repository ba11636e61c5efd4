from __future__ import annotations

import pytest

from tokenstore import tokens
from tokenstore.errors import InvalidToken
from tokenstore.tokens import Keyring, SigningKey

KEYS = Keyring.parse("k2:new-secret-0123456789abcdef,k1:old-secret-0123456789abcdef")


def test_minted_token_verifies_to_its_hash() -> None:
    minted = tokens.mint(KEYS)
    assert tokens.verify(KEYS, minted.token) == minted.token_hash


def test_token_is_short_url_safe_and_carries_128_random_bits() -> None:
    minted = tokens.mint(KEYS)
    kid, secret, _mac = minted.token.split(".")
    assert kid == "k2"
    assert len(minted.token) <= 45
    assert all(c.isalnum() or c in "-_." for c in minted.token)
    assert len(secret) * 6 >= 128


def test_tokens_are_unique() -> None:
    assert len({tokens.mint(KEYS).token for _ in range(1000)}) == 1000


def test_hash_is_not_the_token() -> None:
    minted = tokens.mint(KEYS)
    assert minted.token.encode() != minted.token_hash
    assert len(minted.token_hash) == 32


def test_token_signed_with_rotated_out_key_still_verifies() -> None:
    old = Keyring.parse("k1:old-secret-0123456789abcdef")
    minted = tokens.mint(old)
    assert tokens.verify(KEYS, minted.token) == minted.token_hash


def test_token_of_a_removed_key_is_rejected() -> None:
    minted = tokens.mint(KEYS)
    only_old = Keyring.parse("k1:old-secret-0123456789abcdef")
    with pytest.raises(InvalidToken, match="unknown key"):
        tokens.verify(only_old, minted.token)


def test_same_kid_with_another_secret_is_rejected() -> None:
    minted = tokens.mint(KEYS)
    impostor = Keyring.parse("k2:someone-elses-secret-0123456789")
    with pytest.raises(InvalidToken, match="bad signature"):
        tokens.verify(impostor, minted.token)


def _flip(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


@pytest.mark.parametrize("position", ["secret", "mac"])
def test_forged_token_is_rejected(position: str) -> None:
    kid, secret, mac = tokens.mint(KEYS).token.split(".")
    if position == "secret":
        secret = _flip(secret, 3)
    else:
        mac = _flip(mac, 3)
    with pytest.raises(InvalidToken):
        tokens.verify(KEYS, f"{kid}.{secret}.{mac}")


@pytest.mark.parametrize(
    "garbled",
    [
        "",
        "k2",
        "k2..",
        "nonsense",
        "k2.abc.def",
        "x" * 500,
        "k2.ÄÖÜÄÖÜÄÖÜÄÖÜÄÖÜÄÖÜÄÖ.AAAAAAAAAAAAAAAA",
        "../../etc/passwd",
    ],
)
def test_garbled_token_is_rejected(garbled: str) -> None:
    with pytest.raises(InvalidToken):
        tokens.verify(KEYS, garbled)


def test_truncated_token_is_rejected() -> None:
    token = tokens.mint(KEYS).token
    for cut in (1, 5, 17, len(token) - 1):
        with pytest.raises(InvalidToken):
            tokens.verify(KEYS, token[:cut])


def test_token_with_extra_part_is_rejected() -> None:
    with pytest.raises(InvalidToken):
        tokens.verify(KEYS, tokens.mint(KEYS).token + ".x")


def test_non_canonical_base64_spelling_is_rejected() -> None:
    kid, secret, mac = tokens.mint(KEYS).token.split(".")
    # The last character of 22 base64 chars carries 2 padding bits; changing them decodes
    # to the same bytes, which must not make a second valid URL for one link.
    last = secret[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    sibling = alphabet[(alphabet.index(last) & ~0b1111) | 0b0001]
    if sibling == last:
        sibling = alphabet[(alphabet.index(last) & ~0b1111) | 0b0010]
    with pytest.raises(InvalidToken):
        tokens.verify(KEYS, f"{kid}.{secret[:-1]}{sibling}.{mac}")


def test_redact_keeps_no_usable_part() -> None:
    token = tokens.mint(KEYS).token
    shown = tokens.redact(token)
    assert shown.startswith("k2.")
    assert token.split(".")[1] not in shown
    assert len(shown) < 12


def test_keys_and_minted_tokens_do_not_show_secrets_in_repr() -> None:
    minted = tokens.mint(KEYS)
    assert "secret" not in repr(KEYS.current).replace("secret=***", "")
    assert minted.token not in repr(minted)


@pytest.mark.parametrize(
    "text",
    ["", "k1", "k1:", ":secret-0123456789abcdef", "k1:short", "bad kid!:secret-0123456789abcdef"],
)
def test_bad_key_configuration_is_refused(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - message varies by the mistake
        Keyring.parse(text)


def test_duplicate_kids_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        Keyring((SigningKey("a", b"x" * 16), SigningKey("a", b"y" * 16)))


def test_fingerprint_is_stable_keyed_and_not_the_input() -> None:
    other = Keyring.parse("k9:another-secret-0123456789abcdef")
    assert KEYS.fingerprint("10.0.0.1") == KEYS.fingerprint("10.0.0.1")
    assert KEYS.fingerprint("10.0.0.1") != other.fingerprint("10.0.0.1")
    assert "10.0.0.1" not in KEYS.fingerprint("10.0.0.1")
