"""issue-token's details, locale and timeZone inputs: what a modeler writes, what is kept."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from tokenstore.model import Detail
from worker.errors import ModelingError
from worker.parsing import parse_issue
from worker.task import Task
from worker.taskvariables import MAX_JSON_DEPTH

NOW = dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.UTC)
ROWS = [
    {"label": "Amount", "value": 4800},
    {"label": "Requester", "value": "Anna Berg"},
    {"label": "Rate", "value": 0.25},
    {"label": "Urgent", "value": True},
    {"label": "Cost centre", "value": None},
]
EXPECTED = (
    Detail("Amount", 4800),
    Detail("Requester", "Anna Berg"),
    Detail("Rate", 0.25),
    Detail("Urgent", True),
    Detail("Cost centre", None),
)


def issue_task(**inputs: dict[str, Any]) -> Task:
    actions = json.dumps([{"name": "approve"}])
    variables = {"messageName": string("decision"), "actions": string(actions), **inputs}
    return Task.from_json(
        {
            "id": "task-1",
            "topicName": "issue-token",
            "processInstanceId": "pi-1",
            "activityId": "IssueLinks",
            "variables": variables,
        }
    )


def string(value: str) -> dict[str, Any]:
    return {"type": "String", "value": value, "valueInfo": {}}


def json_variable(value: object) -> dict[str, Any]:
    # As the engine hands out a Json variable with deserializeValues=false: its JSON text.
    return {"type": "Json", "value": json.dumps(value), "valueInfo": {}}


def details_of(**inputs: dict[str, Any]) -> tuple[Detail, ...]:
    return parse_issue(issue_task(**inputs), NOW).request.details


def refusal(**inputs: dict[str, Any]) -> str:
    with pytest.raises(ModelingError) as caught:
        parse_issue(issue_task(**inputs), NOW)
    return str(caught.value)


@pytest.mark.parametrize("wrap", [string, json_variable], ids=["String", "Json"])
def test_a_list_keeps_its_order_and_each_value_its_json_type(wrap: Any) -> None:
    given = json.dumps(ROWS) if wrap is string else ROWS
    details = details_of(details=wrap(given))
    assert details == EXPECTED
    # 4800 stays a number and True a boolean (not "4800", not 1): pages format them.
    assert type(details[0].value) is int and type(details[3].value) is bool


@pytest.mark.parametrize("kind", ["String", "Json"])
def test_a_map_gives_rows_in_the_order_written(kind: str) -> None:
    text = '{"Requester": "Anna Berg", "Amount": 4800, "Zulu": 1, "A": 2}'
    details = details_of(details={"type": kind, "value": text, "valueInfo": {}})
    assert [d.label for d in details] == ["Requester", "Amount", "Zulu", "A"]
    assert details[1] == Detail("Amount", 4800)


def test_no_details_blank_or_empty_means_none() -> None:
    assert details_of() == ()
    assert details_of(details=string("  ")) == ()
    assert details_of(details=string("[]")) == ()
    assert details_of(details=string("{}")) == ()


def test_labels_are_trimmed_and_a_missing_value_is_null() -> None:
    assert details_of(details=string('[{"label": "  Amount "}]')) == (Detail("Amount", None),)


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        ('[{"label": "Items", "value": [1, 2]}]', "details row 1 ('Items'): the value must be"),
        ('{"Items": {"a": 1}}', "not a JSON object"),
        ('[{"label": "", "value": 1}]', "details row 1: the label must be text that is not empty"),
        ('[{"label": "  ", "value": 1}]', "details row 1: the label must be text"),
        ('[{"label": 7, "value": 1}]', "details row 1: the label must be text"),
        ('[{"value": 1}]', "details row 1 needs a label"),
        ('[{"label": "A", "valeu": 1}]', "row 1: unknown key 'valeu' (use label and value)"),
        ('["Amount"]', "details row 1 must be an object"),
        ('"Amount: 4800"', "details must be a JSON list of label/value objects"),
        ("4800", "details must be a JSON list"),
        (
            '[{"label": "A", "value": 1}, {"label": "B"}, {"label": "A", "value": 2}]',
            "details row 3: the label 'A' is also row 1's; give each row its own label",
        ),
        ('{"A": 1, "A": 2}', "details names 'A' twice"),
        ('[{"label": "A\\u0007", "value": 1}]', "the label may not contain control characters"),
        ('[{"label": "A", "value": "x\\u0000"}]', "NUL"),
        ("[{", "details is not valid JSON"),
        ('[{"label": "A", "value": NaN}]', "details is not usable JSON"),
    ],
)
def test_unusable_details_are_incidents_naming_the_row(details: str, expected: str) -> None:
    assert expected in refusal(details=string(details))


def test_at_most_thirty_rows() -> None:
    rows = [{"label": f"Row {n}", "value": n} for n in range(30)]
    assert len(details_of(details=string(json.dumps(rows)))) == 30
    rows.append({"label": "One more", "value": 31})
    assert "details has 31 rows; at most 30" in refusal(details=string(json.dumps(rows)))


def test_label_and_value_lengths_count_utf16_units() -> None:
    ok = [{"label": "L" * 200, "value": "v" * 1998 + "😀"}]  # the emoji counts two: 2000
    assert details_of(details=string(json.dumps(ok)))[0].label == "L" * 200
    long_label = [{"label": "L" * 199 + "😀", "value": 1}]
    assert "the label may hold at most 200" in refusal(details=string(json.dumps(long_label)))
    long_value = [{"label": "Note", "value": "v" * 1999 + "😀"}]
    message = refusal(details=string(json.dumps(long_value)))
    assert "details row 1 ('Note'): the value may hold at most 2000 characters" in message


def test_html_in_details_is_kept_as_the_text_it_is() -> None:
    rows = [{"label": "<b>Amount</b>", "value": "<script>alert(1)</script>"}]
    assert details_of(details=string(json.dumps(rows))) == (
        Detail("<b>Amount</b>", "<script>alert(1)</script>"),
    )


def test_deep_json_is_refused_before_anything_else() -> None:
    deep = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    assert "nests JSON more than" in refusal(details=string(deep))


def test_details_of_another_type_are_refused() -> None:
    message = refusal(details={"type": "Long", "value": 3, "valueInfo": {}})
    assert "details must be a String holding JSON or a Json variable" in message


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("de", "de"),
        ("DE", "de"),
        ("de-CH", "de-CH"),
        ("de_ch", "de-CH"),
        ("pt-BR", "pt-BR"),
        ("zh-hant-tw", "zh-Hant-TW"),
        ("es-419", "es-419"),
        ("sr_Latn", "sr-Latn"),
        ("de-CH-1996", "de-CH-1996"),
        (" en-GB ", "en-GB"),
    ],
)
def test_locale_is_a_bcp47_tag_stored_in_its_usual_case(given: str, stored: str) -> None:
    assert parse_issue(issue_task(locale=string(given)), NOW).request.locale == stored


@pytest.mark.parametrize(
    "given", ["german", "d", "de-", "de--CH", "de CH", "de-CH-x-private", "en-u-ca-gregory", "😀"]
)
def test_a_locale_that_is_no_language_tag_is_an_incident(given: str) -> None:
    message = refusal(locale=string(given))
    assert "is not a language tag; write one such as de, de-CH or pt-BR" in message


def test_locale_and_time_zone_are_optional() -> None:
    request = parse_issue(issue_task(), NOW).request
    assert request.locale is None and request.time_zone is None
    blank = parse_issue(issue_task(locale=string(""), timeZone=string(" ")), NOW).request
    assert blank.locale is None and blank.time_zone is None


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/Argentina/Buenos_Aires", "UTC"])
def test_time_zone_is_an_iana_name(zone: str) -> None:
    assert parse_issue(issue_task(timeZone=string(zone)), NOW).request.time_zone == zone


@pytest.mark.parametrize(
    "zone", ["Europe/Berlinn", "CEST", "+02:00", "../../etc/passwd", "/etc/localtime", "localtime"]
)
def test_an_unknown_time_zone_is_an_incident(zone: str) -> None:
    message = refusal(timeZone=string(zone))
    assert "is not a time zone name; write one such as Europe/Berlin or UTC" in message
