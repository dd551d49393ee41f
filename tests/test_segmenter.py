"""Tests for gateway.segmenter: incremental, abbreviation-aware sentence segmentation."""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import pairwise

import pysbd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.segmenter import (
    SentenceSegmenter,
    TooManySentences,
    count_triggers,
    resolve_language,
)

ABBREVIATION_CASES = [
    "Dr. Smith called at 3 p.m. to confirm.",
    "It costs $3.50 today.",
    "Meet at 10:30 a.m. tomorrow.",
    "J. R. R. Tolkien wrote books.",
    "I live in the U.S.A. and love it.",
]


def llm_tokens(text: str) -> list[str]:
    """Split like an LLM tokenizer streams: " Dr", ".", " Smith", "3", ".", "50"."""
    pieces = re.findall(r"\s*\w+|\s*[^\w\s]|\s+", text)
    assert "".join(pieces) == text
    return pieces


def chars(text: str) -> list[str]:
    return list(text)


def feed(seg: SentenceSegmenter, pieces: Iterable[str], now: float = 0.0) -> list[str]:
    out: list[str] = []
    for piece in pieces:
        out.extend(seg.push(piece, now))
    return out


def squash(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize(
    "splitter", [llm_tokens, chars, lambda t: [t]], ids=["tok", "char", "whole"]
)
@pytest.mark.parametrize("sentence", ABBREVIATION_CASES)
def test_abbreviations_stay_whole_and_release_on_next_sentence(splitter, sentence: str) -> None:
    seg = SentenceSegmenter()
    text = sentence + " Next one starts here"
    released = feed(seg, splitter(text))
    assert released == [sentence]
    assert seg.pending == "Next one starts here"
    assert seg.flush() == ["Next one starts here"]


@pytest.mark.parametrize("splitter", [llm_tokens, chars], ids=["tok", "char"])
def test_abbreviation_stream_yields_each_sentence_once(splitter) -> None:
    text = " ".join(ABBREVIATION_CASES)
    seg = SentenceSegmenter()
    released = feed(seg, splitter(text))
    # the last sentence has no successor yet, so it waits for flush
    assert released == ABBREVIATION_CASES[:-1]
    assert seg.flush() == ABBREVIATION_CASES[-1:]


def test_trailing_abbreviation_is_held_until_more_text_shows_the_end() -> None:
    seg = SentenceSegmenter()
    assert seg.push("Please call Dr", 0.0) == []
    assert seg.push(".", 0.0) == []
    assert seg.push(" Smith", 0.0) == []
    assert seg.pending == "Please call Dr. Smith"
    assert seg.push(" now.", 0.0) == []  # complete-looking, but nothing follows yet
    assert seg.push(" He", 0.0) == ["Please call Dr. Smith now."]
    assert seg.pending == "He"


def test_sentence_ending_in_time_abbreviation_splits_before_capital() -> None:
    seg = SentenceSegmenter()
    released = feed(seg, llm_tokens("Call me at 5 p.m. Then we talk."))
    assert released == ["Call me at 5 p.m."]
    assert seg.flush() == ["Then we talk."]


def test_closing_quote_stays_with_its_sentence() -> None:
    seg = SentenceSegmenter()
    released = feed(seg, chars('He said "Stop." Then he left. (Quietly.) Done'))
    assert released == ['He said "Stop."', "Then he left.", "(Quietly.)"]


def test_newline_ends_a_sentence_immediately() -> None:
    seg = SentenceSegmenter(early_first_clause=False)
    assert seg.push("Shopping list", 0.0) == []
    assert seg.push("\n", 0.0) == ["Shopping list"]
    assert feed(seg, chars("Eggs and milk\n\nBread")) == ["Eggs and milk"]
    assert seg.pending == "Bread"


def test_early_first_clause_cut_after_enough_words() -> None:
    seg = SentenceSegmenter(min_clause_words=5)
    tokens = llm_tokens("Well I think that we should, maybe, go home. Later, we can, eat. Ok")
    out: list[tuple[int, str]] = []
    for i, tok in enumerate(tokens):
        out.extend((i, s) for s in seg.push(tok, 0.0))
    # released as soon as the space after the comma arrives, before the sentence ends
    assert out[0] == (tokens.index(" maybe"), "Well I think that we should,")
    # only the first sentence is cut early; later commas wait for the full sentence
    assert [s for _, s in out] == [
        "Well I think that we should,",
        "maybe, go home.",
        "Later, we can, eat.",
    ]


def test_early_clause_cut_needs_min_words_and_a_real_clause_mark() -> None:
    seg = SentenceSegmenter(min_clause_words=5)
    assert feed(seg, chars("Yes, I do, ")) == []  # too few words
    assert feed(seg, chars("it cost 3,000 dollars and 10:30 is late")) == []  # not clauses
    assert feed(seg, chars(" - ")) == ["Yes, I do, it cost 3,000 dollars and 10:30 is late -"]


def test_early_clause_cut_dashes_and_configuration() -> None:
    seg = SentenceSegmenter(min_clause_words=3)
    assert seg.push("One two three—", 0.0) == ["One two three—"]
    seg = SentenceSegmenter(early_first_clause=False)
    assert feed(seg, chars("Well I think that we should, maybe; go")) == []
    assert seg.pending == "Well I think that we should, maybe; go"


def test_early_clause_cut_is_rearmed_by_flush_and_clear() -> None:
    seg = SentenceSegmenter(min_clause_words=2)
    assert feed(seg, chars("First part, ")) == ["First part,"]
    assert feed(seg, chars("second part, and more")) == []
    assert seg.flush() == ["second part, and more"]
    assert feed(seg, chars("After flush, ")) == ["After flush,"]
    assert feed(seg, chars("then more, ")) == []
    assert seg.clear() == "then more, "
    assert feed(seg, chars("After clear, ")) == ["After clear,"]


def test_bounded_wait_releases_via_poll_with_injected_clock() -> None:
    seg = SentenceSegmenter(max_wait_s=1.0)
    assert seg.next_deadline() is None
    assert seg.poll(100.0) == []
    assert seg.push("Hello there", 10.0) == []
    assert seg.next_deadline() == pytest.approx(11.0)
    assert seg.push(" friend", 10.5) == []  # new text restarts the wait
    assert seg.next_deadline() == pytest.approx(11.5)
    assert seg.poll(11.49) == []
    assert seg.poll(11.5) == ["Hello there friend"]
    assert seg.next_deadline() is None
    assert seg.poll(20.0) == []


def test_whitespace_only_pending_has_no_deadline() -> None:
    seg = SentenceSegmenter()
    assert seg.push("Done. ", 0.0) == []
    assert seg.push("Next", 0.1) == ["Done."]
    assert seg.poll(5.0) == ["Next"]
    assert seg.push("   ", 6.0) == []
    assert seg.next_deadline() is None
    assert seg.pending == ""


def test_late_push_releases_overdue_text_first() -> None:
    seg = SentenceSegmenter(max_wait_s=1.0)
    assert seg.push("Hold on", 0.0) == []
    # the session missed its timer: the overdue text goes out before the new piece joins
    assert seg.push(" please", 3.0) == ["Hold on"]
    assert seg.pending == "please"
    assert seg.next_deadline() == pytest.approx(4.0)


def test_flush_releases_everything_split_by_pysbd() -> None:
    seg = SentenceSegmenter()
    assert seg.push("See you at 3 p.m.", 0.0) == []
    assert seg.flush() == ["See you at 3 p.m."]
    assert seg.flush() == []
    assert seg.push("One.Two words here! ok", 0.0) == []
    assert squash("".join(seg.flush())) == squash("One.Two words here! ok")
    assert seg.pending == ""


def test_clear_drops_pending_and_returns_it() -> None:
    seg = SentenceSegmenter()
    assert feed(seg, llm_tokens("First sentence. Second one is cut")) == ["First sentence."]
    assert seg.clear() == "Second one is cut"
    assert seg.pending == ""
    assert seg.next_deadline() is None
    assert seg.flush() == []
    assert feed(seg, llm_tokens("Fresh start. X")) == ["Fresh start."]


@pytest.mark.parametrize("language", ["zh", "ja"])
def test_cjk_sentence_ends(language: str) -> None:
    seg = SentenceSegmenter(language, early_first_clause=False)
    released = feed(seg, chars("你好。我很好！真的吗？是的"))
    assert released == ["你好。", "我很好！", "真的吗？"]
    assert seg.flush() == ["是的"]


def test_cjk_early_clause_counts_characters_as_words() -> None:
    seg = SentenceSegmenter("zh", min_clause_words=5)
    assert feed(seg, chars("你好，")) == []
    assert feed(seg, chars("今天天气很好，我们")) == ["你好，今天天气很好，"]


def test_language_resolution_falls_back_to_english() -> None:
    assert resolve_language("en-US") == "en"
    assert resolve_language("zh_CN") == "zh"
    assert resolve_language("Japanese") == "ja"
    assert resolve_language("tlh") == "en"
    assert resolve_language("") == "en"
    assert SentenceSegmenter("xx").language == "en"
    seg = SentenceSegmenter("xx")
    assert feed(seg, chars("Dr. Who is here. Yes")) == ["Dr. Who is here."]


def test_sentence_that_never_ends_is_cut_at_spaces_within_the_cap() -> None:
    seg = SentenceSegmenter(max_sentence_chars=100, early_first_clause=False)
    words = [f"word{i}" for i in range(200)]
    released = feed(seg, chars(" ".join(words)))
    released += seg.flush()
    assert all(len(s) <= 100 for s in released)
    assert " ".join(released).split() == words  # cut between words, never inside one
    assert seg.stats.max_pysbd_input <= 101


def test_cap_prefers_a_late_clause_mark_then_hard_cuts_unbroken_text() -> None:
    seg = SentenceSegmenter(max_sentence_chars=40, early_first_clause=False)
    released = feed(seg, chars("aaa bbb ccc ddd eee fff ggg, hhh iii jjj kkk lll"))
    assert released[0] == "aaa bbb ccc ddd eee fff ggg,"
    seg = SentenceSegmenter(max_sentence_chars=40)
    released = feed(seg, chars("x" * 100))
    assert released == ["x" * 40, "x" * 40]
    assert seg.pending == "x" * 20


def test_work_per_piece_does_not_grow_with_text_already_sent() -> None:
    paragraph = (
        "Dr. Smith called at 3 p.m. to confirm. It costs $3.50 today, or so he said. "
        "Meet at 10:30 a.m. tomorrow! J. R. R. Tolkien wrote books; I live in the U.S.A. "
        "and love it. " + "and it goes on " * 40 + "without end?\n"
    )
    text = (paragraph * (50_000 // len(paragraph) + 1))[:50_000]
    assert len(text) == 50_000
    seg = SentenceSegmenter(max_sentence_chars=400)
    window = len(paragraph) * 10  # whole paragraphs, so both ends see the same text
    work: list[int] = []
    released: list[str] = []
    max_pending = 0
    for ch in text:
        before = seg.stats.pysbd_chars
        released.extend(seg.push(ch, 0.0))
        max_pending = max(max_pending, len(seg.pending))
        work.append(seg.stats.pysbd_chars - before)
    released.extend(seg.flush())
    assert squash("".join(released)) == squash(text)
    # the pending tail (copied per piece) and pysbd's input are bounded by the cap
    assert max_pending <= 401
    assert seg.stats.max_pysbd_input <= 401
    assert seg.stats.max_buffer_chars <= 402
    # the same text costs the same at the start and at the end of the stream
    first, last = sum(work[:window]), sum(work[-window:])
    assert first > 0
    assert 0.8 <= last / first <= 1.25
    # and pysbd is not run on every piece
    assert seg.stats.pysbd_calls < len(text) / 20


# -- property tests ---------------------------------------------------------------

FRAGMENTS = [
    "Dr.", "Mr.", "p.m.", "a.m.", "U.S.A.", "J.", "R.", "3.50", "10:30", "e.g.", "etc.",
    "Hello", "world", "the", "and", "It", "We", "i", "no", "3", "2,000",
    ".", "!", "?", "...", ",", ";", ":", "—", " - ", '"', "'", "(", ")",
    " ", " ", " ", "  ", "\n", "\n\n", "\t",
    "你好", "。", "！", "？", "，", "」", "「", "∯", "ȸ", "♨",
]  # fmt: skip

texts = st.one_of(
    st.lists(st.sampled_from(FRAGMENTS), max_size=80).map("".join),
    st.text(alphabet=st.sampled_from(list("aB1 .!?,;:\n\"')(-—。」∯")), max_size=200),
)


@st.composite
def text_and_chunks(draw: st.DrawFn) -> tuple[str, list[str]]:
    text = draw(texts)
    cuts = sorted(draw(st.sets(st.integers(0, len(text)), max_size=max(1, len(text) // 2))))
    edges = [0, *cuts, len(text)]
    return text, [text[a:b] for a, b in pairwise(edges)]


def segment_all(pieces: Iterable[str], **kwargs: object) -> list[str]:
    seg = SentenceSegmenter(**kwargs)  # type: ignore[arg-type]
    out = feed(seg, pieces)
    return out + seg.flush()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text_and_chunks(), st.sampled_from([400, 30]))
def test_chunking_never_changes_loses_or_duplicates_text(
    case: tuple[str, list[str]], cap: int
) -> None:
    text, pieces = case
    whole = segment_all([text], early_first_clause=False, max_sentence_chars=cap)
    chunked = segment_all(pieces, early_first_clause=False, max_sentence_chars=cap)
    assert chunked == whole
    assert squash("".join(chunked)) == squash(text)
    assert all(s and s == s.strip() for s in chunked)
    assert all(len(s) <= cap for s in chunked)


@settings(max_examples=100, deadline=None)
@given(text_and_chunks())
def test_early_clause_cut_never_loses_or_duplicates_text(case: tuple[str, list[str]]) -> None:
    text, pieces = case
    out = segment_all(pieces, min_clause_words=2)
    assert squash("".join(out)) == squash(text)
    assert all(s and s == s.strip() for s in out)


# -- bounded work -------------------------------------------------------------------

WORST_CASES = {
    "repeated abbreviation": "Dr. " * 16000,
    "one-letter sentences": "a. " * 21000,
    "initials": "A. B. C. D. E. F. G. H. " * 2600,
    "plain sentences": "Hello there my friend. " * 2700,
    "no spaces": "x" * 64000,
}


@pytest.mark.parametrize("text", WORST_CASES.values(), ids=WORST_CASES.keys())
def test_a_piece_over_the_sentence_limit_is_refused_early_and_leaves_no_trace(text: str) -> None:
    seg = SentenceSegmenter()
    seg.push("Before this. Pending", 0.0)
    with pytest.raises(TooManySentences) as refused:
        seg.push(text, 0.0, limit=8)
    assert refused.value.limit == 8
    # It stopped at the first sentence over the limit rather than segmenting 64 KB...
    assert seg.stats.pysbd_calls <= 2 + 9 * 2
    assert seg.stats.chars_scanned <= len("Before this. Pending") + 9 * 401
    # ...and the segmenter is exactly as before the refused piece.
    assert seg.pending == "Pending"
    assert seg.push(" text ends here.", 0.0, limit=8) == []
    assert seg.flush() == ["Pending text ends here."]


def test_a_piece_within_the_limit_is_taken_whole() -> None:
    seg = SentenceSegmenter()
    assert seg.push("One. Two. Three. Four", 0.0, limit=3) == ["One.", "Two.", "Three."]
    with pytest.raises(TooManySentences):
        seg.push(". Five. Six. Seven. Eight", 0.0, limit=3)
    assert seg.pending == "Four"


def test_pysbd_is_not_asked_again_about_a_context_it_declined() -> None:
    seg = SentenceSegmenter(max_sentence_chars=400)
    seg.push("Dr. " * 99, 0.0)
    # one call for the first "Dr. D"; the other 97 triggers have the same context
    assert seg.stats.pysbd_calls == 1
    assert seg.stats.triggers_skipped == 97
    # a new context is asked about, and pysbd then splits the whole tail as it sees fit
    released = seg.push("Then Smith went home. Next", 0.0)
    assert seg.stats.pysbd_calls == 2
    assert squash("".join(released)) == squash("Dr. " * 99 + "Then Smith went home.")
    assert seg.pending == "Next"


def test_tail_budget_bounds_pysbd_input_per_tail() -> None:
    abbreviations = sorted(pysbd.languages.LANGUAGE_CODES["en"].Abbreviation.ABBREVIATIONS)
    text = " ".join(a.capitalize() + "." for a in abbreviations)  # every context is new
    seg = SentenceSegmenter(max_sentence_chars=400, tail_budget_chars=1600)
    released = seg.push(text, 0.0) + seg.flush()
    assert squash("".join(released)) == squash(text)
    tails = len(released)
    # per tail at most the budget plus the one call that crossed it, plus the flush
    assert seg.stats.pysbd_chars <= tails * (1600 + 401) + 401


def test_count_triggers_is_an_upper_bound_on_pysbd_calls() -> None:
    for text in [*ABBREVIATION_CASES, "One. Two!\nThree? 四。五！", "no trigger at all"]:
        seg = SentenceSegmenter(early_first_clause=False)
        seg.push(text, 0.0)
        assert seg.stats.pysbd_calls <= count_triggers(text)
    assert count_triggers("no trigger at all") == 0
    assert count_triggers("Dr. " * 10) == 10
