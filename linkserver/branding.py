"""The sender's name on every page: product name, logo, accent colour, footer and contact.

Pure rules (plus reading the logo file once at start): what a logo file may be, which text
colour an accent needs, what a contact is, and the stylesheet that carries the accent, so the
pages need no inline style and the CSP stays ``'self'``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

DEFAULT_PRODUCT_NAME = "Action Links"
MAX_PRODUCT_NAME_CHARS = 80
MAX_FOOTER_CHARS = 300
MAX_CONTACT_CHARS = 254
MAX_LOGO_BYTES = 512 * 1024
# The least contrast WCAG 2 (AA) asks of normal text, such as a button's label.
MIN_CONTRAST = 4.5
WHITE, NEAR_BLACK = "#ffffff", "#111111"
# Raster formats by their first bytes. SVG is refused: served from our origin it could run
# script, and a CSP cannot make an image file safe to open directly.
LOGO_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
EMAIL = re.compile(r"^[^@\s<>\"()\[\],;:]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class BrandingError(ValueError):
    """A branding setting cannot be used; the message says why and what to give instead."""


@dataclass(frozen=True)
class Logo:
    content_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Accent:
    """The accent colour and the text colour that reads on it."""

    colour: str
    text_colour: str
    contrast: float


@dataclass(frozen=True)
class Contact:
    """Who people ask: ``href`` for the link, ``text`` as shown."""

    href: str
    text: str


@dataclass(frozen=True)
class Brand:
    """What the pages show of the sender; templates get it as the global ``brand``."""

    product_name: str = DEFAULT_PRODUCT_NAME
    logo: Logo | None = None
    accent: Accent | None = None
    footer: str | None = None
    contact: Contact | None = None


def one_line(text: str, limit: int, what: str) -> str:
    """Plain text of one line: no control characters, at most ``limit`` characters."""
    text = text.strip()
    if CONTROL_CHARACTERS.search(text):
        raise BrandingError(f"{what} must be one line of plain text (no control characters)")
    if len(text) > limit:
        raise BrandingError(f"{what} may hold at most {limit} characters")
    return text


def logo_type(data: bytes) -> str:
    """The content type of a logo by its first bytes; anything but PNG, JPEG, WebP, GIF fails."""
    if len(data) > MAX_LOGO_BYTES:
        raise BrandingError(
            f"the logo has {len(data)} bytes; at most {MAX_LOGO_BYTES // 1024} KiB, "
            "so every page loads quickly"
        )
    for signature, content_type in LOGO_SIGNATURES:
        if data.startswith(signature):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.lstrip()[:5].lower() in (b"<?xml", b"<svg ") or b"<svg" in data[:1024].lower():
        raise BrandingError(
            "the logo is SVG, which can carry script; give a PNG, JPEG, WebP or GIF file"
        )
    raise BrandingError("the logo is not a PNG, JPEG, WebP or GIF file")


def read_logo(path: str) -> Logo:
    """Read and check the logo file once, at start."""
    try:
        # Read one byte over the cap to tell "too big" without reading a huge file.
        with Path(path).open("rb") as file:
            data = file.read(MAX_LOGO_BYTES + 1)
            if len(data) > MAX_LOGO_BYTES:
                data += file.read()
    except OSError as exc:
        raise BrandingError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return Logo(logo_type(data), data)


def _luminance(colour: str) -> float:
    """WCAG 2 relative luminance of ``#rrggbb``."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)


def contrast(first: str, second: str) -> float:
    """WCAG 2 contrast ratio of two ``#rrggbb`` colours, 1 to 21."""
    light, dark = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def accent(text: str) -> Accent:
    """``#rrggbb`` and the button text colour (white or near-black) that reads best on it."""
    if not HEX_COLOUR.match(text):
        raise BrandingError(f"{text[:20]!r} is not a colour written #rrggbb, e.g. #1f6feb")
    colour = text.lower()
    best = max((WHITE, NEAR_BLACK), key=lambda candidate: contrast(colour, candidate))
    ratio = contrast(colour, best)
    if ratio < MIN_CONTRAST:
        raise BrandingError(
            f"{colour}: neither white ({contrast(colour, WHITE):.2f}:1) nor near-black "
            f"({contrast(colour, NEAR_BLACK):.2f}:1) text reaches the contrast of "
            f"{MIN_CONTRAST}:1 people need to read a button; choose a darker or lighter colour"
        )
    return Accent(colour, best, round(ratio, 2))


def contact(text: str) -> Contact:
    """An email address (``mailto:``) or an https URL."""
    text = one_line(text, MAX_CONTACT_CHARS, "the contact")
    if text.lower().startswith("https://"):
        parts = urlsplit(text)
        if not parts.hostname or any(c.isspace() or c in "<>\"'" for c in text):
            raise BrandingError(f"{text[:60]!r} is not a usable https URL")
        return Contact(text, text)
    if EMAIL.match(text):
        return Contact("mailto:" + quote(text, safe="@.+-_"), text)
    raise BrandingError(
        f"{text[:60]!r} is neither an email address nor an https URL, e.g. help@example.com"
    )


@functools.lru_cache(maxsize=8)
def theme_css(brand: Brand) -> str:
    """The stylesheet served at ``/static/theme.css``: the accent where the pages use colour."""
    lines = [f"/* {DEFAULT_PRODUCT_NAME}: generated from ACTION_LINKS_ACCENT_COLOUR */"]
    if brand.accent is not None:
        colour, text = brand.accent.colour, brand.accent.text_colour
        lines += [
            f"button {{ background: {colour}; color: {text}; }}",
            f".brand {{ border-bottom-color: {colour}; }}",
            f".notice {{ border-left: 0.25rem solid {colour}; }}",
        ]
        # Links in the accent only where it reads on the page's white background too.
        if contrast(colour, WHITE) >= MIN_CONTRAST:
            lines.append(f"@media (prefers-color-scheme: light) {{ a {{ color: {colour}; }} }}")
    return "\n".join(lines) + "\n"
