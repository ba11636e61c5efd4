"""The signing keys every test's link server, worker and store share."""

from __future__ import annotations

SIGNING_KEYS = "k1:test-secret-key-0123456789abcdef,k0:older-secret-key-0123456789abcdef"
