"""Units of measure and temperatures after a number (English).

"5 kg" is "five kilograms", "1 kg" "one kilogram", "72°F" "seventy-two degrees
Fahrenheit", "-5 °C" "minus five degrees Celsius", "10x12" "ten by twelve",
5'11" "five feet eleven inches". A measure that describes a noun is singular and
joined to its number: "a 6 ft fence" is "a six-foot fence" (`money.attributive`).
Only unit symbols that cannot be mistaken for words follow a number here: "in"
(inch) and "s" (second) are left alone, because "5 in the morning" and "the
1990s" are far more common on a call than lengths in inches.
"""

from __future__ import annotations

import re

from . import words
from .languages import Profile
from .money import attributive
from .numbers import NUM_POINT, SIGN, say_number
from .rules import NOT_BEFORE_WORD, Context, Rule

UNITS: dict[str, tuple[str, str]] = {
    "km": ("kilometer", "kilometers"), "m": ("meter", "meters"),
    "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"), "mi": ("mile", "miles"), "ft": ("foot", "feet"),
    "yd": ("yard", "yards"), "kg": ("kilogram", "kilograms"), "g": ("gram", "grams"),
    "mg": ("milligram", "milligrams"), "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"), "l": ("liter", "liters"), "L": ("liter", "liters"),
    "ml": ("milliliter", "milliliters"), "mL": ("milliliter", "milliliters"),
    "gal": ("gallon", "gallons"), "mph": ("mile per hour", "miles per hour"),
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"),
    "m/s": ("meter per second", "meters per second"),
    "ms": ("millisecond", "milliseconds"), "sec": ("second", "seconds"),
    "secs": ("second", "seconds"), "min": ("minute", "minutes"), "mins": ("minute", "minutes"),
    "hr": ("hour", "hours"), "hrs": ("hour", "hours"), "h": ("hour", "hours"),
    "kB": ("kilobyte", "kilobytes"), "KB": ("kilobyte", "kilobytes"),
    "MB": ("megabyte", "megabytes"), "GB": ("gigabyte", "gigabytes"),
    "TB": ("terabyte", "terabytes"), "Mbps": ("megabit per second", "megabits per second"),
    "Gbps": ("gigabit per second", "gigabits per second"), "Hz": ("hertz", "hertz"),
    "kHz": ("kilohertz", "kilohertz"), "MHz": ("megahertz", "megahertz"),
    "GHz": ("gigahertz", "gigahertz"), "W": ("watt", "watts"), "kW": ("kilowatt", "kilowatts"),
    "kWh": ("kilowatt hour", "kilowatt hours"), "V": ("volt", "volts"),
    "mAh": ("milliamp hour", "milliamp hours"), "sq ft": ("square foot", "square feet"),
    "sqft": ("square foot", "square feet"), "m²": ("square meter", "square meters"),
    "km²": ("square kilometer", "square kilometers"),
}  # fmt: skip
_SCALES = {"C": "Celsius", "F": "Fahrenheit", "K": "Kelvin"}
_UNIT_RE = "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))


def _is_one(text: str) -> bool:
    return text.strip().lstrip("+") in ("1", "1.0", "1.00")


def rules(profile: Profile) -> list[Rule]:
    if profile.lang != "en":
        return []
    num = rf"{SIGN}{NUM_POINT}"

    def unit(m: re.Match[str], ctx: Context) -> str | None:
        amount, symbol = m.group(1), m.group(2)
        spoken = say_number(amount, profile)
        if spoken is None:
            return None
        one, many = UNITS[symbol]
        if attributive(ctx):  # "a 6 ft fence" is a six-foot fence, "a 2 GB file" two-gigabyte
            return f"{spoken}-{one}" if " " not in one else f"{spoken} {one}"
        return f"{spoken} {one if _is_one(amount) else many}"

    def feet_inches(m: re.Match[str], ctx: Context) -> str | None:
        feet, inches = int(m.group(1)), int(m.group(2))
        if inches >= 12:
            return None
        said = f"{words.cardinal(feet, profile)} {'foot' if feet == 1 else 'feet'}"
        if inches:
            said += f" {words.cardinal(inches, profile)} inch{'' if inches == 1 else 'es'}"
        return said

    def temperature(m: re.Match[str], ctx: Context) -> str | None:
        amount, scale = m.group(1), m.group(2)
        spoken = say_number(amount, profile)
        if spoken is None:
            return None
        degrees = "degree" if _is_one(amount) else "degrees"
        return f"{spoken} {degrees}" + (f" {_SCALES[scale.upper()]}" if scale else "")

    def dimension(m: re.Match[str], ctx: Context) -> str | None:
        parts = [say_number(p, profile) for p in (m.group(1), m.group(2), m.group(3)) if p]
        if any(p is None for p in parts):
            return None
        return " by ".join(p for p in parts if p)

    def times(m: re.Match[str], ctx: Context) -> str | None:
        return f"{words.cardinal(int(m.group(1)), profile)} times"

    return [
        # 5'11", 5′11″, 6 ft 2 in: a height in feet and inches
        Rule("units", re.compile(r"(?<![0-9A-Za-z_.,'’])(\d{1,2})\s?(?:['’′]|ft)\s?(\d{1,2})"
                                 r"\s?(?:\"|”|″|''|in\b)"), feet_inches, "feet-inches"),
        Rule("units", re.compile(rf"(?<![0-9A-Za-z_.,])({num})\s?°(?:\s?([CFK])(?![A-Za-z]))?"),
             temperature, "temperature"),
        Rule("units", re.compile(rf"(?<![0-9A-Za-z_.,])({num})\s?({_UNIT_RE}){NOT_BEFORE_WORD}"
                                 r"(?![/²])"), unit, "unit"),
        Rule("units", re.compile(rf"(?<![0-9A-Za-z_.,])({NUM_POINT})\s?[x×]\s?({NUM_POINT})"
                                 rf"(?:\s?[x×]\s?({NUM_POINT}))?{NOT_BEFORE_WORD}"),
             dimension, "dimension"),
        Rule("units", re.compile(r"(?<![0-9A-Za-z_.,])(\d{1,3})[x×](?![0-9A-Za-z])"),
             times, "times"),
    ]  # fmt: skip
