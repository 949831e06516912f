"""Translations (gettext catalogues in `locales/`, managed with pybabel) and
locale-aware formatting of numbers, prices, percentages, dates and durations.

Strings are marked with `_()` where they are used with a context
(`ctx._("…")`), and with `N_()` where they are declared before a language is
known (command help in the registry); `pybabel extract -k N_` finds both.
"""

from __future__ import annotations

import io
import math
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, dates, numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"
DEFAULT_LANGUAGE = "en"
# Languages users may pick with /lang; each has a complete catalogue in locales/.
SUPPORTED_LANGUAGES: dict[str, str] = {
    "en": "English",
    "id": "Bahasa Indonesia",
    "tr": "Türkçe",
}


def N_(message: str) -> str:
    """Mark a string for extraction without translating it yet."""
    return message


def resolve_language(*candidates: str | None) -> str:
    """The first candidate we support (`pt-BR` → `pt`), else English."""
    for candidate in candidates:
        if not candidate:
            continue
        code = candidate.replace("_", "-").split("-")[0].lower()
        if code in SUPPORTED_LANGUAGES:
            return code
    return DEFAULT_LANGUAGE


@cache
def translations(language: str) -> NullTranslations:
    """The catalogue of `language`, compiled in memory from its `.po` file.

    Reading the `.po` (the file translators edit) rather than a compiled `.mo`
    means a catalogue can never be stale; it costs a few milliseconds once per
    language per process.
    """
    path = LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language == DEFAULT_LANGUAGE or not path.exists():
        return NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


class _SafeFields(string.Formatter):
    """`str.format` that leaves an unknown {field} visible instead of raising, so a
    translator's typo degrades one message rather than failing a reply."""

    def get_value(self, key, args, kwargs):  # type: ignore[override]
        if isinstance(key, str) and key not in kwargs:
            return "{" + key + "}"
        return super().get_value(key, args, kwargs)


_formatter = _SafeFields()


@dataclass(frozen=True, slots=True)
class Translator:
    """Translate and format for one language and one time zone."""

    language: str = DEFAULT_LANGUAGE
    timezone: str = "UTC"

    def gettext(self, message: str, **values: object) -> str:
        text = translations(self.language).gettext(message)
        return _formatter.format(text, **values) if values else text

    _ = gettext

    def ngettext(self, singular: str, plural: str, n: int, **values: object) -> str:
        text = translations(self.language).ngettext(singular, plural, n)
        return _formatter.format(text, n=n, **values)

    @property
    def locale(self) -> Locale:
        return Locale.parse(self.language)

    # --- numbers -------------------------------------------------------------

    def number(self, value: float, decimals: int = 2) -> str:
        pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
        return numbers.format_decimal(value, format=pattern, locale=self.language)

    def price(self, value: float) -> str:
        """A price with the precision its size needs: 104,591.88 · 2.1234 · 0.00001234."""
        if not math.isfinite(value):
            return "—"
        size = abs(value)
        if size >= 1000:
            pattern = "#,##0.00"
        elif size >= 1:
            pattern = "#,##0.00##"
        else:
            pattern = "#,##0.00######"
        return numbers.format_decimal(value, format=pattern, locale=self.language)

    def percent(self, value: float | None, signed: bool = True) -> str:
        """`value` is already in percent: 2.5 → "+2.50%"."""
        if value is None or not math.isfinite(value):
            return "—"
        text = numbers.format_decimal(abs(value), format="#,##0.00", locale=self.language)
        sign = (
            ("+" if value > 0 else "−" if value < 0 else "")
            if signed
            else ("-" if value < 0 else "")
        )
        return f"{sign}{text}%"

    def compact(self, value: float) -> str:
        """Large amounts shortened per locale: 1.2M, 1,2 Jt, 1,2 Mn."""
        return numbers.format_compact_decimal(value, locale=self.language, fraction_digits=2)

    # --- time ----------------------------------------------------------------

    def datetime(self, ms: int) -> str:
        moment = datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(ZoneInfo(self.timezone))
        day = dates.format_date(moment, format="medium", locale=self.language)
        return f"{day} {moment:%H:%M} {moment.tzname()}"

    def duration(self, ms: int) -> str:
        """'3 minutes', '2 hours' … in the user's language (coarse, as people say it)."""
        return dates.format_timedelta(
            timedelta(milliseconds=max(0, ms)), threshold=1.5, locale=self.language
        )
