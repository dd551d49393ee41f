"""The browser demo page (`GET /`) in real headless Chromium against a real gateway.

Chromium is Debian's package (`apt-get install chromium`, done by `.ci/run`),
driven by Playwright's Python client; Playwright never downloads a browser.
Each test starts Chromium with an empty profile, so local storage starts
empty. The page publishes its live figures on `window.voxgateStats`; the
worklet's decoded-frame counter and played-sample position come from its port
messages, so they prove the audio really went through the AudioWorklet.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from gateway.config import Settings
from tests.e2e.server import Running, serve

CHROMIUM = Path(os.environ.get("VOXGATE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
SPEECH = "Hello from the browser. The gateway speaks while you read."
SPEECH_SENTENCES = ["Hello from the browser.", "The gateway speaks while you read."]
LONG = " ".join(
    [
        "Thanks for waiting, I have pulled up your account now.",
        "Your last invoice was paid in full on the third of the month.",
        "There is a new charge for the premium support plan that started last week.",
        "If you did not ask for that plan, I can remove it and refund the difference.",
        "The refund usually takes three to five business days to appear on your card.",
        "Would you also like me to email you a copy of the updated invoice?",
        "I can send it to the address we have on file or to a new one.",
        "Is there anything else about your billing that I can help you with today?",
    ]
)
WAIT_MS = 20_000


@dataclass
class Tab:
    """One page plus the console errors it logged: a clean page logs none."""

    page: Page
    console_errors: list[str] = field(default_factory=list)

    def stats(self) -> dict[str, Any]:
        return self.page.evaluate("() => JSON.parse(JSON.stringify(window.voxgateStats))")

    def wait(self, condition: str) -> None:
        try:
            self.page.wait_for_function(
                f"() => {{ const s = window.voxgateStats; return {condition}; }}", timeout=WAIT_MS
            )
        except PlaywrightTimeout:
            pytest.fail(f"page never reached {condition!r}; stats: {self.stats()}")

    def text(self, testid: str) -> str:
        return (self.page.text_content(f"[data-testid={testid}]") or "").strip()


@pytest.fixture(scope="module")
def server(piper_engine) -> Iterator[Running]:
    with serve(Settings(audiosocket_port=0), piper_engine, cache_entries=64) as running:
        yield running


@pytest.fixture(scope="module")
def keyed_server(piper_engine) -> Iterator[Running]:
    with serve(Settings(audiosocket_port=0, api_keys="k1"), piper_engine) as running:
        yield running


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: run `apt-get install -y chromium` "
            "(.ci/run does) or set VOXGATE_CHROMIUM to its path"
        )
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 880, "height": 1040},
        )
        try:
            yield context
        finally:
            context.close()


def open_page(browser: BrowserContext, url: str) -> Tab:
    page = browser.pages[0] if browser.pages else browser.new_page()
    tab = Tab(page)

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            tab.console_errors.append(msg.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: tab.console_errors.append(f"uncaught: {exc}"))
    page.goto(url + "/")
    return tab


def wait_for_voices(tab: Tab) -> None:
    tab.page.wait_for_function(
        "() => document.querySelector('#voice').value !== ''", timeout=WAIT_MS
    )


def choose_quality(tab: Tab, value: str) -> None:
    tab.page.click(f"label:has(input[name=quality][value={value}])")


def screenshot(tab: Tab, path: Path) -> None:
    tab.page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def test_speak_plays_through_the_worklet(
    browser: BrowserContext, server: Running, tmp_path: Path
) -> None:
    tab = open_page(browser, server.http)
    wait_for_voices(tab)
    assert tab.page.title().startswith("voxgate")
    assert tab.page.input_value("#voice") == "en_US-joe-medium"
    assert tab.page.input_value("#language") == "en-us"
    tab.page.fill("[data-testid=text]", SPEECH)
    tab.page.click("[data-testid=speak]")
    tab.wait("s.requests === 1 && s.state === 'idle'")
    stats = tab.stats()

    ttfa = tab.text("ttfa")
    assert re.fullmatch(r"\d+", ttfa), f"ttfa shows {ttfa!r}"
    assert int(ttfa) == math.floor(stats["ttfaMs"] + 0.5)  # JavaScript's Math.round
    # Telephone quality: 20 ms µ-law frames at 8 kHz, every one decoded and played out.
    frames = stats["framesReceived"]
    assert frames > 0 and stats["frameBytes"] == 160
    assert stats["outputRate"] == 8000  # Chromium plays the stream at its own rate
    assert stats["framesDecoded"] == frames
    assert stats["samplesPlayed"] == frames * 160
    assert tab.text("frames") == str(frames)
    assert stats["framesDiscarded"] == 0
    # The decoded audio is speech, not silence, and of a plausible length.
    assert stats["loudestPeak"] > 0.05
    words = len(SPEECH.split())
    assert words / 250 * 60 < frames * 0.02 < words / 110 * 60 + 1.5
    assert stats["sentences"] == SPEECH_SENTENCES
    items = tab.page.locator("[data-testid=sentences] li")
    assert items.count() == 2
    assert all("done" in (c or "") for c in items.evaluate_all("l => l.map(i => i.className)"))
    assert tab.text("buffered") == "0"
    assert tab.console_errors == []
    screenshot(tab, tmp_path / "demo-speak.png")


def test_stop_barges_in_and_shows_what_was_heard(
    browser: BrowserContext, server: Running, tmp_path: Path
) -> None:
    tab = open_page(browser, server.http)
    wait_for_voices(tab)
    choose_quality(tab, "wide16")
    tab.page.fill("[data-testid=text]", LONG)
    tab.page.click("[data-testid=stream]")
    tab.wait("s.state === 'speaking' || s.state === 'streaming'")
    assert tab.page.is_enabled("[data-testid=stop]")
    # Let about 1.5 s of audio arrive, so the listener has heard some words.
    tab.wait("s.framesDecoded >= 75 && s.samplesPlayed > 16000")
    tab.page.click("[data-testid=stop]")
    tab.wait("s.cleared === 1")
    stats = tab.stats()

    assert stats["state"] == "stopped"
    assert stats["frameBytes"] == 640  # wideband: 20 ms of 16-bit PCM at 16 kHz
    assert stats["ttfaMs"] is not None and re.fullmatch(r"\d+", tab.text("ttfa"))
    heard = stats["heard"]
    assert heard, "the listener heard something before Stop"
    # What was heard is the beginning of the text, word for word, and not all of it.
    assert " ".join(LONG.split()).startswith(heard)
    assert len(heard) < len(LONG)
    assert heard in tab.text("heard")
    assert tab.page.is_visible("[data-testid=heard]")
    # The LLM-like stream stopped too: the whole text was never sent.
    assert stats["charsSent"] < len(LONG)
    assert stats["bufferedMs"] == 0
    assert not tab.page.is_enabled("[data-testid=stop]")
    assert tab.page.locator("[data-testid=sentences] li.cut").count() >= 1
    assert tab.console_errors == []
    screenshot(tab, tmp_path / "demo-stop.png")


def test_api_key_is_required_then_stored(
    browser: BrowserContext, keyed_server: Running, tmp_path: Path
) -> None:
    tab = open_page(browser, keyed_server.http)
    # No key stored: the voices request is refused and the page says why.
    tab.page.wait_for_selector("[data-testid=error]", state="visible", timeout=WAIT_MS)
    assert "needs an API key" in tab.text("error")
    tab.page.click("[data-testid=speak]")
    tab.wait("s.errors.includes('connect_failed')")
    assert "refused the connection" in tab.text("error")
    assert tab.stats()["framesReceived"] == 0
    refused = list(tab.console_errors)
    assert refused and all("401" in e or "WebSocket" in e for e in refused), refused

    # A wrong key is refused too.
    tab.page.fill("[data-testid=api-key]", "nope")
    tab.page.click("[data-testid=save-key]")
    tab.page.wait_for_function(
        "() => document.querySelector('[data-testid=error]').textContent.includes('refused')",
        timeout=WAIT_MS,
    )

    tab.page.fill("[data-testid=api-key]", "k1")
    tab.page.click("[data-testid=save-key]")
    wait_for_voices(tab)
    assert tab.page.is_hidden("[data-testid=error]")
    assert tab.page.evaluate("() => localStorage.getItem('voxgate.apiKey')") == "k1"

    # The key survives a reload and is used for speaking.
    tab.console_errors.clear()
    tab.page.reload()
    wait_for_voices(tab)
    assert tab.page.input_value("[data-testid=api-key]") == "k1"
    choose_quality(tab, "wide24")
    tab.page.fill("[data-testid=text]", "Your key works.")
    tab.page.click("[data-testid=speak]")
    tab.wait("s.requests === 1 && s.state === 'idle'")
    stats = tab.stats()
    assert stats["framesReceived"] > 0 and stats["frameBytes"] == 960
    assert stats["framesDecoded"] == stats["framesReceived"]
    assert stats["samplesPlayed"] == stats["framesReceived"] * 480
    assert stats["errors"] == []
    assert re.fullmatch(r"\d+", tab.text("ttfa"))
    assert tab.console_errors == []
    screenshot(tab, tmp_path / "demo-key.png")


REFUSE_STREAM_RATES = """
const Native = window.AudioContext;
window.AudioContext = class extends Native {
  constructor(options = {}) {
    if (options.sampleRate) throw new DOMException("rate not supported", "NotSupportedError");
    super(options);
  }
};
"""


def test_worklet_resamples_when_the_browser_refuses_the_stream_rate(
    browser: BrowserContext, server: Running
) -> None:
    # Some browsers only run an AudioContext at the device rate; the worklet then
    # interpolates 8 kHz up to it and must still play every received sample.
    browser.add_init_script(REFUSE_STREAM_RATES)
    tab = open_page(browser, server.http)
    wait_for_voices(tab)
    tab.page.fill("[data-testid=text]", "Resampled in the worklet.")
    tab.page.click("[data-testid=speak]")
    tab.wait("s.requests === 1 && s.state === 'idle'")
    stats = tab.stats()
    assert stats["outputRate"] > 8000
    assert stats["framesReceived"] > 0 and stats["frameBytes"] == 160
    assert stats["framesDecoded"] == stats["framesReceived"]
    assert stats["samplesPlayed"] == stats["framesReceived"] * 160
    assert stats["loudestPeak"] > 0.05
    assert tab.console_errors == []
