"""What the benchmark says, and how fast an LLM would say it.

Answers read like a voice agent's turns: a short opener, then longer
sentences, with abbreviations and numbers the segmenter must keep whole.
Text is streamed in LLM-sized tokens (a word with its leading space, or a
punctuation mark) at a fixed token rate, about 30 tokens/s by default.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

TURNS: tuple[str, ...] = (
    "Sure. Your appointment with Dr. Smith is on Tuesday at 3 p.m. at the Main Street clinic.",
    "Let me check that for you. The order shipped yesterday and should arrive by Friday.",
    "Okay. I have updated your phone number, and a confirmation text is on its way.",
    "Thanks for waiting. Your balance is $42.50, and the next payment is due on the 15th.",
    "Got it. I can book a table for four at 7:30 tonight, or at 8 if you prefer.",
    "Of course. The store opens at 9 a.m. on weekdays and at 10 on Saturdays.",
    "One moment. I found two flights to Boston tomorrow morning, at 6:45 and at 9:10.",
    "Alright. Your ticket number is 4471, and an agent will call you back within the hour.",
    "Yes. The warranty covers parts and labor for two years from the date of purchase.",
    "No problem. I have cancelled the reservation, and you will not be charged a fee.",
    "Great. Your package will be left at the front desk, as you asked last time.",
    "Hmm, let me see. The pharmacy has your prescription ready for pickup after 4 p.m.",
)

# A longer answer for sessions that must keep talking (fairness, overhead).
MONOLOGUE = (
    "Sure. Here is a summary of your account. You have three open orders, and the "
    "oldest one was placed on March 3rd. Two of them are already on their way, and "
    "the third is waiting for a part from our supplier. I expect it to ship within "
    "five business days. Is there anything else I can help you with today?"
)

# Answers for many concurrent callers: every sentence holds a few seconds of
# speech, so one caller alone never runs dry at the fairness scenario's RTF and
# any underrun there comes from sharing the engine.
STEADY: tuple[str, ...] = (
    "I can see your order from last week in our system. It left our warehouse "
    "this morning and is now with the courier. You should receive it by Thursday afternoon.",
    "Your current plan includes unlimited calls and ten gigabytes of data. "
    "The next bill will be issued on the first of the month. Autopay is still switched on for you.",
    "The clinic has two openings left on Friday morning. One is at a quarter past nine "
    "with the nurse practitioner. The other one is just before noon with your usual doctor.",
    "I have reset the password on your online account. A temporary code is on its way "
    "to your email address. Please change it the next time you sign in to the portal.",
)

# Plain words: no abbreviation inside that the engine itself might split on.
ONE_SENTENCE = "Your appointment is confirmed for Tuesday afternoon at the main clinic."
MULTI_SENTENCE = (
    "Thanks for calling. Your appointment with Dr. Smith is confirmed for Tuesday at 3 p.m. "
    "Please bring your insurance card and arrive ten minutes early. If you need to "
    "reschedule, call us back at least a day before. Have a great afternoon."
)

# The noisy tenant of `tenants`: one long sentence per session, 350-390 characters each,
# with no clause mark in the first 200, so the segmenter's first piece is a long one too.
NOISY_SENTENCES: tuple[str, ...] = (
    "Thank you for calling the support line and please stay on the line because your call is "
    "important to us and we will answer it as soon as one of our agents is free to take it "
    "from you, meanwhile please have your account number ready and note that many questions "
    "are answered on our website where you can also track your order or change your delivery "
    "address today.",
    "We are sorry for the delay in handling your request because our team has received a very "
    "large number of messages since the weekend and every one of them is being answered in the "
    "order it arrived, so please do not send your question again because a second message "
    "would only move it further back in the line and an agent will write to you as soon as "
    "your turn comes.",
    "Before we continue with your booking we need to confirm a few details with you including "
    "the full name of every passenger exactly as it appears on their passport and a phone "
    "number where we can reach you during the journey, and whether anyone travelling with you "
    "needs special assistance at the airport, a wheelchair or a particular meal on board the "
    "plane.",
)
# The quiet tenant's caller: one short question.
QUIET_SENTENCE = "Hello, I have a quick question about my order."

_TOKEN = re.compile(r"\s*(?:\w+|[^\w\s])|\s+")


def tokens(text: str) -> list[str]:
    """Split like an LLM stream: a word with its leading space, or one punctuation mark.

    The pieces concatenate back to the exact text (spaces are part of the next token).
    """
    return _TOKEN.findall(text)


def turns(n: int) -> Iterator[str]:
    """n turns, cycling through `TURNS` (the audio cache is off, so repeats cost the same)."""
    for i in range(n):
        yield TURNS[i % len(TURNS)]
