"""Link tokens: random, signed with a rotating key, stored only as a hash.

A token reads ``<kid>.<secret>.<mac>``: 16 random bytes and a 12-byte HMAC-SHA256 tag, both
base64url without padding. About 42 characters, short enough for an SMS. The tag lets the
link server turn away a forged or garbled token without asking the database; only the
SHA-256 of the secret is stored, so a database dump grants nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from tokenstore.errors import InvalidToken
from tokenstore.types import TokenHash

SECRET_BYTES = 16
MAC_BYTES = 12
KID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
MIN_KEY_BYTES = 16
SEPARATOR = "."
_SECRET_CHARS = 22  # base64url length of 16 bytes without padding
_MAC_CHARS = 16  # base64url length of 12 bytes
MAX_TOKEN_CHARS = 16 + 2 + _SECRET_CHARS + _MAC_CHARS


@dataclass(frozen=True, repr=False)
class SigningKey:
    kid: str
    secret: bytes

    def __post_init__(self) -> None:
        if not KID_PATTERN.match(self.kid):
            raise ValueError(f"key id {self.kid!r} must be 1-16 of A-Z a-z 0-9 _ -")
        if len(self.secret) < MIN_KEY_BYTES:
            raise ValueError(f"signing key {self.kid!r} must be at least {MIN_KEY_BYTES} bytes")

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r}, secret=***)"


@dataclass(frozen=True)
class Keyring:
    """The first key signs new tokens; every key verifies, so old links survive rotation."""

    keys: tuple[SigningKey, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("at least one signing key is required")
        kids = [key.kid for key in self.keys]
        if len(set(kids)) != len(kids):
            raise ValueError("signing key ids must be unique")

    @classmethod
    def parse(cls, text: str) -> Keyring:
        """Read ``kid:secret`` pairs separated by commas."""
        keys = []
        for part in filter(None, (p.strip() for p in text.split(","))):
            kid, sep, secret = part.partition(":")
            if not sep or not secret:
                raise ValueError("signing keys must be written kid:secret, comma separated")
            keys.append(SigningKey(kid.strip(), secret.strip().encode()))
        return cls(tuple(keys))

    @property
    def current(self) -> SigningKey:
        return self.keys[0]

    def find(self, kid: str) -> SigningKey | None:
        return next((key for key in self.keys if key.kid == kid), None)

    def fingerprint(self, text: str) -> str:
        """A keyed hash for audit data (client IPs) that cannot be reversed by enumeration."""
        digest = hmac.new(self.current.secret, b"fingerprint:" + text.encode(), hashlib.sha256)
        return digest.hexdigest()[:32]


@dataclass(frozen=True, repr=False)
class MintedToken:
    token: str
    token_hash: TokenHash

    def __repr__(self) -> str:
        return f"MintedToken({redact(self.token)})"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: SigningKey, kid: str, secret_part: str) -> bytes:
    message = f"{kid}{SEPARATOR}{secret_part}".encode("ascii")
    return hmac.new(key.secret, message, hashlib.sha256).digest()[:MAC_BYTES]


def hash_secret(secret: bytes) -> TokenHash:
    return TokenHash(hashlib.sha256(secret).digest())


def mint(keyring: Keyring) -> MintedToken:
    key = keyring.current
    secret = secrets.token_bytes(SECRET_BYTES)
    secret_part = _b64(secret)
    token = SEPARATOR.join((key.kid, secret_part, _b64(_mac(key, key.kid, secret_part))))
    return MintedToken(token=token, token_hash=hash_secret(secret))


def verify(keyring: Keyring, token: str) -> TokenHash:
    """Check the tag of a token and return the hash to look it up by.

    Raises InvalidToken for anything garbled, forged or signed by an unknown key, without
    touching the database.
    """
    if len(token) > MAX_TOKEN_CHARS or not token.isascii():
        raise InvalidToken("malformed")
    parts = token.split(SEPARATOR)
    if len(parts) != 3:
        raise InvalidToken("malformed")
    kid, secret_part, mac_part = parts
    if len(secret_part) != _SECRET_CHARS or len(mac_part) != _MAC_CHARS:
        raise InvalidToken("malformed")
    key = keyring.find(kid)
    if key is None:
        raise InvalidToken("unknown key")
    try:
        secret = _unb64(secret_part)
        mac = _unb64(mac_part)
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken("malformed") from exc
    # Re-encoding rejects non-canonical spellings of the same bytes, so one link has one URL.
    if _b64(secret) != secret_part or _b64(mac) != mac_part:
        raise InvalidToken("malformed")
    if not hmac.compare_digest(mac, _mac(key, kid, secret_part)):
        raise InvalidToken("bad signature")
    return hash_secret(secret)


def redact(token: str) -> str:
    """What of a token may appear in a log: its key id and a short prefix."""
    kid, _, rest = token.partition(SEPARATOR)
    return f"{kid[:16]}.{rest[:4]}…" if rest else "…"
