"""Which language a sentence is normalized in, and what each language supports.

Engines name languages differently: Piper voices use espeak tags (`en-us`,
`de`), Qwen3-TTS uses names (`english`, `auto`), clients send ISO codes or
BCP 47 locales (`en-GB`). `resolve` maps all of them onto one `Profile`: the
base language, the region (it decides `12/03` = December 3rd in `en-US` and 12
March in `en-GB`), the num2words code and the words the rules need. With no
language or `auto`, the script of the text decides (kana: Japanese, Hangul:
Korean, Han: Chinese, Cyrillic: Russian, otherwise English), so an `auto` Qwen
session speaking Chinese never gets English number words.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from .categories import ALL, CATEGORIES

NAMES = {
    "english": "en", "chinese": "zh", "french": "fr", "german": "de", "italian": "it",
    "japanese": "ja", "korean": "ko", "portuguese": "pt", "russian": "ru", "spanish": "es",
    "mandarin": "zh", "cmn": "zh", "yue": "zh",
}  # fmt: skip

#: Regions that read numeric dates month first.
MONTH_FIRST = frozenset({"us", "ph", "fm", "mh", "pw", "as", "gu", "pr", "vi", "um"})
#: Languages whose numeric dates are year first (2026/03/12, 2026年3月12日).
YEAR_FIRST = frozenset({"zh", "ja", "ko", "hu", "lt"})
#: Languages that write the decimal comma (1.234,5) rather than the decimal point.
DECIMAL_POINT = frozenset({"en", "zh", "ja", "ko", "th", "he", "ga", "mt"})
#: Regions whose Spanish writes the decimal point ($1,234.50): Mexico, Central America,
#: the Caribbean and the United States.
POINT_REGIONS = frozenset(
    ("es", r) for r in ("mx", "us", "pr", "do", "gt", "hn", "ni", "pa", "sv", "cu")
)

_EN_WORDS: dict[str, str] = {
    "point": "point", "minus": "minus", "plus": "plus", "percent": "percent", "to": "to",
    "dot": "dot", "at": "at", "slash": "slash", "dash": "dash", "underscore": "underscore",
    "colon": "colon", "and": "and", "extension": "extension", "number": "number",
    "question": "question mark", "equals": "equals", "hash": "hash",
}  # fmt: skip

# Words the non-English rules need. Kept small on purpose: what is missing here
# is reported in the capability table rather than guessed.
_WORDS: dict[str, dict[str, str]] = {
    "en": _EN_WORDS,
    "fr": {"point": "virgule", "minus": "moins", "plus": "plus", "percent": "pour cent",
           "to": "à", "dot": "point", "at": "arobase", "slash": "barre oblique",
           "dash": "tiret", "underscore": "tiret bas", "colon": "deux-points", "and": "et",
           "extension": "poste", "number": "numéro", "hour": "heures", "hour1": "heure"},
    "de": {"point": "Komma", "minus": "minus", "plus": "plus", "percent": "Prozent",
           "to": "bis", "dot": "Punkt", "at": "at", "slash": "Schrägstrich", "dash": "Bindestrich",
           "underscore": "Unterstrich", "colon": "Doppelpunkt", "and": "und",
           "extension": "Durchwahl", "number": "Nummer", "hour": "Uhr", "hour1": "Uhr"},
    "es": {"point": "coma", "minus": "menos", "plus": "más", "percent": "por ciento",
           "to": "a", "dot": "punto", "at": "arroba", "slash": "barra", "dash": "guion",
           "underscore": "guion bajo", "colon": "dos puntos", "and": "y",
           "extension": "extensión", "number": "número", "hour": "y"},
    "it": {"point": "virgola", "minus": "meno", "plus": "più", "percent": "per cento",
           "to": "a", "dot": "punto", "at": "chiocciola", "slash": "barra", "dash": "trattino",
           "underscore": "trattino basso", "colon": "due punti", "and": "e",
           "extension": "interno", "number": "numero", "hour": "e"},
    "pt": {"point": "vírgula", "minus": "menos", "plus": "mais", "percent": "por cento",
           "to": "a", "dot": "ponto", "at": "arroba", "slash": "barra", "dash": "hífen",
           "underscore": "sublinhado", "colon": "dois pontos", "and": "e",
           "extension": "ramal", "number": "número", "hour": "e"},
    "ru": {"point": "запятая", "minus": "минус", "plus": "плюс", "percent": "процентов",
           "to": "до", "dot": "точка", "at": "собака", "slash": "слэш", "dash": "дефис",
           "underscore": "нижнее подчёркивание", "colon": "двоеточие", "and": "и",
           "extension": "добавочный", "number": "номер"},
    "zh": {"point": "点", "minus": "负", "percent": "百分之", "and": "和", "plus": "加",
           "extension": "转"},
    "ja": {"point": "点", "minus": "マイナス", "percent": "パーセント", "and": "と",
           "plus": "プラス", "extension": "内線"},
    "ko": {"point": "점", "minus": "마이너스", "percent": "퍼센트", "and": "와", "plus": "플러스",
           "extension": "내선"},
}  # fmt: skip

MONTHS: dict[str, tuple[str, ...]] = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre"),
    "de": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
           "September", "Oktober", "November", "Dezember"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
           "septiembre", "octubre", "noviembre", "diciembre"),
    "it": ("gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto",
           "settembre", "ottobre", "novembre", "dicembre"),
    "pt": ("janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto",
           "setembro", "outubro", "novembro", "dezembro"),
    # Genitive: dates say "12 марта".
    "ru": ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
           "сентября", "октября", "ноября", "декабря"),
}  # fmt: skip

_FULL = ALL
_EUROPEAN = frozenset(
    {"numbers", "currency", "percent", "dates", "times", "phone", "codes", "emails", "urls",
     "symbols"}
)  # fmt: skip
_CJK = frozenset({"numbers", "currency", "percent", "dates", "times", "phone"})
#: Languages num2words knows but we have no rules for: what can be read without
#: knowing the language's conventions for dates, times or symbols.
NUMBERS_ONLY = frozenset({"numbers", "currency", "phone"})

SUPPORTED: dict[str, frozenset[str]] = {
    "en": _FULL,
    **{lang: _EUROPEAN | {"ordinals"} for lang in ("fr", "de", "es", "it", "pt")},
    "ru": _EUROPEAN,
    **{lang: _CJK for lang in ("zh", "ja", "ko")},
}

_NO_UNITS = "no units or abbreviations yet"
NOTES: dict[str, str] = {
    "en": "all categories; numeric dates read by region (en-US month first, others day first)",
    "fr": f"ordinals 1er, 2e; times 15h30 and 9h; {_NO_UNITS}",
    "de": f"ordinals '3.' after an article or preposition; dates '3. Mai', '3.4.'; {_NO_UNITS}",
    "es": f"ordinals 1º, 2ª; decimal point in es-MX and other point regions; {_NO_UNITS}",
    "it": f"ordinals 1º, 2ª; {_NO_UNITS}",
    "pt": f"ordinals 1º, 2ª; R$ as reais; {_NO_UNITS}",
    "ru": f"no ordinals, {_NO_UNITS}; number words are not declined",
    "zh": "numbers, money, percentages, dates, times and phone numbers (mobile 3-4-4)",
    "ja": "numbers, money, percentages, dates, times and phone numbers",
    "ko": "numbers, money, percentages, dates, times (native hours 1-12), phone numbers",
}


@dataclass(frozen=True)
class Profile:
    """Everything the rules need to know about the language of one sentence."""

    lang: str  # base ISO 639-1 code, "en"
    region: str  # lower-case region, "us"; "" when unknown
    n2w: str | None  # num2words language code, None when num2words lacks it
    categories: frozenset[str]  # what this language supports
    words: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def date_order(self) -> str:
        """ "MDY", "DMY" or "YMD": how a numeric date like 12/03/2026 is read."""
        if self.lang in YEAR_FIRST:
            return "YMD"
        if self.lang == "en" and self.region in MONTH_FIRST:
            return "MDY"
        return "DMY"

    @property
    def decimal_comma(self) -> bool:
        return self.lang not in DECIMAL_POINT and (self.lang, self.region) not in POINT_REGIONS

    @property
    def numbers_only(self) -> bool:
        """A language num2words reads but no rules of ours cover (nl, pl, sv ...)."""
        return self.lang not in SUPPORTED

    @property
    def british(self) -> bool:
        """English outside North America says "one hundred and five"."""
        return self.lang == "en" and self.region not in ("us", "ca", "")

    def word(self, key: str) -> str:
        return self.words.get(key) or _EN_WORDS.get(key, key)


def _split_tag(tag: str) -> tuple[str, str]:
    parts = tag.strip().replace("_", "-").lower().split("-")
    base = NAMES.get(parts[0], parts[0])
    region = next((p for p in parts[1:] if len(p) == 2 and p.isalpha()), "")
    return base, region


def detect_script(text: str) -> str:
    """The language the script of `text` points to: ja, ko, zh, ru, or en (one pass)."""
    han = False
    for ch in text:
        code = ord(ch)
        if 0x3040 <= code <= 0x30FF:
            return "ja"
        if 0xAC00 <= code <= 0xD7AF or 0x1100 <= code <= 0x11FF:
            return "ko"
        if 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF:
            han = True  # Han alone: Chinese, unless kana turns up later
        elif 0x0400 <= code <= 0x04FF and not han:
            return "ru"
    return "zh" if han else "en"


def _num2words_code(lang: str, region: str) -> str | None:
    from num2words import CONVERTER_CLASSES

    if lang == "en":
        return "en_IN" if region == "in" else "en"
    if lang == "pt":
        return "pt"  # pt_BR's currency converter takes different arguments
    return lang if lang in CONVERTER_CLASSES else None


def _num2words_words(n2w: str) -> dict[str, str]:
    """The decimal and minus words num2words has for a language, where they are words.

    Without them a numbers-only language would hear English "point" and "minus";
    a language that lacks one simply keeps that sign or decimal as written.
    """
    from num2words import CONVERTER_CLASSES

    converter = CONVERTER_CLASSES[n2w]
    found: dict[str, str] = {}
    for key, attr in (("point", "pointword"), ("minus", "negword")):
        value = getattr(converter, attr, None)
        if isinstance(value, str) and value.strip().replace(" ", "").isalpha():
            found[key] = value.strip()
    return found


@functools.lru_cache(maxsize=256)
def _profile(lang: str, region: str) -> Profile:
    n2w = _num2words_code(lang, region)
    words = _WORDS.get(lang, {})
    if lang in SUPPORTED:
        cats = SUPPORTED[lang]
    elif n2w is not None:
        cats = NUMBERS_ONLY
        words = _num2words_words(n2w)
    else:
        cats = frozenset()
    if lang == "en" and not region:
        region = "us"
    return Profile(lang, region, n2w, cats, words)


def resolve(language: str | None, locale: str | None = None, text: str = "") -> Profile:
    """The profile for a request's language and locale (the locale's region wins).

    `language` may be an ISO code, a locale, an espeak tag or an engine's name
    ("english"); `None`, "" and "auto" fall back to the locale's language, then
    to the script of `text`.
    """
    lang, region = _split_tag(language or "")
    loc_lang, loc_region = _split_tag(locale or "")
    if lang in ("", "auto"):
        lang = loc_lang if loc_lang not in ("", "auto") else detect_script(text)
    if loc_region and loc_lang in (lang, "", "auto"):
        region = loc_region
    return _profile(lang, region)


def capabilities() -> dict[str, object]:
    """Per-language report for `/v1/voices`: what is normalized where, and what passes through.

    `languages` lists the languages with rules of their own; any other language
    num2words knows gets numbers and phone numbers; the rest pass through unchanged.
    """
    from num2words import CONVERTER_CLASSES

    others = sorted({code.split("_")[0] for code in CONVERTER_CLASSES} - set(SUPPORTED) - {"en"})
    return {
        "categories": list(CATEGORIES),
        "languages": {
            lang: {
                "categories": [c for c in CATEGORIES if c in cats],
                "note": NOTES.get(lang, ""),
            }
            for lang, cats in SUPPORTED.items()
        },
        "numbers_only": {
            "languages": others,
            "categories": [c for c in CATEGORIES if c in NUMBERS_ONLY],
            "note": "num2words number words for numbers standing alone (with the "
            "language's decimal word), amounts in the currencies num2words names for the "
            "language, and phone numbers digit by digit; dates, times, numbers joined to "
            "symbols or letters, and everything else pass through unchanged",
        },
        "passthrough": "any other language: text reaches the engine unchanged",
    }
