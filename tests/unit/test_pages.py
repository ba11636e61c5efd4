"""The pages as people see them: forms per type, details, answers, languages, time zones."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from linkserver import rendering
from linkserver.forms import FormAnswer
from linkserver.languages import Languages, preferred
from linkserver.presentation import Status
from tests.support.builders import NOW, group, link
from tokenstore import answerschema
from tokenstore.model import Answer, Detail, LinkView
from tokenstore.settings import SettingsError
from tokenstore.types import LinkId, RedemptionId, RedemptionState
from tokenstore.variables import TypedValue

UTC = ZoneInfo("UTC")
LANGUAGES = Languages.load()
EN, DE = LANGUAGES["en"], LANGUAGES["de"]
OTHER_AMOUNT = {
    "type": "object",
    "properties": {"amount": {"type": "integer", "title": "Amount", "minimum": 1}},
    "required": ["amount"],
    "additionalProperties": False,
}


def page(response: Any) -> str:
    return str(response.text)


def confirm(schema: dict[str, Any] | None = None, **group_changes: Any) -> str:
    view = LinkView(link(schema=schema), dataclasses.replace(group(), **group_changes), None)
    return page(rendering.confirm_page(view, EN, UTC))


def tag_of(text: str, element_id: str) -> str:
    found = re.search(rf'<[a-z]+ [^>]*id="{element_id}"[^>]*>', text)
    assert found, f"no element {element_id}"
    return found.group(0)


def one_field(prop: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"x": {"title": "X", **prop}},
        "required": ["x"] if required else [],
    }


@pytest.mark.parametrize(
    ("prop", "expected"),
    [
        ({"type": "string", "maxLength": 201}, "<textarea"),
        ({"type": "string", "format": "textarea"}, "<textarea"),
        ({"type": "string", "maxLength": 200}, '<input id="f-x" name="x" type="text"'),
        ({"type": "integer"}, 'type="number" step="1"'),
        ({"type": "number"}, 'type="number" step="any"'),
        ({"type": "boolean"}, 'type="checkbox"'),
        ({"type": "string", "enum": ["a", "b", "c", "d", "e"]}, 'type="radio"'),
        ({"type": "string", "enum": ["a", "b", "c", "d", "e", "f"]}, "<select"),
    ],
)
def test_each_type_gets_its_control_with_a_label(prop: dict[str, Any], expected: str) -> None:
    text = confirm(one_field(prop))
    assert expected in text
    ids = re.findall(r'<(?:input|select|textarea) [^>]*id="([^"]+)"', text)
    assert ids and all(f'<label for="{i}">' in text for i in ids)


def test_radio_groups_are_a_fieldset_with_a_legend() -> None:
    text = confirm(one_field({"type": "string", "enum": ["cash", "card"]}, required=True))
    assert "<fieldset" in text and '<legend>X <span class="required">(required)</span>' in text
    assert text.count('type="radio"') == 2 and text.count(" required") >= 2
    errors = {"x": "please fill this in"}
    view = LinkView(link(schema=one_field({"type": "string", "enum": ["a", "b"]})), group(), None)
    text = page(rendering.confirm_page(view, EN, UTC, {}, errors))
    assert '<a href="#f-x-1">X: please fill this in</a>' in text and 'id="f-x-1"' in text


def test_default_fills_the_field_and_description_is_tied_help() -> None:
    text = confirm(
        one_field({"type": "integer", "default": 35, "description": "In dollars, whole."})
    )
    assert 'value="35"' in tag_of(text, "f-x")
    assert 'aria-describedby="h-x"' in tag_of(text, "f-x")
    assert '<p class="help" id="h-x">In dollars, whole.</p>' in text


def test_required_is_said_in_words() -> None:
    assert "(required)" in confirm(one_field({"type": "string"}, required=True))
    assert "(required)" not in confirm(one_field({"type": "string"}))


def test_a_refused_form_keeps_what_was_typed_and_links_the_errors() -> None:
    view = LinkView(link(schema=OTHER_AMOUNT), group(), None)
    errors = answerschema.check(OTHER_AMOUNT, {"amount": 0}).errors
    assert errors is not None
    response = rendering.confirm_page(view, EN, UTC, {"amount": "0"}, errors)
    text = page(response)
    assert response.status == 422
    field = tag_of(text, "f-amount")
    assert 'value="0"' in field and 'aria-invalid="true"' in field
    assert 'aria-describedby="e-amount"' in field
    assert '<p class="error" id="e-amount">must be at least 1</p>' in text
    assert 'role="alert"' in text and '<a href="#f-amount">Amount: must be at least 1</a>' in text
    assert text.index('role="alert"') < text.index("<form")


def test_unknown_form_fields_are_refused_under_additional_properties_false() -> None:
    typed = FormAnswer({"amount": "35", "bonus": "1"}).typed(OTHER_AMOUNT)
    assert typed is not None
    errors = answerschema.check(OTHER_AMOUNT, typed).errors
    assert errors == {"bonus": "unexpected field"}
    view = LinkView(link(schema=OTHER_AMOUNT), group(), None)
    text = page(rendering.confirm_page(view, EN, UTC, {"amount": "35", "bonus": "1"}, errors))
    assert "This form has no field “bonus”." in text


def test_unknown_form_fields_are_ignored_without_additional_properties_false() -> None:
    open_schema = {k: v for k, v in OTHER_AMOUNT.items() if k != "additionalProperties"}
    assert FormAnswer({"amount": "35", "bonus": "1"}).typed(open_schema) == {"amount": 35}
    assert FormAnswer({"anything": "1"}).typed(None) is None


def test_details_are_a_table_of_text_never_markup() -> None:
    details = (
        Detail("Amount", 4800),
        Detail("Requester", "<script>alert(1)</script>"),
        Detail("Urgent", True),
        Detail("Cost centre", None),
    )
    text = confirm(details=details)
    assert '<th scope="row">Amount</th><td>4,800</td>' in text
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert '<th scope="row">Urgent</th><td>Yes</td>' in text
    assert '<th scope="row">Cost centre</th><td>—</td>' in text
    german = page(
        rendering.confirm_page(
            LinkView(link(), dataclasses.replace(group(), details=details), None), DE, UTC
        )
    )
    assert "<td>4.800</td>" in german and "<td>Ja</td>" in german


def answered(schema: dict[str, Any] | None, amount: int | None) -> Answer:
    variables = {"approved": TypedValue("Boolean", True)}
    if amount is not None:
        variables["amount"] = TypedValue("Long", amount)
    return Answer(
        redemption_id=RedemptionId(uuid.uuid4()),
        link_id=LinkId(uuid.uuid4()),
        action="other",
        label="Other amount",
        answered_at=NOW,
        state=RedemptionState.DELIVERED,
        variables=variables,
        input_schema=schema,
    )


@pytest.mark.parametrize(
    "status",
    [Status.RECEIVED, Status.RECORDED, Status.UNDELIVERABLE, Status.REFUSED],
)
def test_outcome_pages_say_what_was_typed_in(status: Status) -> None:
    view = LinkView(link(), group(), answered(OTHER_AMOUNT, 3500))
    text = page(rendering.outcome_page(status, view, EN, UTC))
    assert "You chose “Other amount”: Amount 3,500 on" in text
    german = page(rendering.outcome_page(status, view, DE, UTC))
    assert "„Other amount“: Amount 3.500" in german and "gewählt" in german


def test_already_answered_names_the_typed_values_but_not_bound_ones() -> None:
    view = LinkView(link(), group(), answered(OTHER_AMOUNT, 35))
    text = page(rendering.outcome_page(Status.ANSWERED_ELSEWHERE, view, EN, UTC))
    assert "“Other amount”: Amount 35 was chosen on" in text
    assert "approved" not in text  # bound by the model, not typed in
    plain = LinkView(link(), group(), answered(None, None))
    text = page(rendering.outcome_page(Status.ANSWERED_ELSEWHERE, plain, EN, UTC))
    assert "“Other amount” was chosen on" in text


def test_the_multi_use_notice_names_the_typed_values() -> None:
    the_link = dataclasses.replace(link(schema=OTHER_AMOUNT, uses=1, max_uses=3))
    answer = dataclasses.replace(answered(OTHER_AMOUNT, 35), link_id=the_link.id)
    text = page(rendering.confirm_page(LinkView(the_link, group(), answer), EN, UTC))
    assert "Received: you chose “Other amount”: Amount 35 on" in text
    assert "This link can be used 2 more times." in text


def test_a_task_in_german_gets_a_german_page() -> None:
    view = LinkView(link(schema=OTHER_AMOUNT), dataclasses.replace(group(), locale="de"), None)
    language = LANGUAGES.choose(view.group.locale, "en-US,en;q=0.9")
    response = rendering.confirm_page(view, language, UTC)
    text = page(response)
    assert '<html lang="de">' in text and response.headers["Content-Language"] == "de"
    assert "Bestätigen: Approve" in text and "(Pflichtfeld)" in text
    assert "Der Link läuft am 28. November 2026, 11:42 (UTC) ab." in text
    assert response.headers["Vary"] == "Accept-Language"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("fr-CH, fr;q=0.9, de;q=0.7, *;q=0.5", "de"),
        ("en;q=0.2, de;q=0.8", "de"),
        ("de;q=0, en", "en"),
        ("fr", "en"),
        ("", "en"),
        ("*", "en"),
        ("de;q=banana", "en"),
        (";;;,,,=q" * 500, "en"),
        ("x" * 10_000 + ",de", "en"),
        ("\x00de", "en"),
    ],
)
def test_accept_language_is_negotiated_among_the_catalogs(header: str, expected: str) -> None:
    assert LANGUAGES.choose(None, header).tag == expected


def test_hostile_accept_language_headers_are_cut_short() -> None:
    assert len(preferred(",".join(["de"] * 10_000))) <= 16


def test_a_deployment_pin_wins_over_the_browser_but_not_the_task() -> None:
    pinned = Languages.load(pinned="de")
    assert pinned.choose(None, "en").tag == "de"
    assert pinned.choose("en-GB", "de").tag == "en"
    assert Languages.load(default="de").choose(None, None).tag == "de"
    assert Languages.load(default="de").choose("tlh", "fr").tag == "de"


def test_an_operator_adds_a_language_without_touching_the_package(tmp_path: Path) -> None:
    folder = tmp_path / "fr" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
        'msgid "Confirm: %(label)s"\nmsgstr "Confirmer : %(label)s"\n\n'
        'msgid "Already answered"\nmsgstr "Déjà répondu"\n',
        encoding="utf-8",
    )
    languages = Languages.load(tmp_path)
    french = languages.choose(None, "fr-FR,fr;q=0.9")
    assert french.tag == "fr"
    view = LinkView(link(), group(), None)
    text = page(rendering.confirm_page(view, french, UTC))
    assert '<html lang="fr">' in text and "Confirmer : Approve" in text
    assert "28 novembre 2026" in text
    # Overriding a shipped message works the same way.
    (tmp_path / "de" / "LC_MESSAGES").mkdir(parents=True)
    (tmp_path / "de" / "LC_MESSAGES" / "messages.po").write_text(
        'msgid "Confirm: %(label)s"\nmsgstr "Jetzt bestätigen: %(label)s"\n', encoding="utf-8"
    )
    german = Languages.load(tmp_path)["de"]
    text = page(rendering.confirm_page(view, german, UTC))
    assert "Jetzt bestätigen: Approve" in text and "(Pflichtfeld)" not in text


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ({"default": "tlh"}, "no catalog for 'tlh'"),
        ({"pinned": "xx"}, "no catalog for 'xx'"),
        ({"time_zone": "Mars/Olympus"}, "no IANA time zone"),
    ],
)
def test_wrong_language_settings_stop_the_start(setup: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Languages.load(**setup)


def test_a_broken_operator_catalog_stops_the_start(tmp_path: Path) -> None:
    (tmp_path / "fr" / "LC_MESSAGES").mkdir(parents=True)
    catalog = tmp_path / "fr" / "LC_MESSAGES" / "messages.po"
    catalog.write_text("garbage here\n")
    with pytest.raises(SettingsError, match="cannot be read"):
        Languages.load(tmp_path)
    catalog.write_text('msgid "Confirm: %(label)s"\nmsgstr "Confirmer : %(étiquette)s"\n')
    with pytest.raises(SettingsError, match="does not fit"):
        Languages.load(tmp_path)
    with pytest.raises(SettingsError, match="no directory"):
        Languages.load(tmp_path / "missing")


@pytest.mark.parametrize(
    ("zone", "language", "expected"),
    [
        ("UTC", "en", "November 28, 2026, 10:42 AM (UTC)"),
        ("Europe/Berlin", "de", "28. November 2026, 11:42 (Europe/Berlin)"),
        ("America/New_York", "en", "November 28, 2026, 5:42 AM (America/New_York)"),
    ],
)
def test_dates_are_in_the_time_zone_and_say_which(zone: str, language: str, expected: str) -> None:
    view = LinkView(link(), group(expires_in=dt.timedelta(0)), None)
    text = page(rendering.confirm_page(view, LANGUAGES[language], LANGUAGES.zone(zone)))
    # CLDR puts a narrow no-break space before AM/PM.
    assert html.unescape(text).replace("\u202f", " ").count(expected) == 1


def test_the_task_time_zone_wins_over_the_deployment() -> None:
    languages = Languages.load(time_zone="Asia/Tokyo")
    assert languages.zone(None).key == "Asia/Tokyo"
    assert languages.zone("Europe/Berlin").key == "Europe/Berlin"
    assert languages.zone("Not/AZone").key == "Asia/Tokyo"


def test_the_invalid_page_is_rendered_once_per_language(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "This link is not valid" in str(rendering.invalid_page(EN).text)
    first = rendering.invalid_page(DE)

    def no_rendering(*args: object) -> str:
        raise AssertionError("rendered again")

    monkeypatch.setattr(rendering, "_html", no_rendering)
    again = rendering.invalid_page(DE)
    assert first.text == again.text and "Dieser Link ist nicht gültig" in str(first.text)
    assert first.status == 404 and first.headers["Content-Language"] == "de"


def test_schema_errors_are_translated_with_numbers_for_the_language() -> None:
    errors = answerschema.check(OTHER_AMOUNT, {"amount": "x"}).errors
    assert errors == {"amount": "must be an integer"}
    big = {"type": "object", "properties": {"n": {"type": "number", "maximum": 1500.5}}}
    errors = answerschema.check(big, {"n": 2000}).errors
    assert errors is not None
    assert DE.problem(errors["n"]) == "darf höchstens 1.500,5 sein"
    assert EN.problem(errors["n"]) == "must be at most 1,500.5"


def test_a_textarea_format_is_accepted_and_checks_nothing() -> None:
    schema = answerschema.check_schema(one_field({"type": "string", "format": "textarea"}))
    assert answerschema.check(schema, {"x": "line one\nline two"}).errors is None
    assert "<textarea" in confirm(schema)
