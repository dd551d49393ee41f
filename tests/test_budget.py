"""The adaptive token budget leaves room for slow speech yet keeps short prompts cheap.

"Needs" below is the number of 12.5 Hz codec frames a person takes to say the text
at a slow-ish published speaking rate; the budget must be at least 1.5× that so
that no real speech is ever truncated, while a short prompt must stay far below the
2048-token ceiling so a runaway generation costs seconds, not minutes.

Rates used (deliberately slower than the published averages):
- English: 120 words/min. Average conversational English is about 150 wpm (US
  National Center for Voice and Speech); audiobooks are narrated at 150-160 wpm.
- Mandarin: 3.5 syllables/s (one Han character = one syllable). Pellegrino,
  Coupé & Marsico (2011, "A cross-language perspective on speech information
  rate", Language 87(3)) measured 5.18 syllables/s for read Mandarin.
- Japanese: 6 morae/s. The same study measured 7.84 morae/s for read Japanese.
Spoken forms are written out so that numbers are counted as they are said.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tts_core import budget

FRAME_RATE = 12.5  # codec frames per second, 80 ms each
HEADROOM = 1.5

ENGLISH_RATE_WPM = 120.0
MANDARIN_SYLLABLES_PER_S = 3.5
JAPANESE_MORAE_PER_S = 6.0
SMALL_KANA = set("ゃゅょぁぃぅぇぉゎャュョァィゥェォヮ")


def english_seconds(spoken: str) -> float:
    return len(spoken.split()) / ENGLISH_RATE_WPM * 60.0


def mandarin_seconds(spoken: str) -> float:
    return sum("\u4e00" <= ch <= "\u9fff" for ch in spoken) / MANDARIN_SYLLABLES_PER_S


def japanese_seconds(kana_reading: str) -> float:
    """Morae of a kana reading: every kana except the small glides (ゃ, ゅ, ょ, ...)."""
    kana = [ch for ch in kana_reading if "\u3041" <= ch <= "\u30ff" and ch not in SMALL_KANA]
    return len(kana) / JAPANESE_MORAE_PER_S


def needed_tokens(seconds: float) -> float:
    return seconds * FRAME_RATE


SAMPLES = [
    pytest.param(
        "english",
        "Thank you for calling the city library. We are open from 9 to 5, Monday through "
        "Friday, and until 12 on Saturdays. To renew a book, please press 1 now.",
        english_seconds(
            "Thank you for calling the city library. We are open from nine to five, Monday "
            "through Friday, and until twelve on Saturdays. To renew a book, please press one now."
        ),
        id="english-ivr",
    ),
    pytest.param(
        "english",
        "Your confirmation number is 48213977, and the balance due on the account is "
        "$1,234.56 as of March 3rd.",
        english_seconds(
            "Your confirmation number is four eight two one three nine seven seven, and the "
            "balance due on the account is one thousand two hundred thirty four dollars and "
            "fifty six cents as of March third."
        ),
        id="english-numbers",
    ),
    pytest.param(
        "english",
        "I understand completely, and I have already forwarded your request to the billing "
        "department; someone will call you back within two business days to confirm the "
        "refund, and you will also receive a written confirmation by email.",
        english_seconds(
            "I understand completely, and I have already forwarded your request to the billing "
            "department; someone will call you back within two business days to confirm the "
            "refund, and you will also receive a written confirmation by email."
        ),
        id="english-long",
    ),
    pytest.param(
        "chinese",
        "您好，感谢您致电市图书馆。我们的开放时间是周一至周五上午九点到下午五点，"
        "周六上午九点到中午十二点。如需续借图书，请按一。",
        mandarin_seconds(
            "您好感谢您致电市图书馆我们的开放时间是周一至周五上午九点到下午五点"
            "周六上午九点到中午十二点如需续借图书请按一"
        ),
        id="chinese-ivr",
    ),
    pytest.param(
        "chinese",
        "您的订单号是20240315，预计3天内送达。",
        mandarin_seconds("您的订单号是二零二四零三一五预计三天内送达"),
        id="chinese-digits",
    ),
    pytest.param(
        "japanese",
        "お電話ありがとうございます。市立図書館です。開館時間は月曜日から金曜日の"
        "午前九時から午後五時までです。本の貸出延長をご希望の方は、一番を押してください。",
        japanese_seconds(
            "おでんわありがとうございます。しりつとしょかんです。かいかんじかんは"
            "げつようびからきんようびのごぜんくじからごごごじまでです。"
            "ほんのかしだしえんちょうをごきぼうのかたは、いちばんをおしてください。"
        ),
        id="japanese-ivr",
    ),
    pytest.param(
        "japanese",
        "ご予約は3月15日の午後7時30分、4名様でお取りしております。",
        japanese_seconds(
            "ごよやくはさんがつじゅうごにちのごごしちじさんじゅっぷん、"
            "よんめいさまでおとりしております。"
        ),
        id="japanese-digits",
    ),
]


@pytest.mark.parametrize(("language", "text", "seconds"), SAMPLES)
def test_budget_leaves_half_again_the_time_slow_speech_needs(
    language: str, text: str, seconds: float
) -> None:
    tokens = budget.max_new_tokens(text, language)
    assert tokens - 1 >= HEADROOM * needed_tokens(seconds)  # N tokens yield N-1 frames
    assert budget.max_audio_seconds(tokens) >= HEADROOM * seconds


@pytest.mark.parametrize(("language", "text", "seconds"), SAMPLES)
def test_budget_is_not_wasteful_either(language: str, text: str, seconds: float) -> None:
    """Within 4.5x of slow speech: a runaway stops well before the ceiling."""
    tokens = budget.max_new_tokens(text, language)
    assert tokens <= max(budget.MIN_TOKENS, 4.5 * needed_tokens(seconds))
    assert tokens < budget.MAX_TOKENS / 2


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Hello.", "english"),
        ("Yes, one moment please.", "english"),
        ("Sorry, could you repeat that?", None),
        ("你好。", "chinese"),
        ("少々お待ちください。", "japanese"),
        ("Un momento, por favor.", "spanish"),
    ],
)
def test_short_prompts_get_the_floor_far_below_the_ceiling(text: str, language: str) -> None:
    tokens = budget.max_new_tokens(text, language)
    assert tokens == budget.MIN_TOKENS == 128
    assert tokens <= budget.MAX_TOKENS / 16


def test_a_huge_text_is_clamped_to_the_ceiling() -> None:
    assert budget.max_new_tokens("word " * 5000) == budget.MAX_TOKENS == 2048
    assert budget.max_new_tokens("字" * 5000, "chinese") == 2048


def test_about_eight_tokens_per_english_word() -> None:
    words = "the cat sat on the mat and then it ran off to see the dog " * 4  # 60 short words
    assert budget.speech_units(words) == 60
    assert budget.max_new_tokens(words) == 60 * budget.TOKENS_PER_UNIT == 480


def test_cjk_counts_characters_not_spaces() -> None:
    assert budget.speech_units("图书馆") == 3  # no spaces, yet three syllables
    assert budget.speech_units("としょかん") == 5
    assert budget.speech_units("도서관에") == 4
    assert budget.speech_units("Hello 世界") == 3  # mixed script: a word and two characters


def test_digits_count_more_than_a_word() -> None:
    assert budget.speech_units("1") == budget.DIGIT_UNITS == 2
    assert budget.speech_units("2024") == 8
    assert budget.speech_units("２０２４") == 8  # full-width digits too
    assert budget.speech_units("room 12") > budget.speech_units("room twelve")


def test_long_words_and_pauses_add_time() -> None:
    assert budget.speech_units("internationalization") == 4  # 20 letters, 6 per unit
    assert budget.speech_units("don't") == 1
    assert budget.speech_units("yes, no.") == 4


def test_the_declared_language_cannot_shrink_the_budget() -> None:
    text = "お電話ありがとうございます。市立図書館です。" * 3
    budgets = {budget.max_new_tokens(text, lang) for lang in (None, "auto", "english", "japanese")}
    assert len(budgets) == 1


@given(st.text(max_size=200), st.text(max_size=200))
def test_more_text_never_gets_less_budget(head: str, tail: str) -> None:
    tokens = budget.max_new_tokens(head + " " + tail)
    assert budget.MIN_TOKENS <= tokens <= budget.MAX_TOKENS
    assert tokens >= budget.max_new_tokens(head)
