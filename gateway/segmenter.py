"""Incremental, abbreviation-aware sentence segmentation for streamed text.

Owns the cut between "text as the client streams it" (single characters, LLM
tokens) and "sentences worth synthesizing". pysbd decides where sentences end;
this module decides *when* to ask it, so that the work per piece stays bounded
no matter how much text a session has already sent.

How it works:

* Every character position is examined exactly once, in order, and every
  decision depends only on the text up to that position (plus the injected
  clock for the bounded wait). That makes the output independent of how the
  text was chunked.
* pysbd runs only on the pending tail (text after the last released sentence)
  and only at a *trigger*: the first letter/digit after a terminator
  (``.!?…`` followed by whitespace, or ``。！？`` with or without it). Every
  sentence pysbd then finds is released except the last, which may still be
  growing. Text after "Dr." or "p.m." therefore stays pending until pysbd sees
  what follows.
* A line break ends a sentence: everything up to it is released.
* The pending tail is capped at ``max_sentence_chars`` (cut at the last clause
  boundary, else the last space), so pysbd's input is bounded.
* The first sentence of a stream may be released early at a clause boundary
  (``, ; : — –``) once it holds ``min_clause_words`` words, to cut time to first
  audio. "First" means: the first release since construction, ``flush()``,
  ``clear()`` or a bounded-wait release; each of those starts a new utterance
  whose first audio the listener is waiting for.
* Text that never ends is released ``max_wait_s`` after the last piece arrived
  (``poll(now)``), or at ``flush()``.

Bounded work (a session's text must never stall the event loop):

* pysbd costs a fraction of a millisecond per call whatever the input, so the
  number of calls matters as much as their size. A trigger whose context
  pysbd already declined to split in this stream (the word before the
  terminator and the kind of character after it: "Dr." + capital) is not
  asked again; the next trigger with a new context re-reads the whole tail,
  so only the moment of a release can change, never the sentences.
* Each pending tail has a pysbd budget (``tail_budget_chars``, summed over the
  calls made on it); once spent, triggers wait for the tail to be released by
  the length cap, a line break, the bounded wait or a flush.
* ``push(..., limit=n)`` refuses (``TooManySentences``) a piece that would
  release more than ``n`` sentences and leaves the segmenter as it was, so a
  session can keep its queue bound without losing text it accepted.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from itertools import pairwise

import pysbd
from pysbd.languages import LANGUAGE_CODES

__all__ = [
    "SegmenterStats",
    "SentenceSegmenter",
    "TooManySentences",
    "count_triggers",
    "resolve_language",
]

# Terminators that need whitespace after them before a sentence can end there
# (so "3.50", "U.S.A" and "www.x.com" never trigger).
_SPACED_TERMINATORS = frozenset(".!?…।॥؟۔።։။")
# Full-width terminators end a sentence without a following space.
_CJK_TERMINATORS = frozenset("。！？｡")
_TERMINATORS = _SPACED_TERMINATORS | _CJK_TERMINATORS
# Characters that close a sentence after its terminator: 'He said "Stop." Then'.
_CLOSERS = frozenset("\"')]}»”’」』】〕）〉》")
# Characters that may open the next sentence before its first letter.
_OPENERS = frozenset("\"'([{«“‘「『【〔（〈《¿¡")
_LINE_BREAKS = frozenset("\n\r\u2028\u2029\x0b\x0c\x85")
# Clause marks that need a following space ("3,000" and "10:30" are not clauses).
_SPACED_CLAUSE_MARKS = frozenset(",;:")
# Clause marks that stand on their own.
_BARE_CLAUSE_MARKS = frozenset("—–，；：、")
_CLAUSE_MARKS = _SPACED_CLAUSE_MARKS | _BARE_CLAUSE_MARKS
_MEMO_LIMIT = 4096  # contexts remembered per stream (a few bytes each)
_MEMO_WORD_CHARS = 12  # how far back the context word is read

_LANGUAGE_NAMES = {
    "amharic": "am",
    "arabic": "ar",
    "armenian": "hy",
    "bulgarian": "bg",
    "burmese": "my",
    "chinese": "zh",
    "danish": "da",
    "dutch": "nl",
    "english": "en",
    "french": "fr",
    "german": "de",
    "greek": "el",
    "hindi": "hi",
    "italian": "it",
    "japanese": "ja",
    "kazakh": "kk",
    "marathi": "mr",
    "persian": "fa",
    "polish": "pl",
    "russian": "ru",
    "slovak": "sk",
    "spanish": "es",
    "urdu": "ur",
}


def resolve_language(language: str | None) -> str:
    """Map a client's language tag to a pysbd language, English when pysbd lacks it.

    Clients send BCP 47 tags ("en-US", "zh-Hans") or engine names ("Chinese");
    segmentation only needs the primary language, and an unknown one is better
    segmented by English rules than refused.
    """
    if not language:
        return "en"
    tag = language.strip().lower()
    tag = _LANGUAGE_NAMES.get(tag, tag)
    primary = tag.replace("_", "-").split("-", 1)[0]
    return primary if primary in LANGUAGE_CODES else "en"


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (
        0x3040 <= code <= 0x30FF  # kana
        or 0x3400 <= code <= 0x4DBF
        or 0x4E00 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
        or 0xAC00 <= code <= 0xD7AF  # hangul
    )


def _word_count(text: str) -> int:
    """Words for the early-cut threshold; each CJK character counts as one word."""
    count = 0
    for token in text.split():
        cjk = sum(1 for ch in token if _is_cjk(ch))
        count += cjk if cjk else 1
    return count


class TooManySentences(Exception):
    """A piece would release more sentences than the caller's limit; nothing was taken."""

    def __init__(self, released: int, limit: int) -> None:
        super().__init__(f"{released} sentences would be released, limit {limit}")
        self.released = released
        self.limit = limit


def count_triggers(text: str) -> int:
    """How many places in `text` could make the segmenter call pysbd (a cost estimate).

    Counts terminators followed by whitespace or a full-width terminator, plus
    line breaks: an upper bound on the triggers a piece brings, computed in C
    by `str.count` so a session can decide cheaply where to segment a message.
    """
    spaced = sum(text.count(t + " ") + text.count(t + "\n") for t in ".!?…")
    return spaced + sum(text.count(t) for t in _CJK_TERMINATORS) + text.count("\n")


def _context_key(word: str, follower: str) -> str:
    """A bounded-variety key for "pysbd declined to split after `word` before `follower`"."""
    if len(word) <= 8 and all(c.isalpha() or c == "." for c in word):
        shape = word.lower()
    else:  # numbers, codes, long words: their shape, so the key space stays small
        shape = "".join("9" if c.isdigit() else "a" if c.isalpha() else c for c in word[-8:])
    kind = "A" if follower.isupper() else "a" if follower.isalpha() else "9"
    return f"{shape}|{kind}"


@dataclass
class SegmenterStats:
    """Work counters, exposed so that tests and metrics can check the cost per piece."""

    pysbd_calls: int = 0
    pysbd_chars: int = 0
    max_pysbd_input: int = 0
    chars_scanned: int = 0
    max_buffer_chars: int = 0  # longest buffer copied when a piece is appended
    triggers_skipped: int = 0  # pysbd calls saved by the context memo or the tail budget


class SentenceSegmenter:
    """Turns an arbitrarily chunked text stream into sentences, one pending tail at a time.

    Time is injected (``now`` in seconds, any monotonic origin) so the session
    owns the clock and tests can drive it.
    """

    def __init__(
        self,
        language: str = "en",
        *,
        early_first_clause: bool = True,
        min_clause_words: int = 5,
        max_wait_s: float = 1.0,
        max_sentence_chars: int = 400,
        tail_budget_chars: int | None = None,
    ) -> None:
        if max_sentence_chars < 2:
            raise ValueError("max_sentence_chars must be at least 2")
        self.tail_budget_chars = tail_budget_chars or 4 * max_sentence_chars
        self.language = resolve_language(language)
        self.early_first_clause = early_first_clause
        self.min_clause_words = min_clause_words
        self.max_wait_s = max_wait_s
        self.max_sentence_chars = max_sentence_chars
        self.stats = SegmenterStats()
        self._pysbd = pysbd.Segmenter(language=self.language, clean=False, char_span=False)
        # _buf[_start:] is the pending text; _buf[_scan:] has not been examined yet.
        self._buf = ""
        self._start = 0
        self._scan = 0
        self._first = True
        self._last_text_at: float | None = None
        self._declined: set[str] = set()  # contexts pysbd did not split at
        self._tail_spent = 0  # pysbd input spent on triggers of the current tail
        self._limit: int | None = None  # sentences the current push may release

    # ------------------------------------------------------------------ API

    @property
    def pending(self) -> str:
        """Text received but not yet released (leading whitespace dropped)."""
        return self._buf[self._start :]

    def push(self, text: str, now: float, *, limit: int | None = None) -> list[str]:
        """Append a piece exactly as sent; return the sentences it completes.

        If the pending text had already waited past its deadline (the session
        polled late), it is released first, as ``poll`` would have done. With
        `limit`, a piece that would release more sentences raises
        `TooManySentences` and is not taken (the segmenter is left as it was).
        """
        if limit is None:
            return self._push(text, now)
        saved = self.snapshot()
        self._limit = limit
        try:
            return self._push(text, now)
        except TooManySentences:
            self.restore(saved)
            raise
        finally:
            self._limit = None

    def snapshot(self) -> tuple[object, ...]:
        """The segmenter's position, for `restore` when a caller must take a push back.

        Cheap (strings are immutable): the buffer is shared, not copied.
        """
        return (
            self._buf,
            self._start,
            self._scan,
            self._first,
            self._last_text_at,
            self._tail_spent,
        )

    def restore(self, saved: tuple[object, ...]) -> None:
        """Return to a `snapshot`: every push since then is as if it never happened."""
        (self._buf, self._start, self._scan, self._first, self._last_text_at, self._tail_spent) = (
            saved  # type: ignore[assignment]
        )

    def _push(self, text: str, now: float) -> list[str]:
        released = self.poll(now)
        if self._limit is not None:
            self._limit -= len(released)  # what the bounded wait released counts too
            if self._limit < 0:
                raise TooManySentences(len(released), len(released) + self._limit)
        if not text:
            return released
        self._buf += text
        self._last_text_at = now
        self.stats.max_buffer_chars = max(self.stats.max_buffer_chars, len(self._buf))
        released.extend(self._advance())
        self._compact()
        return released

    def poll(self, now: float) -> list[str]:
        """Release the pending text once it has waited ``max_wait_s`` without new text."""
        deadline = self.next_deadline()
        if deadline is None or now < deadline:
            return []
        return self.flush()

    def flush(self) -> list[str]:
        """Release everything pending, split by pysbd; the next sentence is a "first" again."""
        released = self._release_all(len(self._buf))
        self._buf = ""
        self._start = self._scan = 0
        self._first = True
        self._tail_spent = 0
        return released

    def clear(self) -> str:
        """Drop the pending text (barge-in) and return it; the next sentence is a "first" again."""
        dropped = self.pending
        self._buf = ""
        self._start = self._scan = 0
        self._first = True
        self._tail_spent = 0
        return dropped

    def next_deadline(self) -> float | None:
        """When ``poll`` would release the pending text, or None if nothing waits."""
        if self._last_text_at is None or self._start >= len(self._buf):
            return None
        return self._last_text_at + self.max_wait_s

    # ------------------------------------------------------------ scanning

    def _advance(self) -> list[str]:
        """Examine every new position once, in order, acting on the events found."""
        released: list[str] = []
        buf = self._buf
        j = self._scan
        end = len(buf)
        first = j
        while j < end:
            ch = buf[j]
            if j == self._start and ch.isspace():
                self._start += 1  # nothing pending yet: leading whitespace is dropped
                j += 1
                continue
            if ch in _LINE_BREAKS:
                released.extend(self._release_all(j + 1))
            elif ch.isalnum() and (term := self._terminator_before(j)) >= 0:
                released.extend(self._on_trigger(term, j))
            elif (cut := self._early_clause_cut(j)) is not None:
                released.extend(self._release_span(cut))
            if j + 1 - self._start > self.max_sentence_chars:
                released.extend(self._release_span(self._length_cut()))
            while self._start <= j and buf[self._start].isspace():
                self._start += 1
            j += 1
            if self._limit is not None and len(released) > self._limit:
                self.stats.chars_scanned += j - first
                raise TooManySentences(len(released), self._limit)  # stop: the piece is refused
        self.stats.chars_scanned += j - first
        self._scan = j
        return released

    def _terminator_before(self, j: int) -> int:
        """The terminator's index if buf[j] is the first letter after one, else -1.

        Shape: terminator, closers, whitespace (required after ".!?"), openers, buf[j].
        """
        buf, start = self._buf, self._start
        k = j - 1
        while k >= start and buf[k] in _OPENERS:
            k -= 1
        spaced = False
        while k >= start and buf[k].isspace():
            k -= 1
            spaced = True
        while k >= start and buf[k] in _CLOSERS:
            k -= 1
        if k < start:
            return -1
        if buf[k] in _CJK_TERMINATORS or (spaced and buf[k] in _TERMINATORS):
            return k
        return -1

    def _on_trigger(self, term: int, j: int) -> list[str]:
        """Ask pysbd about the tail up to buf[j], unless the answer is already known."""
        buf = self._buf
        w = term
        floor = max(self._start, term - _MEMO_WORD_CHARS)
        while w > floor and not buf[w - 1].isspace():
            w -= 1
        key = _context_key(buf[w : term + 1], buf[j])
        if key in self._declined or self._tail_spent >= self.tail_budget_chars:
            self.stats.triggers_skipped += 1
            return []
        self._tail_spent += j + 1 - self._start
        released = self._release_complete(j + 1)
        if not released:
            if len(self._declined) >= _MEMO_LIMIT:
                self._declined.clear()
            self._declined.add(key)
        return released

    def _early_clause_cut(self, j: int) -> int | None:
        """End of the first clause if buf[j] confirms one long enough to send early."""
        if not (self._first and self.early_first_clause):
            return None
        buf, start = self._buf, self._start
        ch = buf[j]
        if ch in _BARE_CLAUSE_MARKS:
            cut = j + 1
        elif ch.isspace() and j - 1 >= start:
            prev = buf[j - 1]
            if prev in _SPACED_CLAUSE_MARKS:
                cut = j
            elif prev == "-" and j - 2 >= start and buf[j - 2].isspace():
                cut = j  # " - " used as a dash
            else:
                return None
        else:
            return None
        if _word_count(buf[start:cut]) < self.min_clause_words:
            return None
        return cut

    def _length_cut(self) -> int:
        """Where to cut a sentence that outgrew ``max_sentence_chars``.

        Prefer the last clause mark in the second half of the window (a natural
        pause), else the last whitespace, else a hard cut.
        """
        buf, start = self._buf, self._start
        limit = start + self.max_sentence_chars
        half = start + self.max_sentence_chars // 2
        last_space = -1
        for k in range(limit - 1, start, -1):
            ch = buf[k]
            if k >= half:
                if ch in _BARE_CLAUSE_MARKS or (
                    ch in _SPACED_CLAUSE_MARKS and buf[k + 1].isspace()
                ):
                    return k + 1
            elif last_space >= 0:
                break
            if last_space < 0 and ch.isspace():
                last_space = k
        return last_space if last_space > start else limit

    # ------------------------------------------------------------ releasing

    def _segment(self, text: str) -> list[str]:
        self.stats.pysbd_calls += 1
        self.stats.pysbd_chars += len(text)
        self.stats.max_pysbd_input = max(self.stats.max_pysbd_input, len(text))
        try:
            return self._pysbd.segment(text)
        except Exception:  # a pysbd bug on odd input must not end the session
            return [text]
        finally:
            if threading.current_thread() is not threading.main_thread():
                # On the segmentation worker: hand the GIL to the event loop between
                # pysbd calls rather than only when the interpreter's 5 ms timer asks.
                time.sleep(0)

    def _boundaries(self, text: str, segments: list[str]) -> list[int]:
        """Map pysbd's segments back onto ``text`` (all but the last segment).

        Boundaries are found by counting non-whitespace characters rather than
        trusting pysbd's strings, so a character pysbd alters or drops can never
        be lost or duplicated here. A closer pysbd pushed to the next sentence
        ("End.", ")  Hmm") is pulled back to the one it closes.
        """
        bounds: list[int] = []
        pos = 0
        for seg in segments[:-1]:
            need = sum(1 for ch in seg if not ch.isspace())
            while pos < len(text) and need:
                if not text[pos].isspace():
                    need -= 1
                pos += 1
            while pos < len(text) and text[pos] in _CLOSERS:
                pos += 1
            if bounds and pos <= bounds[-1]:
                continue
            if 0 < pos < len(text):
                bounds.append(pos)
        return bounds

    def _release_complete(self, upto: int) -> list[str]:
        """Release every sentence pysbd finds in buf[start:upto] except the last."""
        text = self._buf[self._start : upto]
        bounds = self._boundaries(text, self._segment(text))
        if not bounds:
            return []
        return self._release_span(self._start + bounds[-1], bounds[:-1])

    def _release_all(self, upto: int) -> list[str]:
        """Release buf[start:upto] entirely, split into the sentences pysbd finds."""
        text = self._buf[self._start : upto]
        if not text.strip():
            self._start = max(self._start, upto)
            return []
        bounds = self._boundaries(text, self._segment(text))
        return self._release_span(upto, bounds)

    def _release_span(self, cut: int, inner: list[int] | None = None) -> list[str]:
        """Release buf[start:cut], split at ``inner`` offsets (relative to start)."""
        start = self._start
        edges = [start, *(start + b for b in inner or ()), cut]
        out = []
        for a, b in pairwise(edges):
            sentence = self._buf[a:b].strip()
            if sentence:
                out.append(sentence)
        self._start = cut
        self._tail_spent = 0
        if out:
            self._first = False
        return out

    def _compact(self) -> None:
        """Drop released text so the buffer (and each push's copy) stays bounded."""
        if self._start:
            self._buf = self._buf[self._start :]
            self._scan -= self._start
            self._start = 0
