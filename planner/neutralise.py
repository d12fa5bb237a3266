"""Text a spreadsheet would run as a formula, made safe (OWASP "CSV injection")."""

from __future__ import annotations

import pandas as pd

#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value: object) -> object:
    """Text that a spreadsheet would run as a formula (it starts with =, +, -, @, a tab or a
    carriage return) gets a leading apostrophe, so Excel and WPS show it as text; anything else
    is returned as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of a table safe to open in a spreadsheet: text cells and column names that would
    start a formula are neutralised (see :func:`neutralise_formula`); numbers stay numbers."""
    out = frame.rename(columns=lambda c: neutralise_formula(str(c)) if isinstance(c, str) else c)
    for col in range(out.shape[1]):
        series = out.iloc[:, col]
        if series.dtype == object or isinstance(series.dtype, (pd.StringDtype, pd.CategoricalDtype)) \
                or pd.api.types.is_string_dtype(series.dtype):
            out.isetitem(col, series.map(neutralise_formula))
    return out
