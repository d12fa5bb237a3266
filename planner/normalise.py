"""Text normalisation before facility names, brands and POI types are matched against rules."""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache

#: A bracketed branch or location suffix, ignored when matching ("(五一路店)", "(医院对面)").
_BRANCH = re.compile(r"\([^()]{2,}?(?:分店|门店|店|旁|对面|附近|[东西南北]侧|[东西南北]门|内|路口)\)")
_SPACE = re.compile(r"\s+")


@cache
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


@lru_cache(maxsize=1 << 16)
def normalise(text: object) -> str:
    """Text as the rules see it: NFKC (full-width → half-width), traditional → simplified
    Chinese (OpenCC t2s), lower case, runs of whitespace as one space; "" for a missing value."""
    if not isinstance(text, str):
        if text is None or type(text).__name__ == "NAType" or text != text:  # None, pd.NA, NaN
            return ""
        text = str(text)
    out = unicodedata.normalize("NFKC", text)
    out = _t2s().convert(out).casefold()
    return _SPACE.sub(" ", out).strip()


def branch_suffix(text: object) -> str:
    """The bracketed branch/location suffixes :func:`main_name` leaves out ("" if none)."""
    return "".join(_BRANCH.findall(normalise(text)))


def main_name(text: object) -> str:
    """:func:`normalise`, without bracketed branch/location suffixes such as "(五一路店)"."""
    norm = normalise(text)
    return _BRANCH.sub("", norm).strip() or norm
