"""The mail of send-links-email: its templates, its parts and headers, its inputs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tokenstore.types import ExternalTaskId, ProcessInstanceId
from worker import letter
from worker.channels import default_subject
from worker.errors import ModelingError
from worker.letter import Button, Envelope, LetterContent
from worker.parsing import parse_email
from worker.task import Task

NOW = dt.datetime(2026, 11, 29, 10, 0, tzinfo=dt.UTC)
CONTENT = LetterContent(
    subject="Please approve",
    description="Purchase request <4711> & more",
    recipient="anna@example.com",
    buttons=(
        Button("Approve", "https://links.example/l/a?x=1&y=2"),
        Button("Deny", "https://links.example/l/d"),
    ),
    expires_at=dt.datetime(2026, 12, 6, 10, 0, tzinfo=dt.UTC),
    sender="approvals@example.com",
    process="approval-by-email",
    business_key="order-7",
)


def test_both_parts_carry_every_button_the_expiry_and_the_sender() -> None:
    plain, html = letter.render(letter.environment(None), "links", None, CONTENT)
    assert "https://links.example/l/a?x=1&y=2" in plain
    assert 'href="https://links.example/l/a?x=1&amp;y=2"' in html  # escaped in HTML only
    assert ">Approve</a>" in html and ">Deny</a>" in html
    assert "Purchase request <4711> & more" in plain
    assert "Purchase request &lt;4711&gt; &amp; more" in html
    for text in (plain, html):
        assert "6 Dec 2026 at 10:00 UTC" in text
        assert "Sent by approvals@example.com for the process approval-by-email (order-7)" in text


def test_an_operator_template_and_a_locale_variant_win(tmp_path: Path) -> None:
    (tmp_path / "links.de.txt.j2").write_text("Bitte wählen: {{ buttons[0].label }}")
    (tmp_path / "links.de.html.j2").write_text("<p>{{ subject }}</p>")
    env = letter.environment(str(tmp_path))
    assert letter.render(env, "links", "de", CONTENT) == (
        "Bitte wählen: Approve",
        "<p>Please approve</p>",
    )
    plain, _ = letter.render(env, "links", "fr", CONTENT)  # no French: the shipped English
    assert "Please choose one answer" in plain


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "template 'mine' has no txt part: expected mine.txt.j2"),
        ({"mine.txt.j2": "{{ nope }}", "mine.html.j2": "x"}, "template 'mine' (txt) failed"),
        ({"mine.txt.j2": "x", "mine.html.j2": "{% if %}"}, "template 'mine' (html) failed"),
    ],
)
def test_template_mistakes_say_which_template(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ModelingError) as caught:
        letter.render(letter.environment(str(tmp_path)), "mine", None, CONTENT)
    assert message in str(caught.value.detail)


def test_the_message_is_multipart_with_the_headers_asked_for() -> None:
    envelope = Envelope(
        "approvals@example.com", ("anna@example.com",), ("boss@example.com",), "desk@example.com"
    )
    message = letter.build(envelope, "Please approve", ("plain", "<p>html</p>"), "<m1@x.io>", NOW)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["To"] == "anna@example.com" and message["Cc"] == "boss@example.com"
    assert message["Reply-To"] == "desk@example.com"
    assert message["Message-ID"] == "<m1@x.io>"
    assert message["Date"] == "Sun, 29 Nov 2026 10:00:00 +0000"


def string(value: str) -> dict[str, Any]:
    return {"type": "String", "value": value}


def task(**inputs: dict[str, Any]) -> Task:
    return Task(
        id=ExternalTaskId("t1"),
        topic="send-links-email",
        process_instance_id=ProcessInstanceId("pi-1"),
        activity_id="Mail",
        variables=inputs,
    )


def test_email_inputs_default_to_the_recipient_and_the_shipped_template() -> None:
    spec = parse_email(task())
    assert (spec.to, spec.cc, spec.reply_to, spec.subject) == ((), (), None, None)
    assert (spec.template, spec.locale, spec.group_id) == ("links", None, None)
    assert spec.result_variable == "actionLinksMessageId"


def test_email_inputs_as_written() -> None:
    spec = parse_email(
        task(
            to=string("anna@example.com, ben@example.com"),
            cc=string('["boss@example.com"]'),
            replyTo=string("desk@example.com"),
            subject=string("Please approve"),
            template=string("approval"),
            locale=string("de-CH"),
            groupId=string("0123456789abcdef0123456789abcdef"),
        )
    )
    assert spec.to == ("anna@example.com", "ben@example.com")
    assert spec.cc == ("boss@example.com",) and spec.reply_to == "desk@example.com"
    assert (spec.subject, spec.template, spec.locale) == ("Please approve", "approval", "de-CH")
    assert spec.group_id is not None and spec.group_id.hex == "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"to": string("anna")}, "to: 'anna' is not an email address like anna@example.com"),
        ({"to": string("Anna <anna@example.com>")}, "to: 'Anna"),
        ({"cc": string("a@b")}, "cc: 'a@b' is not an email address"),
        ({"replyTo": string("x@y.z\r\nBcc: evil@x.io")}, "replyTo"),
        ({"subject": string("Hi\nBcc: evil@x.io")}, "subject must be one line"),
        ({"subject": string("x" * 201)}, "subject may hold at most 200 characters"),
        ({"template": string("../etc/passwd")}, "template '../etc/passwd' must be a name"),
        ({"locale": string("english please")}, "locale 'english please' must be a language tag"),
        ({"groupId": string("nope")}, "groupId 'nope' is not a link group id"),
        ({"to": string(",".join(f"a{i}@x.io" for i in range(51)))}, "at most 50 addresses"),
    ],
)
def test_email_mistakes_say_what_to_fix(inputs: dict[str, Any], message: str) -> None:
    with pytest.raises(ModelingError) as caught:
        parse_email(task(**inputs))
    assert message in str(caught.value.detail)


@pytest.mark.parametrize(
    ("description", "subject"),
    [
        ("Approve purchase request 4711", "Approve purchase request 4711"),
        ("  Approve\nAmount: 12 EUR\n", "Approve"),  # a header holds one line
        ("x" * 300, "x" * 200),
        (None, "Your answer is needed"),
        ("\n\n", "Your answer is needed"),
    ],
)
def test_the_default_subject_is_the_descriptions_first_line(
    description: str | None, subject: str
) -> None:
    assert default_subject(description) == subject
