"""One resolver per engine: voice, language and speed decided once, the same everywhere."""

from __future__ import annotations

import pytest

from tts_core import InvalidRequest, SpeechCore, language_tag, primary_language
from tts_core.sim_engine import SimulatedEngine


@pytest.mark.parametrize(
    ("given", "tag", "primary"),
    [
        ("en-GB", "en-GB", "en"),
        ("en_us", "en-US", "en"),
        ("EN", "en", "en"),
        ("English", "en", "en"),
        ("zh-Hans", "zh-Hans", "zh"),
        ("auto", None, ""),
        ("", None, ""),
        (None, None, ""),
    ],
)
def test_language_tags(given, tag, primary) -> None:
    assert language_tag(given) == tag
    assert primary_language(given) == primary


@pytest.mark.parametrize(
    ("language", "engine_language", "locale"),
    [
        (None, "en-us", "en-US"),
        ("auto", "en-us", "en-US"),
        ("en", "en-us", "en-US"),
        ("en-US", "en-us", "en-US"),
        # A regional English the voice does not have is still English to the engine,
        # and the region stays as the locale (how "12/03" and "£5" are read).
        ("en-GB", "en-us", "en-GB"),
        ("english", "en-us", "en-US"),
    ],
)
def test_piper_resolves_regional_english_for_an_english_voice(
    piper_engine, language, engine_language, locale
) -> None:
    resolved = piper_engine.resolve(None, language, 1.0)
    assert resolved.voice == "en_US-joe-medium"
    assert (resolved.language, resolved.locale) == (engine_language, locale)


@pytest.mark.parametrize(
    ("voice", "language", "speed", "field"),
    [
        ("nobody", None, 1.0, "voice"),
        (None, "ja", 1.0, "language"),
        (None, "fr-FR", 1.0, "language"),
        (None, None, 9.0, "speed"),
    ],
)
def test_piper_refuses_what_it_cannot_speak_naming_the_field(
    piper_engine, voice, language, speed, field
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        piper_engine.resolve(voice, language, speed)
    assert refused.value.field == field


def test_what_the_resolver_accepts_the_engine_speaks(piper_engine) -> None:
    """The bug this replaces: en-GB was accepted at `ready`, then every sentence failed."""
    from tts_core import SynthesisRequest

    resolved = piper_engine.resolve(None, "en-GB", 1.0)
    request = SynthesisRequest("Good morning.", resolved.voice, resolved.language, 1.0)
    (chunk,) = list(piper_engine.synthesize(request))
    assert len(chunk) > 0.3 * piper_engine.sample_rate


async def test_core_resolves_through_the_engine_and_loads_it_once() -> None:
    engine = SimulatedEngine()
    core = SpeechCore(engine, idle_unload_s=0)
    resolved = await core.resolve("TONE", "en-AU", 1.5)
    assert (resolved.voice, resolved.language, resolved.locale, resolved.speed) == (
        "tone",
        "en",
        "en-AU",
        1.5,
    )
    with pytest.raises(InvalidRequest):
        await core.resolve("nobody", None)
    assert engine.load_count == 1
    await core.aclose()
