"""The normalizer's API for the gateway: setting parser, categories, languages, capability
report, and the speech core's wiring (cache key, deadline, engine text, events)."""

from __future__ import annotations

import json
import time

import pytest

from gateway.cli import main as cli_main
from tests.fakes import GatedEngine
from tts_core import AudioCache, SpeechCore, SynthesisRequest
from tts_core.budget import speech_units
from tts_core.engine import InvalidRequest
from tts_core.normalize import (
    ALL,
    CATEGORIES,
    NONE,
    NormalizeSettingError,
    capabilities,
    normalize,
    parse_setting,
    resolve,
    setting_text,
)

# -- the `normalize` setting ---------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("on", ALL),
        ("ON", ALL),
        ("all", ALL),
        (True, ALL),
        (None, ALL),
        ("off", NONE),
        ("none", NONE),
        (False, NONE),
        ("", NONE),
        ("numbers", frozenset({"numbers"})),
        ("numbers, currency", frozenset({"numbers", "currency"})),
        ('["dates", "times"]', frozenset({"dates", "times"})),
        (["phone", "codes"], frozenset({"phone", "codes"})),
        (("urls",), frozenset({"urls"})),
        ("-codes,-urls", ALL - {"codes", "urls"}),
        ("all,-symbols", ALL - {"symbols"}),
        (frozenset({"emails"}), frozenset({"emails"})),
    ],
)
def test_setting_values(value: object, expected: frozenset[str]) -> None:
    assert parse_setting(value) == expected


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("numbers,bogus", ["'bogus'"]),
        ("money, dollars", ["'money'", "'dollars'"]),
        (["dates", 3], ["3"]),
        ('["nope"]', ["'nope'"]),
    ],
)
def test_unknown_categories_are_named(value: object, named: list[str]) -> None:
    with pytest.raises(NormalizeSettingError) as info:
        parse_setting(value)
    message = str(info.value)
    for name in named:
        assert name in message
    assert "currency" in message  # the message lists what is allowed


@pytest.mark.parametrize("value", ["[1, 2", '{"a": 1}', 42, 1.5])
def test_malformed_settings_are_refused(value: object) -> None:
    with pytest.raises(NormalizeSettingError):
        parse_setting(value)


def test_setting_text_round_trips() -> None:
    assert setting_text(ALL) == "on" and setting_text(NONE) == "off"
    some = frozenset({"times", "currency"})
    assert setting_text(some) == "currency,times"  # category order
    assert parse_setting(setting_text(some)) == some


# -- categories one by one ----------------------------------------------------------

SENTENCE = "Call 555-123-4567 by 12/03/2026 at 3:30 pm to pay $42.50 (12.5% off) with code XJ7KQ2."


def test_off_leaves_text_unchanged() -> None:
    assert normalize(SENTENCE, "en", categories="off") == SENTENCE


@pytest.mark.parametrize(
    ("category", "expect", "untouched"),
    [
        ("phone", "five five five, one two three", "$42.50"),
        ("dates", "December third, twenty twenty-six", "555-123-4567"),
        ("times", "three thirty p m", "12/03/2026"),
        ("currency", "forty-two dollars and fifty cents", "3:30 pm"),
        ("percent", "twelve point five percent", "$42.50"),
        ("codes", "X J seven K Q two", "12.5%"),
    ],
)
def test_each_category_switches_alone(category: str, expect: str, untouched: str) -> None:
    out = normalize(SENTENCE, "en", categories=category)
    assert expect in out and untouched in out


def test_an_amount_is_left_to_the_voice_when_currency_is_off() -> None:
    """Not "$forty-two point five zero": a number glued to a symbol is an amount."""
    for text in ("It costs $42.50.", "It costs 42.50€.", "Pay ¥500 now."):
        assert normalize(text, "en", categories="-currency") == text


def test_every_category_has_a_rule_in_english() -> None:
    from tts_core.normalize import rules_for

    assert {r.category for r in rules_for(resolve("en"))} == set(CATEGORIES)


# -- languages ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "locale", "text", "lang", "order"),
    [
        ("en", None, "", "en", "MDY"),
        ("en-GB", None, "", "en", "DMY"),
        ("en", "en-GB", "", "en", "DMY"),
        ("english", "en-AU", "", "en", "DMY"),
        ("auto", None, "我有三个", "zh", "YMD"),
        (None, None, "こんにちは", "ja", "YMD"),
        (None, None, "안녕하세요", "ko", "YMD"),
        (None, None, "Привет", "ru", "DMY"),
        (None, "fr-FR", "", "fr", "DMY"),
        ("de", None, "", "de", "DMY"),
        ("en-us", None, "", "en", "MDY"),
    ],
)
def test_language_resolution(
    language: str | None, locale: str | None, text: str, lang: str, order: str
) -> None:
    profile = resolve(language, locale, text)
    assert (profile.lang, profile.date_order) == (lang, order)


def test_capability_report_covers_every_engine_language() -> None:
    report = capabilities()
    json.dumps(report)  # it goes into /v1/voices as it is
    assert report["categories"] == list(CATEGORIES)
    languages = report["languages"]
    assert languages["en"]["categories"] == list(CATEGORIES)
    qwen = ("zh", "en", "fr", "de", "it", "ja", "ko", "pt", "ru", "es")
    for lang in qwen:
        cats = set(languages[lang]["categories"])
        assert {"numbers", "currency", "dates", "times"} <= cats, lang
    assert "nl" in report["numbers_only"]["languages"]
    assert "passthrough" in report


def test_the_report_matches_what_each_language_does() -> None:
    report = capabilities()
    for lang, entry in report["languages"].items():
        assert set(entry["categories"]) == resolve(lang).categories, lang
    for lang in ("fr", "de", "es", "it", "pt"):
        assert "ordinals" in report["languages"][lang]["categories"]
    numbers_only = report["numbers_only"]
    assert numbers_only["categories"] == ["phone", "currency", "numbers"]
    assert "pass through unchanged" in numbers_only["note"]
    for lang in numbers_only["languages"]:
        assert resolve(lang).categories == frozenset(numbers_only["categories"]), lang


MIXED = "Op 12/03/2026 om 15:30: €42,50, 3,5 of -5, 2-3, 5%, +31 20 123 4567 x12, 10 000."


def test_numbers_only_languages_never_hear_english_words() -> None:
    """Every language num2words knows and we have no rules for: no English "point",
    "percent" or "extension" ("minus" and "to" are Danish words too), and no number
    words glued to symbols."""
    for lang in capabilities()["numbers_only"]["languages"]:
        spoken = normalize(MIXED, lang)
        words = set(spoken.lower().replace(",", " ").split())
        assert not words & {"point", "percent", "extension", "dollars"}, lang
        assert "12/03/2026" in spoken and "15:30" in spoken and "2-3" in spoken, (lang, spoken)
        assert "5%" in spoken, (lang, spoken)


def test_unknown_language_passes_through() -> None:
    assert normalize("Pay $5 on 12/03.", "tlh") == "Pay $5 on 12/03."


def test_cjk_budget_counts_the_spoken_characters() -> None:
    """The token budget sees "二零二六年" (5 syllables), not "2026年" (4 digits + 1)."""
    written = "会议在2026年3月12日。"
    spoken = normalize(written, "zh")
    assert spoken == "会议在二零二六年三月十二日。"
    assert speech_units(spoken) == len("会议在二零二六年三月十二日") + 1


@pytest.mark.parametrize(
    "text",
    ["", " ", "...", "$", "%", "12/", "/12", ":30", "+", "#", "@", "1" * 400, "$" * 400,
     "a.b.c.d.e", "\u202f5\u00a0000", "٣٤", "１２３", "𝟙𝟚𝟛", "½", "3:", "-", "--5", "5--"],
)  # fmt: skip
def test_odd_input_never_raises(text: str) -> None:
    for lang in ("en", "fr", "zh", "ru", "ja", None):
        assert isinstance(normalize(text, lang), str)


# -- the speech core ---------------------------------------------------------------------


async def _speak(core: SpeechCore, request: SynthesisRequest) -> int:
    return sum(len(c) for c in [c async for c in core.synthesize(request)])


async def test_the_engine_and_the_cache_get_the_spoken_text() -> None:
    engine = GatedEngine()
    core = SpeechCore(engine, idle_unload_s=0, cache=AudioCache(8))
    request = SynthesisRequest("Pay $5 now.")
    await _speak(core, request)
    assert engine.calls == ["Pay five dollars now."]
    assert request.text == "Pay $5 now."  # the caller's request (and its events) keep the original
    # Written differently, said the same: one rendering serves both.
    await _speak(core, SynthesisRequest("Pay five dollars now."))
    assert engine.calls == ["Pay five dollars now."] and core.cache.hits == 1
    # Off: the engine gets the text as sent, under its own cache key.
    await _speak(core, SynthesisRequest("Pay $5 now.", normalize="off"))
    assert engine.calls[-1] == "Pay $5 now."
    # Some categories only.
    await _speak(core, SynthesisRequest("Pay $5 at 3:30 pm.", normalize="times"))
    assert engine.calls[-1] == "Pay $5 at three thirty p m."
    await core.aclose()


async def test_locale_reaches_the_normalizer() -> None:
    engine = GatedEngine()
    core = SpeechCore(engine, idle_unload_s=0)
    await _speak(core, SynthesisRequest("Due 12/03/2026.", language="en", locale="en-GB"))
    await _speak(core, SynthesisRequest("Due 12/03/2026.", language="en", locale="en-US"))
    assert engine.calls == [
        "Due the twelfth of March twenty twenty-six.",
        "Due December third, twenty twenty-six.",
    ]
    await core.aclose()


async def test_a_bad_setting_is_an_invalid_request() -> None:
    core = SpeechCore(GatedEngine(), idle_unload_s=0)
    with pytest.raises(InvalidRequest) as info:
        await _speak(core, SynthesisRequest("Hi.", normalize="bogus"))
    assert info.value.field == "normalize" and "bogus" in str(info.value)
    await core.aclose()


async def test_the_deadline_estimate_uses_the_spoken_text() -> None:
    engine = GatedEngine()
    core = SpeechCore(engine, idle_unload_s=0)
    core.rtf = 1.0
    seen: list[tuple[object, ...]] = []
    original = core.scheduler.acquire

    async def spy(deadline: float, *args: object) -> None:
        seen.append((deadline, *args))
        await original(deadline, *args)

    core.scheduler.acquire = spy  # type: ignore[method-assign]
    now = core._clock()
    await _speak(core, SynthesisRequest("会议在2026年3月12日。", language="zh"))
    units = speech_units("会议在二零二六年三月十二日。")
    assert seen[0][0] == pytest.approx(now - units * 0.4, abs=0.05)
    assert units in seen[0][1:]  # the tenant share is charged for what is spoken, too
    await core.aclose()


def test_normalization_stays_off_the_event_loop_budget() -> None:
    """normalize() runs on the loop: a long sentence of every category stays well under 10 ms."""
    text = (SENTENCE + " ") * 3
    normalize(text, "en")  # warm the caches and compiled rules
    best = min(_timed(text) for _ in range(5))
    assert best < 0.010, f"{best * 1000:.1f} ms"


def _timed(text: str) -> float:
    t0 = time.perf_counter()
    normalize(text, "en")
    return time.perf_counter() - t0


# -- voxgate say ---------------------------------------------------------------------------


def test_say_refuses_an_unknown_category(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["say", "Hi", "--normalize", "numbers,bogus"]) == 2
    assert "bogus" in capsys.readouterr().err


def test_say_normalizes_and_can_be_told_not_to(tmp_path, monkeypatch) -> None:
    seen: list[str] = []

    from tts_core.sim_engine import SimulatedEngine

    class Recording(SimulatedEngine):
        def synthesize(self, request):  # type: ignore[no-untyped-def]
            seen.append(request.text)
            return super().synthesize(request)

    monkeypatch.setattr("tts_core.create_engine", lambda *a, **k: Recording())
    say = ["say", "Pay $5.", "-o", str(tmp_path / "a.wav"), "--engine", "sim", "--rate", "16000"]
    assert cli_main(say) == 0
    assert cli_main([*say, "--normalize", "off"]) == 0
    assert seen == ["Pay five dollars.", "Pay $5."]
