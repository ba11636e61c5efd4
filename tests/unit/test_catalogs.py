"""The shipped catalogs hold every message the pages can show, with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from linkserver.languages import LOCALE_DIR
from tokenstore.problems import Problem

ROOT = Path(__file__).resolve().parents[2]
# The same map and keywords as babel.cfg and `make catalogs`.
METHODS = [
    ("linkserver/**.py", "python"),
    ("tokenstore/answerschema.py", "python"),
    ("tokenstore/variables.py", "python"),
    ("linkserver/pages/**.html", "jinja2"),
]
OPTIONS = {"linkserver/pages/**.html": {"extensions": "jinja2.ext.i18n"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "problem": None}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def extracted() -> set[str | tuple[str, ...]]:
    found: set[str | tuple[str, ...]] = set()
    for _, _, message, _, _ in extract_from_dir(
        str(ROOT), METHODS, OPTIONS, KEYWORDS, comment_tags=()
    ):
        found.add(message if isinstance(message, str) else tuple(message))
    return found


def catalog(tag: str) -> Catalog:
    with (LOCALE_DIR / tag / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=tag)


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def test_extraction_finds_the_pages_messages() -> None:
    messages = extracted()
    assert "Already answered" in messages and "must be an integer" in messages
    assert "Please check your answer" in messages  # from a template


@pytest.mark.parametrize("tag", ["en", "de"])
def test_every_message_is_in_the_catalog(tag: str) -> None:
    ids = {m.id if isinstance(m.id, str) else tuple(m.id) for m in catalog(tag) if m.id}
    missing = sorted(str(m) for m in extracted() - ids)
    assert not missing, f"run `make catalogs`; not in {tag}: {missing}"


def test_every_message_has_a_german_translation_with_the_same_placeholders() -> None:
    german = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalog("de") if m.id}
    for message in extracted():
        msgid = message if isinstance(message, str) else message[0]
        entry = german.get(msgid)
        assert entry is not None and entry.string, f"no German for {msgid!r}"
        assert not entry.fuzzy, f"fuzzy German for {msgid!r}"
        translations = [entry.string] if isinstance(entry.string, str) else list(entry.string)
        # A plural may leave the number out of its singular ("once more"), never add one.
        forms = [message] if isinstance(message, str) else list(message)
        for position, translated in enumerate(translations):
            assert translated, f"no German for {msgid!r}"
            english = forms[min(position, len(forms) - 1)]
            assert placeholders(translated) == placeholders(english), msgid


def test_every_problem_has_a_stable_api_code() -> None:
    tokenstore = [(path, method) for path, method in METHODS if path.startswith("tokenstore/")]
    msgids = {
        message
        for _, _, message, _, _ in extract_from_dir(
            str(ROOT), tokenstore, {}, {"problem": None}, comment_tags=()
        )
    }
    assert "must be one of: %(options)s" in msgids
    uncoded = sorted(m for m in msgids if Problem(str(m)).code == "invalid" and m != "is not valid")
    assert not uncoded, f"add these to tokenstore.problems._CODES: {uncoded}"
