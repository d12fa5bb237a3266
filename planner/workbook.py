"""The result workbook a planning bureau can hand in as an annex: it opens on the headline, a
contents sheet lists every sheet with a line on what it holds, sheet names and column headers
are readable (Chinese or English, headers with units; population groups and measures in
words), numbers are rounded as a reader expects
(people to whole persons, percentages to one decimal, distances to whole metres), header rows
are frozen, and every ratio or infinite value is explained in the row's note."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from planner.errors import InputError
from planner.labels import (
    CONTENTS,
    INFINITE,
    NOTES,
    RATIOS,
    UNITS,
    Lang,
    header,
    sheet,
    translated,
    unit_of,
    value_text,
)
from planner.neutralise import neutralise_formula
from planner.texts_zh import run_note_zh

_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")
_HEADER_FILL = PatternFill("solid", fgColor="DCE6F1")
_FORMATS = {"people": "#,##0", "m": "#,##0", "pct": "0.0", "share": "0.0", "pp": "+0.0;-0.0;0.0",
            "min": "0.0", "count": "#,##0", "km2": "0.00", "m_s": "0.00", "deg": "0.000000",
            "num": "#,##0.00", "ratio": "#,##0.00", "s": "0.0"}
INFINITY = "∞"
_INPUT_TABLES = ("facility_audit", "facilities_dropped")
_MAX_WIDTH = 60
_HEADER_WIDTH = 16  # wider headers wrap


def sheet_names(tables: list[str], lang: Lang = "zh") -> list[str]:
    """Readable, unique sheet names for result tables (≤ 31 characters, none of []:*?/\\, unique
    ignoring case): the short name of a known table (e.g. ``方案1 养老 MCLP 选址``), else the
    table's own name."""
    out: list[str] = []
    taken = {CONTENTS.zh.lower(), CONTENTS.en.lower(), NOTES.zh.lower(), NOTES.en.lower()}
    for name in tables:
        known = sheet(name)
        text = (known.zh if lang == "zh" else known.en) if known else name
        base = _SHEET_BAD.sub("_", text).strip("' ")[:31] or "sheet"
        cand, i = base, 2
        while cand.lower() in taken:
            suffix = f" ({i})"
            cand, i = base[: 31 - len(suffix)] + suffix, i + 1
        taken.add(cand.lower())
        out.append(cand)
    return out


def write_workbook(tables: Mapping[str, pd.DataFrame], path: str | Path, *, lang: Lang = "zh",
                   contents: bool = True, notes: Sequence[str] = ()) -> Path:
    """Write the tables into one workbook: the headline sheet first (else the first table),
    then, with ``contents``, a contents sheet, then every other table, and last, when there are
    ``notes`` (the run's assumptions and decisions), a notes sheet (说明 / Notes) listing them;
    headers translated to ``lang`` ("zh" or "en") with units; formula-like text neutralised."""
    if lang not in ("zh", "en"):
        raise InputError(f"The workbook language must be zh or en, not {lang!r}.")
    if not tables:
        raise InputError("No tables to write into a workbook.")
    order = sorted(tables, key=_rank)  # stable: tables of the same rank keep their order
    names = dict(zip(order, sheet_names(order, lang), strict=True))
    book = Workbook()
    book.remove(book.active)
    notes = [str(n) for n in notes]
    for i, table in enumerate(order):
        if contents and i == 1:
            _contents_sheet(book.create_sheet(CONTENTS.zh if lang == "zh" else CONTENTS.en),
                            order, names, tables, lang, notes)
        _fill_sheet(book.create_sheet(names[table]), tables[table], lang)
    if contents and len(order) == 1:
        _contents_sheet(book.create_sheet(CONTENTS.zh if lang == "zh" else CONTENTS.en),
                        order, names, tables, lang, notes)
    if notes:
        _notes_sheet(book.create_sheet(NOTES.zh if lang == "zh" else NOTES.en), notes, lang)
    book.active = 0
    book.save(path)
    return Path(path)


def _rank(table: str) -> int:
    """The headline first, the audit of the inputs last, the findings between."""
    return (0 if table in ("headline", "province_monitoring") else 2 if table in _INPUT_TABLES
            else 1)


def _contents_sheet(ws: Worksheet, order: list[str], names: Mapping[str, str],
                    tables: Mapping[str, pd.DataFrame], lang: Lang,
                    notes: Sequence[str] = ()) -> None:
    """Each sheet (linked), what it holds, its rows and the CSV file of the same table; the
    notes sheet, when there is one, last."""
    zh = lang == "zh"
    ws.append(["工作表", "说明", "行数", "CSV文件"] if zh else
              ["Sheet", "What it holds", "Rows", "CSV file"])
    rows = []
    for table in order:
        known = sheet(table)
        about = (known.about_zh if zh else known.about_en) if known else table
        rows.append((names[table], about, len(tables[table]), f"{table}.csv"))
    if notes:
        rows.append((NOTES.zh if zh else NOTES.en, NOTES.about_zh if zh else NOTES.about_en,
                     len(notes), "summary.json（notes）" if zh else "summary.json (notes)"))
    for row in rows:
        ws.append(list(row))
        link = ws.cell(row=ws.max_row, column=1)
        link.hyperlink = f"#'{row[0]}'!A1"
        link.font = Font(color="0563C1", underline="single")
    _style_header(ws)
    for col, width in zip("ABCD", (32, 60, 8, 40), strict=True):
        ws.column_dimensions[col].width = width


def _notes_sheet(ws: Worksheet, notes: Sequence[str], lang: Lang) -> None:
    """The run's notes, one a row, numbered; in Chinese the translation of the common ones
    (others as written) beside the program's English text."""
    zh = lang == "zh"
    ws.append(["序号", "说明", "程序记录原文"] if zh else ["No.", "Note"])
    for i, note in enumerate(notes, start=1):
        text = neutralise_formula(note)
        ws.append([i, neutralise_formula(run_note_zh(note)), text] if zh else [i, text])
    _style_header(ws)
    ws.column_dimensions["A"].width = 6
    for col in ("B", "C") if zh else ("B",):
        ws.column_dimensions[col].width = 100
        for cell in ws[col][1:]:
            cell.alignment = Alignment(wrap_text=True, vertical="top")


def _fill_sheet(ws: Worksheet, frame: pd.DataFrame, lang: Lang = "zh") -> None:
    """One table in a sheet: translated headers with units, values rounded by unit, ∞ for
    infinite values with the reason in the note column, frozen header row, sized columns."""
    frame = with_notes(frame, lang)
    columns = [str(c) for c in frame.columns]
    units = [unit_of(c) for c in columns]
    values = [_values(frame.iloc[:, i], unit) for i, unit in enumerate(units)]
    for i, column in enumerate(columns):
        if translated(column):
            values[i] = [neutralise_formula(value_text(column, v, lang)) if isinstance(v, str)
                         else v for v in values[i]]
    heads = [neutralise_formula(header(c, lang)) for c in columns]
    ws.append(heads)
    for row in zip(*values, strict=True) if values else ():
        ws.append(list(row))
    _style_header(ws)
    lines = 1
    for i, (column, unit) in enumerate(zip(columns, units, strict=True), start=1):
        letter = get_column_letter(i)
        if unit in _FORMATS:
            cells = [c for c in ws[letter][1:]
                     if isinstance(c.value, (int, float)) and not isinstance(c.value, bool)]
            whole = unit == "min" and all(float(c.value).is_integer() for c in cells)
            for cell in cells:  # levels of 5, 10, 15 minutes read as such, not 5.0
                cell.number_format = "0" if whole else _FORMATS[unit]
        sample = [_width(v) for v in values[i - 1][:200]]
        limit = 80 if column == "note" else _MAX_WIDTH
        width = min(max([min(_width(heads[i - 1]), _HEADER_WIDTH), *sample]) + 2, limit)
        ws.column_dimensions[letter].width = width
        lines = max(lines, -(-_width(heads[i - 1]) // max(int(width) - 2, 1)))
    ws.row_dimensions[1].height = 15 * lines  # headers wrap onto this many lines


def _style_header(ws: Worksheet) -> None:
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = "A2"


def _width(value: object) -> int:
    """Display width of a cell: Chinese characters count twice."""
    text = "" if value is None else str(value)
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _values(series: pd.Series, unit: str) -> list[object]:
    """A column's cell values: numbers rounded as the unit asks (people to whole persons),
    shares as percentages, ∞ for infinite values, blanks for missing ones, text neutralised."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return [None if pd.isna(v) else bool(v) for v in series]
    if pd.api.types.is_numeric_dtype(series.dtype):
        arr = series.to_numpy(dtype=float, na_value=np.nan)
        if unit == "share":
            arr = arr * 100
        decimals = UNITS[unit][2]
        integral = decimals == 0 or pd.api.types.is_integer_dtype(series.dtype)
        out: list[object] = []
        for v in arr:
            if np.isnan(v):
                out.append(None)
            elif np.isinf(v):
                out.append(INFINITY if v > 0 else "-" + INFINITY)
            elif integral:
                out.append(int(round(v)))
            else:
                out.append(float(round(v, decimals)) if decimals is not None else float(v))
        return out
    return [neutralise_formula(_cell_value(v)) for v in series]


def _cell_value(value: object) -> object:
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _ratio_text(column: str, lang: Lang) -> str | None:
    for key, texts in RATIOS.items():
        if column == key or column.startswith(key + "_"):
            return texts[0 if lang == "zh" else 1]
    return None


def with_notes(frame: pd.DataFrame, lang: Lang = "zh") -> pd.DataFrame:
    """The table with its ``note`` column (added when missing and needed) saying, per row, why
    a value is infinite and what each ratio means, unless the row's note says so already."""
    numeric = [c for c in frame.columns
               if pd.api.types.is_numeric_dtype(frame[c].dtype)
               and not pd.api.types.is_bool_dtype(frame[c].dtype)]
    ratios = [(c, t) for c in numeric if (t := _ratio_text(str(c), lang))]
    infinite = {c: np.isinf(frame[c].to_numpy(dtype=float, na_value=np.nan)) for c in numeric}
    infinite = {c: m for c, m in infinite.items() if m.any()}
    if not ratios and not infinite:
        return frame
    notes = (frame["note"] if "note" in frame.columns else pd.Series("", index=frame.index))
    texts = []
    for pos, note in enumerate(notes.tolist()):
        note = "" if note is None or (isinstance(note, float) and np.isnan(note)) else str(note)
        said = note.lower()
        extra: dict[str, str] = {}  # explanation → how it is written
        for c, mask in infinite.items():
            text = INFINITE.get(unit_of(str(c)), INFINITE["m"])[0 if lang == "zh" else 1]
            if mask[pos] and "infinite" not in said and INFINITY not in said:
                extra.setdefault(text, f"{header(str(c), lang)} {text}")
        for c, text in ratios:
            value = frame[c].iloc[pos]
            if pd.notna(value) and np.isfinite(value) and "ratio =" not in said:
                extra.setdefault(text, text)
        texts.append("; ".join([t for t in (note, *extra.values()) if t]))
    return frame.assign(note=texts)
