"""``action-links serve`` as a real subprocess, signing with the tests' keys."""

from __future__ import annotations

import functools

from devstack import linkserver
from devstack.linkserver import LinkServerProcess
from tests.support.keys import SIGNING_KEYS

__all__ = ["LinkServerProcess", "running_linkserver", "start_linkserver"]

start_linkserver = functools.partial(linkserver.start_linkserver, signing_keys=SIGNING_KEYS)
running_linkserver = functools.partial(linkserver.running_linkserver, signing_keys=SIGNING_KEYS)
