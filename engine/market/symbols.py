"""Market symbols as users type them, normalised to ccxt's `BASE/QUOTE` form."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

# Quotes recognised when a user glues base and quote together ("BTCUSDT").
# Longest first, so that "USDT" wins over "USD".
KNOWN_QUOTES = ("FDUSD", "USDT", "USDC", "TUSD", "BUSD", "DAI", "EUR", "USD", "TRY", "BTC", "ETH")

_SEPARATORS = re.compile(r"[/\-_:]")
_VALID = re.compile(r"^[A-Z0-9]{1,15}(/[A-Z0-9]{1,15})?$")
MAX_SYMBOL_LENGTH = 32


def normalize_symbol(text: str, default_quote: str = "USDT") -> str | None:
    """Turn `btc`, `BTCUSDT`, `btc-usdt`, `BTC/USDT` into `BTC/USDT`; None if malformed.

    >>> [normalize_symbol(s) for s in ("btc", "BTCUSDT", "eth-usdt", "ETH/BTC", "b$c")]
    ['BTC/USDT', 'BTC/USDT', 'ETH/USDT', 'ETH/BTC', None]
    """
    raw = text.strip().upper()
    if not raw or len(raw) > MAX_SYMBOL_LENGTH:
        return None
    raw = _SEPARATORS.sub("/", raw)
    if raw.count("/") > 1 or not _VALID.match(raw):
        return None
    if "/" in raw:
        return raw
    default = default_quote.upper()
    quotes = (  # KNOWN_QUOTES is longest first already: no sort for the usual default
        KNOWN_QUOTES
        if default in KNOWN_QUOTES
        else sorted((default, *KNOWN_QUOTES), key=len, reverse=True)
    )
    for quote in quotes:
        if raw.endswith(quote) and len(raw) > len(quote):
            return f"{raw[: -len(quote)]}/{quote}"
    return f"{raw}/{default}"


def close_matches(symbol: str, known: Iterable[str], limit: int = 3) -> list[str]:
    """Known symbols that look like `symbol`: same base with another quote first,
    then pairs whose base is spelled alike.

    >>> close_matches("BTX/USDT", ["BTC/USDT", "ETH/USDT"]), close_matches("BTC/EUR", ["BTC/USDT"])
    (['BTC/USDT'], ['BTC/USDT'])
    """
    known = sorted(set(known))
    base = symbol.split("/")[0]
    found = [k for k in known if k.split("/")[0] == base]
    bases = sorted({k.split("/")[0] for k in known})
    for similar in difflib.get_close_matches(base, bases, limit, 0.6):
        found.extend(k for k in known if k.split("/")[0] == similar and k not in found)
    return found[:limit]
