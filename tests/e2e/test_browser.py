"""The pages as a person meets them: headless Chromium (Debian's) through the approval and the
"other amount" flows at a phone and a desktop size, against the real engine, worker and link
server; axe-core on every page, a screenshot of every page.

Expected page text lives in ``TEXTS``, one entry per language: a language is one more entry.
Labels, titles and descriptions come from the test's models (tests/support/models/browser-*),
so they are the same in every language.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import psycopg
import pytest
from playwright.async_api import Browser, BrowserContext, Page, Response, async_playwright, expect
from playwright.async_api import Error as PlaywrightError
from psycopg import sql

from devstack.ports import free_port
from devstack.postgres import with_database
from devstack.rest import EngineRest
from tests.support import browser as chromium
from tests.support.bpmn import MODELS
from tests.support.browser import DESKTOP, NARROW_WIDTH_PX, PHONE, Size
from tests.support.linkserver_process import LinkServerProcess, start_linkserver
from tests.support.worker_process import running_worker

# What the models put on the pages (not translated: they are the modeler's words).
DESCRIPTION = "Purchase request: standing desks for the design team"
APPROVE, OTHER_AMOUNT, AMOUNT_TITLE = "Approve", "Other amount", "Amount in dollars"
# How long a page may take to show what it waits for (it refreshes itself while the answer is
# being delivered); a wait, not a measurement.
PAGE_WAIT_MS = 30_000
MAX_TABS = 10


@dataclass(frozen=True)
class Texts:
    """What the pages say in one language."""

    accept_language: str
    locale: str
    confirm_heading: str
    confirm_button: str
    recorded: str
    already_answered: str
    invalid: str
    not_a_multiple_of_5: str
    # The outcome page names what was typed in, e.g. "You chose Other amount: 35".
    chose_other_35: str
    details: tuple[tuple[str, str], ...]


TEXTS = {
    "en": Texts(
        accept_language="en-US,en;q=0.9",
        locale="en-US",
        confirm_heading=f"{APPROVE}?",
        confirm_button=f"Confirm: {APPROVE}",
        recorded="Answer recorded",
        already_answered="Already answered",
        invalid="This link is not valid",
        not_a_multiple_of_5="must be a multiple of 5",
        chose_other_35=f"“{OTHER_AMOUNT}”: Amount in dollars 35",
        details=(("Amount", "4,800"), ("Requester", "Dana Lee"), ("Note", "<em>urgent</em>")),
    ),
    # Chosen by the browser's Accept-Language; numbers and quotes are German too.
    "de": Texts(
        accept_language="de-DE,de;q=0.9,en;q=0.5",
        locale="de-DE",
        confirm_heading=f"{APPROVE}?",
        confirm_button=f"Bestätigen: {APPROVE}",
        recorded="Antwort gespeichert",
        already_answered="Bereits beantwortet",
        invalid="Dieser Link ist nicht gültig",
        not_a_multiple_of_5="muss ein Vielfaches von 5 sein",
        chose_other_35=f"„{OTHER_AMOUNT}“: Amount in dollars 35",
        details=(("Amount", "4.800"), ("Requester", "Dana Lee"), ("Note", "<em>urgent</em>")),
    ),
}
CASES = [
    pytest.param(language, size, id=f"{language}-{size.name}")
    for language in TEXTS
    for size in (PHONE, DESKTOP)
]


# --- the system: one database, link server and worker for the module -----------------------


@dataclass
class System:
    rest: EngineRest
    links: LinkServerProcess
    started: list[str] = field(default_factory=list)

    def start(self, key: str) -> tuple[str, dict[str, str]]:
        """Start an instance and wait for the worker to hand it its links."""
        pid = self.rest.start(key)
        self.started.append(pid)

        def issued() -> dict[str, str] | None:
            found = {
                name[len("link_") :]: item["value"]
                for name, item in self.rest.variables(pid).items()
                if name.startswith("link_")
            }
            return found or None

        urls: dict[str, str] = self.rest.wait_for(issued, what="links issued by the worker")
        return pid, urls

    def ended_at(self, pid: str) -> list[str]:
        self.rest.wait_for(lambda: not self.rest.is_running(pid), what="the instance to end")
        return self.rest.end_events(pid)


@pytest.fixture(scope="module")
def module_database(postgres_server: str, template_database: str) -> Iterator[str]:
    """A copy of the migrated template for this module (the per-test one is function-scoped)."""
    template = urlparse(template_database).path.lstrip("/")
    name = f"browser_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    yield with_database(postgres_server, name)
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="module")
def system(module_database: str, camunda_url: str, engine_rest: EngineRest) -> Iterator[System]:
    engine_rest.deploy(
        MODELS / "browser-approval.bpmn", MODELS / "browser-topup.bpmn", name="browser-test"
    )
    port = free_port()
    links = start_linkserver(module_database, camunda_url, port=port)
    running = System(engine_rest, links)
    try:
        with running_worker(module_database, camunda_url, links.base_url) as worker:
            yield running
            assert worker.stop(signal.SIGTERM) == 0
            assert "Traceback" not in worker.log_text()
        assert links.stop(signal.SIGTERM) == 0
        assert "Traceback" not in links.log_text()
    finally:
        for pid in running.started:
            engine_rest.http.delete(
                f"/process-instance/{pid}", params={"skipCustomListeners": "true"}
            )
        if links.process.poll() is None:
            links.kill()
        links.log_path.unlink(missing_ok=True)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    chromium.axe_script()  # fail before the first page if axe-core is missing
    async with async_playwright() as playwright:
        launched = await chromium.launch(playwright)
        yield launched
        await launched.close()


async def _context(browser: Browser, texts: Texts, size: Size, bypass_csp: bool) -> BrowserContext:
    return await browser.new_context(
        viewport={"width": size.width, "height": size.height},
        is_mobile=size.phone,
        has_touch=size.phone,
        device_scale_factor=1,  # small PNGs
        locale=texts.locale,
        extra_http_headers={"Accept-Language": texts.accept_language},
        # Only so that axe-core can be injected: the pages allow no script. The real header is
        # checked on every response (Visitor.look) and enforced in test_csp_stops_*.
        bypass_csp=bypass_csp,
    )


# --- a person looking at pages -------------------------------------------------------------


@dataclass
class Visitor:
    """One browser tab: records each document response, and for every page it looks at
    checks the CSP header, fits 320 px (phone), saves a screenshot and runs axe-core."""

    page: Page
    flow: str
    size: Size
    language: str
    documents: list[Response] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("response", self._record)

    def _record(self, response: Response) -> None:
        if response.request.resource_type == "document":
            self.documents.append(response)

    async def open(self, url: str) -> None:
        response = await self.page.goto(url)
        assert response is not None

    async def submit(self, press: Callable[[], Any]) -> Response:
        """Press a key that submits the form; the document that comes back (after a redirect)."""
        async with self.page.expect_response(
            lambda r: r.request.resource_type == "document" and not 300 <= r.status < 400
        ) as arrived:
            await press()
        await self.page.wait_for_load_state()
        return await arrived.value

    async def look(self, name: str) -> str:
        """Check the page on screen; return its visible text."""
        assert self.documents, "no page was loaded"
        problem = chromium.csp_problem(self.documents[-1].headers)
        assert problem is None, f"{self.flow}-{name}: {problem}"
        where = f"{self.flow}-{name} ({self.size.name}, {self.language})"
        # The page says its language, so screen readers pronounce it right.
        assert await self.page.get_attribute("html", "lang") == self.language, where
        assert self.documents[-1].headers.get("content-language") == self.language, where
        if self.size.phone:
            await self.page.set_viewport_size(
                {"width": NARROW_WIDTH_PX, "height": self.size.height}
            )
            if await chromium.scrolls_sideways(self.page):
                self.findings.append(f"{where}: scrolls sideways at {NARROW_WIDTH_PX} px")
            await self.page.set_viewport_size(
                {"width": self.size.width, "height": self.size.height}
            )
        shot = chromium.screenshot_name(self.flow, name, self.size, self.language)
        await self.page.screenshot(path=chromium.screenshot_dir() / shot, full_page=True)
        violations = await chromium.axe_violations(self.page)
        for line in chromium.describe_violations(where, violations):
            print(line)  # moderate and minor ones too, for whoever reads the log
        self.findings += chromium.describe_violations(where, chromium.failing(violations))
        self.seen.append(name)
        return await self.page.inner_text("body")

    def assert_accessible(self) -> None:
        assert self.seen, "no page was checked"
        assert not self.findings, "serious or critical accessibility problems:\n" + "\n".join(
            self.findings
        )


@pytest.fixture
async def tab(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    language, size = request.node.callspec.params["language"], request.node.callspec.params["size"]
    context = await _context(browser, TEXTS[language], size, bypass_csp=True)
    page = await context.new_page()
    yield page
    await context.close()


async def _tab_to_submit(page: Page) -> str:
    """Tab until the submit button has the focus (keyboard only); its text."""
    for _ in range(MAX_TABS):
        await page.keyboard.press("Tab")
        if await page.evaluate("() => document.activeElement?.type === 'submit'"):
            break
    else:
        pytest.fail(f"{MAX_TABS} presses of Tab never reached the submit button")
    focus = await page.evaluate(
        """() => { const e = document.activeElement, s = getComputedStyle(e);
                   return {visible: e.matches(':focus-visible'), outline: s.outlineStyle,
                           width: s.outlineWidth, shadow: s.boxShadow, text: e.textContent}; }"""
    )
    shows_focus = (focus["outline"] != "none" and focus["width"] != "0px") or (
        focus["shadow"] != "none"
    )
    assert focus["visible"] and shows_focus, f"the focused button does not show it: {focus}"
    return str(focus["text"]).strip()


# --- the flows -----------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "size"), CASES)
async def test_approval_read_confirmed_by_keyboard_and_answered_once(
    system: System, tab: Page, language: str, size: Size
) -> None:
    texts = TEXTS[language]
    pid, urls = system.start("browser-approval")
    person = Visitor(tab, "approval", size, language)

    await person.open(urls["approve"])
    shown = await person.look("confirm")
    assert DESCRIPTION in shown
    await expect(tab.locator("h1")).to_have_text(texts.confirm_heading)
    assert system.rest.is_running(pid), "opening a link must not answer it"
    assert await _tab_to_submit(tab) == texts.confirm_button

    response = await person.submit(lambda: tab.keyboard.press("Enter"))
    assert response.request.method == "GET", "post/redirect/get: the outcome is a GET"
    await expect(tab.locator("h1")).to_have_text(texts.recorded, timeout=PAGE_WAIT_MS)
    shown = await person.look("outcome")
    assert APPROVE in shown and DESCRIPTION in shown

    assert system.ended_at(pid) == ["Approved"]
    approved = system.rest.history_variables(pid)["approved"]
    assert approved["value"] is True and approved["type"] == "Boolean"
    assert system.rest.correlation_count(pid) == 1

    await person.open(urls["deny"])
    await expect(tab.locator("h1")).to_have_text(texts.already_answered)
    shown = await person.look("already-answered")
    assert APPROVE in shown, "the page says what was answered"
    assert system.rest.correlation_count(pid) == 1
    person.assert_accessible()


@pytest.mark.parametrize(("language", "size"), CASES)
async def test_other_amount_refused_beside_the_field_then_accepted(
    system: System, tab: Page, language: str, size: Size
) -> None:
    texts = TEXTS[language]
    pid, urls = system.start("browser-topup")
    person = Visitor(tab, "other-amount", size, language)

    await person.open(urls["other"])
    await person.look("form")
    amount = tab.get_by_label(AMOUNT_TITLE)  # found through its label: the two are tied
    await expect(amount).to_have_count(1)
    await amount.fill("37")
    # A browser may or may not check the step; the server must refuse 37 whatever the client.
    await tab.eval_on_selector("form", "form => { form.noValidate = true; }")
    refused = await person.submit(lambda: amount.press("Enter"))
    assert refused.status == 422
    await expect(amount).to_have_value("37")
    await expect(amount).to_have_attribute("aria-invalid", "true")
    described_by = (await amount.get_attribute("aria-describedby") or "").split()
    assert described_by, "the error is not tied to the field"
    beside = " ".join([await tab.locator(f"#{name}").inner_text() for name in described_by])
    assert texts.not_a_multiple_of_5 in beside
    await person.look("error")
    assert system.rest.is_running(pid) and system.rest.correlation_count(pid) == 0

    await amount.fill("35")
    await person.submit(lambda: amount.press("Enter"))
    await expect(tab.locator("h1")).to_have_text(texts.recorded, timeout=PAGE_WAIT_MS)
    shown = await person.look("outcome")
    assert system.ended_at(pid) == ["ToppedUp"]
    typed = system.rest.history_variables(pid)["amount"]
    assert typed["value"] == 35 and typed["type"] == "Integer"
    assert system.rest.correlation_count(pid) == 1
    person.assert_accessible()
    assert texts.chose_other_35 in shown, f"the outcome does not name the amount: {shown!r}"


@pytest.mark.parametrize(("language", "size"), CASES)
async def test_a_forged_link_gets_the_invalid_link_page(
    system: System, tab: Page, language: str, size: Size
) -> None:
    person = Visitor(tab, "invalid-link", size, language)
    response = await tab.goto(f"{system.links.base_url}/l/k1.{'A' * 22}.{'A' * 16}")
    assert response is not None and response.status == 404
    await expect(tab.locator("h1")).to_have_text(TEXTS[language].invalid)
    await person.look("page")
    person.assert_accessible()


@pytest.mark.parametrize("language", list(TEXTS))
async def test_confirm_page_shows_the_details_in_order_as_text(
    system: System, browser: Browser, language: str
) -> None:
    texts = TEXTS[language]
    _, urls = system.start("browser-approval")
    context = await _context(browser, texts, DESKTOP, bypass_csp=False)
    try:
        page = await context.new_page()
        await page.goto(urls["approve"])
        rows = [
            tuple(cell.strip() for cell in await row.locator("th, td").all_inner_texts())
            for row in await page.locator("main table tbody tr").all()
        ]
        assert rows == list(texts.details), f"details table: {rows!r}"
        assert await page.locator("main em").count() == 0, "a value was rendered as HTML"
    finally:
        await context.close()


async def test_csp_stops_injected_scripts_on_the_real_pages(
    system: System, browser: Browser
) -> None:
    _, urls = system.start("browser-approval")
    context = await _context(browser, TEXTS["en"], DESKTOP, bypass_csp=False)
    try:
        page = await context.new_page()
        response = await page.goto(urls["approve"])
        assert response is not None and chromium.csp_problem(response.headers) is None
        with pytest.raises(PlaywrightError, match="violates the following Content Security"):
            await page.add_script_tag(content="window.injected = true;")
        # Playwright's own evaluation is not page script: it sees that nothing ran.
        assert await page.evaluate("() => window.injected") is None
    finally:
        await context.close()
