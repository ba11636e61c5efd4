"""The sender's name: which logo files, colours and contacts are usable, and how settings
name what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from linkserver import branding, rendering
from linkserver.branding import Brand, BrandingError, Contact, accent, contact, contrast
from linkserver.languages import Languages
from linkserver.settings import LinkServerSettings
from tokenstore.settings import SettingsError

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 32
GIF = b"GIF89a" + b"\0" * 32
WEBP = b"RIFF\x24\0\0\0WEBPVP8 " + b"\0" * 32
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script/></svg>'
REQUIRED = {
    "ACTION_LINKS_DATABASE_URL": "postgresql://u@h/db",
    "ACTION_LINKS_SIGNING_KEYS": "k1:test-secret-key-0123456789abcdef",
}


@pytest.mark.parametrize(
    ("data", "content_type"),
    [(PNG, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"), (WEBP, "image/webp")],
)
def test_raster_logos_are_known_by_their_first_bytes(data: bytes, content_type: str) -> None:
    assert branding.logo_type(data) == content_type


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (SVG, "the logo is SVG, which can carry script"),
        (b"  <svg onload='x()'></svg>", "the logo is SVG"),
        (b"<!-- a comment --><svg></svg>", "the logo is SVG"),
        (b"GIF8", "not a PNG, JPEG, WebP or GIF"),
        (b"%PDF-1.7", "not a PNG, JPEG, WebP or GIF"),
        (b"", "not a PNG, JPEG, WebP or GIF"),
        (PNG + b"\0" * (512 * 1024), "at most 512 KiB"),
    ],
)
def test_other_logo_files_are_refused_saying_why(data: bytes, message: str) -> None:
    with pytest.raises(BrandingError, match=message):
        branding.logo_type(data)


def test_a_logo_of_exactly_512_kib_is_fine() -> None:
    assert branding.logo_type(PNG.ljust(512 * 1024, b"\0")) == "image/png"


def test_contrast_is_wcag_2() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    assert contrast("#ffffff", "#ffffff") == pytest.approx(1)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)


@pytest.mark.parametrize(
    ("colour", "text"),
    [
        ("#1f6feb", "#ffffff"),
        ("#000000", "#ffffff"),
        ("#FFD700", "#111111"),  # gold: dark text reads, white does not
        ("#ffffff", "#111111"),
        ("#0B5394", "#ffffff"),
    ],
)
def test_the_button_text_colour_is_chosen_for_contrast(colour: str, text: str) -> None:
    chosen = accent(colour)
    assert chosen.colour == colour.lower() and chosen.text_colour == text
    assert contrast(chosen.colour, chosen.text_colour) >= 4.5


@pytest.mark.parametrize("colour", ["#777777", "#2e8b57", "#dd4444"])  # sea green, a red
def test_a_colour_neither_text_colour_reads_on_is_refused(colour: str) -> None:
    with pytest.raises(BrandingError, match=r"neither white \(.*\) nor near-black .* 4.5:1"):
        accent(colour)


@pytest.mark.parametrize("colour", ["1f6feb", "#1f6fe", "#1f6febff", "blue", "#ggg000", "#fff"])
def test_a_colour_not_written_rrggbb_is_refused(colour: str) -> None:
    with pytest.raises(BrandingError, match="is not a colour written #rrggbb"):
        accent(colour)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("help@example.com", Contact("mailto:help@example.com", "help@example.com")),
        (
            "https://example.com/help",
            Contact("https://example.com/help", "https://example.com/help"),
        ),
    ],
)
def test_a_contact_is_an_address_or_an_https_url(given: str, expected: Contact) -> None:
    assert contact(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        "javascript:alert(1)",
        "http://example.com/help",
        "help at example.com",
        "https://",
        'https://example.com/"onmouseover="x',
        "a@b.com\nBcc: evil@example.com",
    ],
)
def test_anything_else_is_no_contact(given: str) -> None:
    with pytest.raises(BrandingError):
        contact(given)


def test_theme_css_carries_the_accent_and_its_text_colour() -> None:
    css = branding.theme_css(Brand(accent=accent("#0b5394")))
    assert "button { background: #0b5394; color: #ffffff; }" in css
    assert "a { color: #0b5394; }" in css
    light = branding.theme_css(Brand(accent=accent("#ffd700")))
    assert "button { background: #ffd700; color: #111111; }" in light
    # Gold text on a white page would not read: links keep their colour.
    assert "a { color" not in light
    assert "button" not in branding.theme_css(Brand())


def settings(tmp_path: Path, **env: str) -> LinkServerSettings:
    return LinkServerSettings.from_env({**REQUIRED, **env})


def test_branding_settings_are_read_and_checked_at_start(tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    logo.write_bytes(PNG)
    read = settings(
        tmp_path,
        ACTION_LINKS_PRODUCT_NAME=" Acme Approvals ",
        ACTION_LINKS_LOGO_FILE=str(logo),
        ACTION_LINKS_ACCENT_COLOUR="#0B5394",
        ACTION_LINKS_FOOTER="Acme Corp · Finance",
        ACTION_LINKS_CONTACT="finance@acme.example",
        ACTION_LINKS_TEMPLATE_DIR=str(tmp_path),
    )
    brand = read.brand
    assert brand.product_name == "Acme Approvals"
    assert brand.logo is not None and brand.logo.content_type == "image/png"
    assert brand.logo.data == PNG
    assert brand.accent is not None and brand.accent.text_colour == "#ffffff"
    assert brand.footer == "Acme Corp · Finance"
    assert brand.contact == Contact("mailto:finance@acme.example", "finance@acme.example")
    assert read.template_dir == str(tmp_path)
    assert settings(tmp_path).brand == Brand()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LOGO_FILE", "missing.png", "ACTION_LINKS_LOGO_FILE: cannot read"),
        ("LOGO_FILE", "logo.svg", "ACTION_LINKS_LOGO_FILE: the logo is SVG"),
        ("ACCENT_COLOUR", "#777777", "ACTION_LINKS_ACCENT_COLOUR: #777777: neither white"),
        ("CONTACT", "nobody", "ACTION_LINKS_CONTACT: 'nobody' is neither an email address"),
        ("FOOTER", "x" * 301, "ACTION_LINKS_FOOTER: the footer may hold at most 300"),
        ("PRODUCT_NAME", "A\x1bB", "ACTION_LINKS_PRODUCT_NAME: the product name must be one line"),
        ("TEMPLATE_DIR", "nowhere", "ACTION_LINKS_TEMPLATE_DIR: .*nowhere is not a directory"),
        ("TEMPLATE_DIR", ".", r"ACTION_LINKS_TEMPLATE_DIR: confirm.html line 2: "),
    ],
)
def test_a_bad_branding_setting_names_the_variable_and_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    (tmp_path / "logo.svg").write_bytes(SVG)
    (tmp_path / "confirm.html").write_text('{% extends "base.html" %}\n{% block content %\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError, match=message):
        settings(tmp_path, **{f"ACTION_LINKS_{name}": value})


def test_templates_in_the_directory_win_by_name_and_see_the_brand(tmp_path: Path) -> None:
    (tmp_path / "outcome.html").write_text("<p>{{ brand.product_name }}: {{ heading }}</p>")
    brand = Brand(product_name="Acme <Approvals>")
    english = Languages.load(brand=brand, template_dir=str(tmp_path))["en"]
    html = rendering.error_page(english, 404, "Gone", "x").text
    env = rendering.environment(str(tmp_path), brand)
    assert html == "<p>Acme &lt;Approvals&gt;: Gone</p>"
    # The package's templates still serve every name the directory does not hold.
    frame = env.get_template("base.html").render(title="t", lang="en")
    assert "Acme &lt;Approvals&gt;</span>" in frame


def test_brand_values_are_text_on_the_page() -> None:
    brand = Brand(
        product_name="<b>Acme</b>",
        footer="<script>alert(1)</script>",
        contact=contact("https://example.com/help?a=1&b=2"),
    )
    english = Languages.load(brand=brand)["en"]
    html = rendering.error_page(english, 404, "Gone", "x").text or ""
    assert "<script>" not in html and "<b>Acme" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<title>Gone \u2013 &lt;b&gt;Acme&lt;/b&gt;</title>" in html
    assert 'href="https://example.com/help?a=1&amp;b=2"' in html
