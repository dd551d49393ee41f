"""Money: currency symbols and ISO codes, cents, and large amounts ("$1.2 million").

Why not leave it to the voice: Piper reads "$42.50" so that a listener hears
"$1.42.50" (the symbol is spoken first, then the number as two parts). The
reading a person expects puts the unit after the amount and the cents apart:
"forty-two dollars and fifty cents"; "$1.2 million" is "one point two million
dollars"; "$0.99" is "ninety-nine cents". Other languages use num2words' own
currency words (and its plural rules, which matter in Russian); Chinese,
Japanese and Korean put the currency word after the amount.
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal

from . import words
from .languages import Profile
from .numbers import NUM_COMMA, NUM_POINT, say_number
from .rules import NOT_BEFORE_WORD, Context, Rule

SYMBOLS = {
    "US$": "USD", "C$": "CAD", "CA$": "CAD", "A$": "AUD", "AU$": "AUD", "NZ$": "NZD",
    "HK$": "HKD", "S$": "SGD", "R$": "BRL", "$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY",
    "₹": "INR", "₩": "KRW", "₽": "RUB", "₺": "TRY", "₪": "ILS", "₱": "PHP", "฿": "THB",
    "zł": "PLN", "Kč": "CZK", "₴": "UAH",
}  # fmt: skip
#: Where "$" is the local peso rather than the US dollar (Spanish by region).
LOCAL_DOLLAR = {"mx": "MXN", "ar": "ARS", "co": "COP", "cl": "CLP", "uy": "UYU", "do": "DOP"}
#: Currency words num2words lacks for a language: (major forms, minor forms).
EXTRA_FORMS: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "pt": {"BRL": (("real", "reais"), ("centavo", "centavos"))},
}

# English names: singular, plural, minor singular, minor plural ("" = no minor unit).
EN_NAMES: dict[str, tuple[str, str, str, str]] = {
    "USD": ("dollar", "dollars", "cent", "cents"),
    "CAD": ("Canadian dollar", "Canadian dollars", "cent", "cents"),
    "AUD": ("Australian dollar", "Australian dollars", "cent", "cents"),
    "NZD": ("New Zealand dollar", "New Zealand dollars", "cent", "cents"),
    "HKD": ("Hong Kong dollar", "Hong Kong dollars", "cent", "cents"),
    "SGD": ("Singapore dollar", "Singapore dollars", "cent", "cents"),
    "EUR": ("euro", "euros", "cent", "cents"),
    "GBP": ("pound", "pounds", "penny", "pence"),
    "JPY": ("yen", "yen", "", ""),
    "CNY": ("yuan", "yuan", "", ""),
    "RMB": ("yuan", "yuan", "", ""),
    "KRW": ("won", "won", "", ""),
    "INR": ("rupee", "rupees", "paisa", "paise"),
    "RUB": ("ruble", "rubles", "kopeck", "kopecks"),
    "CHF": ("Swiss franc", "Swiss francs", "centime", "centimes"),
    "MXN": ("Mexican peso", "Mexican pesos", "centavo", "centavos"),
    "BRL": ("real", "reais", "centavo", "centavos"),
    "TRY": ("lira", "lira", "kurus", "kurus"),
    "ILS": ("shekel", "shekels", "agora", "agorot"),
    "PHP": ("peso", "pesos", "centavo", "centavos"),
    "THB": ("baht", "baht", "satang", "satang"),
    "PLN": ("zloty", "zlotys", "grosz", "groszy"),
    "CZK": ("Czech koruna", "Czech korunas", "haler", "halers"),
    "UAH": ("hryvnia", "hryvnias", "kopiyka", "kopiykas"),
    "SEK": ("Swedish krona", "Swedish kronor", "öre", "öre"),
    "NOK": ("Norwegian krone", "Norwegian kroner", "øre", "øre"),
    "DKK": ("Danish krone", "Danish kroner", "øre", "øre"),
}
CJK_NAMES: dict[str, dict[str, str]] = {
    "zh": {"USD": "美元", "EUR": "欧元", "GBP": "英镑", "JPY": "日元", "CNY": "元", "RMB": "元",
           "KRW": "韩元", "INR": "卢比", "RUB": "卢布", "HKD": "港元", "CAD": "加元"},
    "ja": {"USD": "ドル", "EUR": "ユーロ", "GBP": "ポンド", "JPY": "円", "CNY": "元", "RMB": "元",
           "KRW": "ウォン", "INR": "ルピー", "RUB": "ルーブル"},
    "ko": {"USD": "달러", "EUR": "유로", "GBP": "파운드", "JPY": "엔", "CNY": "위안", "RMB": "위안",
           "KRW": "원", "INR": "루피", "RUB": "루블"},
}  # fmt: skip

SCALES = {
    "thousand": "thousand", "k": "thousand", "K": "thousand", "million": "million",
    "m": "million", "M": "million", "mn": "million", "mm": "million", "MM": "million",
    "billion": "billion", "b": "billion", "B": "billion", "bn": "billion", "Bn": "billion",
    "trillion": "trillion", "tn": "trillion", "T": "trillion",
}  # fmt: skip

_ISO = "|".join(sorted(EN_NAMES, key=len, reverse=True))
_SYM = "|".join(re.escape(s) for s in sorted(SYMBOLS, key=len, reverse=True))
_SCALE = "|".join(sorted(SCALES, key=len, reverse=True))


def _currency_of(token: str, profile: Profile) -> str:
    code = SYMBOLS.get(token, token.upper())
    if token == "¥" and profile.lang == "zh":
        return "CNY"
    if token == "$" and profile.lang == "es" and profile.region in LOCAL_DOLLAR:
        return LOCAL_DOLLAR[profile.region]
    return code


def _english(
    amount: str, code: str, scale: str | None, profile: Profile, attributive: bool = False
) -> str | None:
    """`attributive`: the amount describes a noun ("a $5 bill"), so the unit is singular
    and joined to the number: "a five-dollar bill", "a three billion dollar deal"."""
    parsed = words.parse_number(amount, profile)
    if parsed is None:
        return None
    sign, whole, frac = parsed
    one, many, minor_one, minor_many = EN_NAMES.get(code, (code, code, "", ""))
    minus = "minus " if sign < 0 else ""
    if scale:
        spoken = words.decimal(whole, frac, profile)
        return f"{minus}{spoken} {SCALES[scale]} {one if attributive else many}"
    units = int(whole or "0")
    if attributive and not frac and units and " " not in one:
        return f"{minus}{words.cardinal(units, profile)}-{one}"
    if frac and (len(frac) > 2 or not minor_one):
        spoken = words.decimal(whole, frac, profile)
        return f"{minus}{spoken} {many}"
    cents = int(frac.ljust(2, "0")) if frac else 0
    major = f"{words.cardinal(units, profile)} {one if units == 1 else many}"
    if not cents:
        return minus + major
    minor = f"{words.cardinal(cents, profile)} {minor_one if cents == 1 else minor_many}"
    if units == 0:
        return minus + minor
    return f"{minus}{major} and {minor}"


def _num2words(amount: str, code: str, profile: Profile) -> str | None:
    from num2words import CONVERTER_CLASSES, num2words

    parsed = words.parse_number(amount, profile)
    if parsed is None or profile.n2w is None:
        return None
    sign, whole, frac = parsed
    converter = CONVERTER_CLASSES.get(profile.n2w)
    extra = EXTRA_FORMS.get(profile.lang, {}).get(code)
    forms = extra or getattr(converter, "CURRENCY_FORMS", {}).get(code)
    if forms is None or (sign < 0 and "minus" not in profile.words):
        return None
    minus = f"{profile.word('minus')} " if sign < 0 else ""
    if len(frac) > 2:
        return f"{minus}{words.decimal(whole, frac, profile)} {forms[0][-1]}"
    cents = int(frac.ljust(2, "0")) if frac else 0
    units = int(whole or "0")
    if not cents or extra:
        major = f"{words.cardinal(units, profile)} {_plural(converter, units, forms[0])}"
        if not cents:
            return minus + major
        minor = f"{words.cardinal(cents, profile)} {_plural(converter, cents, forms[1])}"
        return f"{minus}{major} {profile.word('and')} {minor}" if units else minus + minor
    try:
        spoken = str(
            num2words(Decimal(f"{whole or 0}.{frac}"), lang=profile.n2w, to="currency",
                      currency=code)
        )  # fmt: skip
    except Exception:  # num2words' converters differ in what they support; never fatal
        return None
    return minus + spoken.replace(",", "")


def _plural(converter: object, n: int, forms: tuple[str, ...]) -> str:
    try:
        return str(converter.pluralize(n, forms))  # type: ignore[attr-defined]
    except Exception:  # a converter without plural rules: singular for one
        return forms[0] if n == 1 else forms[-1]


def _cjk(amount: str, code: str, profile: Profile) -> str | None:
    name = CJK_NAMES[profile.lang].get(code)
    if re.search(r"\.\d*0$", amount):
        amount = amount.rstrip("0").rstrip(".")  # 42.50 -> 42.5, 42.00 -> 42 (not 1,500)
    spoken = say_number(amount, profile)
    if name is None or spoken is None:
        return None
    return f"{spoken}{name}" if profile.lang != "ko" else f"{spoken} {name}"


@functools.lru_cache(maxsize=1024)
def say_money(
    amount: str, currency: str, scale: str | None, profile: Profile, attributive: bool = False
) -> str | None:
    code = _currency_of(currency, profile)
    if profile.lang == "en":
        return _english(amount, code, scale, profile, attributive)
    if scale:
        return None
    if profile.lang in CJK_NAMES:
        return _cjk(amount, code, profile)
    return _num2words(amount, code, profile)


def rules(profile: Profile) -> list[Rule]:
    num = NUM_COMMA if profile.decimal_comma else NUM_POINT
    scale = rf"(?:\s?({_SCALE})(?![A-Za-z]))?" if profile.lang == "en" else "()"
    sign = r"((?<![^\s(\[\"'“])[-−])?"

    english = profile.lang == "en"

    def prefix(m: re.Match[str], ctx: Context) -> str | None:
        sign_, cur, amount, sc = m.group(1), m.group(2) or m.group(3), m.group(4), m.group(5)
        described = english and attributive(ctx)
        return say_money(("-" if sign_ else "") + amount, cur, sc or None, profile, described)

    def suffix(m: re.Match[str], ctx: Context) -> str | None:
        sign_, amount, sc, cur = m.group(1), m.group(2), m.group(3), m.group(4)
        return say_money(("-" if sign_ else "") + amount, cur, sc or None, profile)

    def cents(m: re.Match[str], ctx: Context) -> str | None:
        n = int(m.group(1))
        return f"{words.cardinal(n, profile)} {'cent' if n == 1 else 'cents'}"

    # A symbol spaced off after a number ("56 ₽ 12.03") ends that amount; it opens
    # none. Glued to the amount ("15:30 €42,50") it always opens one.
    cur = rf"(?:{_SYM}|(?:{_ISO})(?![A-Za-z]))"
    before = re.compile(
        rf"{sign}(?<![A-Za-z0-9])(?:(?<![0-9] )({cur})\s|({cur}))({num}){scale}{NOT_BEFORE_WORD}"
        r"(?![.,]\d)"  # "€42,50" where the comma is no decimal mark: not an amount we can read
    )
    after = re.compile(rf"{sign}(?<![0-9A-Za-z.,:/])({num}){scale}\s?({cur})")
    out = [
        Rule("currency", before, prefix, "currency-prefix"),
        Rule("currency", after, suffix, "currency-suffix"),
    ]
    if english:
        out.append(Rule("currency", re.compile(r"(?<![0-9A-Za-z.,])(\d{1,3})\s?¢"), cents, "cents"))
    return out


#: Words after an amount that show it is not describing a noun ("a $5 or $10 fee").
_NOT_NOUNS = frozenset(
    "a an and or to for of per in on at by each more less than off from with plus "
    "million billion thousand".split()
)


def attributive(ctx: Context) -> bool:
    """ "a $5 bill", "a 6 ft fence": after "a"/"an" and before a word, an amount or a
    measure describes the noun that follows, so its unit is singular."""
    if ctx.prev_word() not in ("a", "an"):
        return False
    follow = re.match(r"\s+([a-z][a-z-]*)", ctx.after)
    return bool(follow) and follow.group(1) not in _NOT_NOUNS
