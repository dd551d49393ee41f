"""The alignment between the client's words and what is spoken for them (`cleared.heard`)."""

from __future__ import annotations

import pytest

from tts_core.normalize import normalize, normalize_pieces
from tts_core.normalize.alignment import heard_words, spoken_weights
from tts_core.normalize.rules import HOLE

AMOUNT = "Your total is $1,234,567.89 and that is all."


@pytest.mark.parametrize(
    "text",
    [
        AMOUNT,
        "Call +1 (555) 123-4567 ext. 89 by Dec. 3, 2026 at 3:30 p.m.",
        "Email jane.doe@acme.com or visit acme.com/help.",
        "价格是¥42.50，电话13812345678。",
        "Nothing to rewrite here.",
    ],
)
def test_pieces_give_back_the_written_and_the_spoken_text(text: str) -> None:
    pieces = normalize_pieces(text, "auto", "en-US")
    assert "".join(w for w, _ in pieces) == text
    spoken = "".join(s for _, s in pieces)
    assert normalize(spoken, "en", categories="off") == spoken
    assert " ".join(spoken.split()) == " ".join(normalize(text, "auto", "en-US").split())


def test_an_amount_weighs_what_it_takes_to_say() -> None:
    weights = spoken_weights(AMOUNT, "en")
    assert len(weights) == len(AMOUNT.split())
    spoken = "one million two hundred thirty-four thousand five hundred sixty-seven dollars"
    assert weights[3] > len(spoken)  # the one written word carries all of its reading
    assert weights[:3] == [5, 6, 3]  # "Your " "total " "is ": as written


def test_a_reading_that_spans_written_words_is_shared_among_them() -> None:
    weights = spoken_weights("Call +44 20 7946 0958 now.", "en")
    assert len(weights) == 6
    written = ["+44", "20", "7946", "0958"]
    assert all(w > len(word) for w, word in zip(weights[1:5], written, strict=True))
    assert weights[0] == 5 and weights[-1] == 4


def test_heard_follows_the_spoken_length_not_the_word_count() -> None:
    # Half the audio: the word count would say "Your total is $1,234,567.89";
    # the listener is in the middle of the amount.
    assert int(len(AMOUNT.split()) * 0.5) == 4
    assert heard_words(AMOUNT, 0.5, "en") == 3
    assert heard_words(AMOUNT, 0.05, "en") == 1  # "Your"
    assert heard_words(AMOUNT, 0.9, "en") == 4  # the amount has been said
    assert heard_words(AMOUNT, 0.0, "en") == 0
    assert heard_words(AMOUNT, 1.0, "en") == 8


def test_with_normalization_off_the_written_length_counts() -> None:
    assert heard_words(AMOUNT, 0.65, "en", categories="off") == 4
    assert spoken_weights(AMOUNT, "en", categories="off")[3] == len("$1,234,567.89 ")


def test_only_the_categories_in_force_are_weighed() -> None:
    text = "Pay $42.50 on 12/03/2026."
    dates_only = spoken_weights(text, "en", "en-US", "dates")
    assert dates_only[1] == len("$42.50 ")
    assert dates_only[3] > len("12/03/2026.")


def test_a_stray_private_use_character_falls_back_to_written_lengths() -> None:
    text = f"Pay {HOLE}$5 now."
    assert spoken_weights(text, "en") == [4, 4, 4]


def test_no_words_no_weights() -> None:
    assert spoken_weights("   ", "en") == [] and heard_words("", 0.5, "en") == 0
