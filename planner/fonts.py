"""The CJK font every renderer uses, so Chinese shows on a machine with no CJK fonts installed.

The package ships Noto Sans CJK SC Regular (SIL Open Font License 1.1), cut to the characters
of GB 2312 — the 6,763 common 汉字 and their symbols — plus Latin, punctuation and the signs the
maps use (``planner/assets/fonts``; ``tools/subset_font.py`` makes it). Characters outside it
(rare 汉字 in a street name) are drawn with the renderer's fallback font;
:func:`missing_characters` names them.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

FONT_DIR = Path(__file__).resolve().parent / "assets" / "fonts"
FONT_FILE = FONT_DIR / "NotoSansCJKsc-Regular-GB2312.otf"
FAMILY = "Noto Sans CJK SC"
LICENCE_FILE = FONT_DIR / "OFL.txt"


def cjk_font_path() -> Path:
    """Path of the bundled CJK font (OpenType, static Regular weight)."""
    return FONT_FILE


@cache
def _charmap() -> frozenset[int]:
    from matplotlib.ft2font import FT2Font

    return frozenset(FT2Font(str(FONT_FILE)).get_charmap())


def missing_characters(text: str) -> list[str]:
    """The distinct characters of ``text`` the bundled font has no glyph for (spaces and
    control characters aside), in order of appearance."""
    chars = _charmap()
    seen: dict[str, None] = {}
    for ch in text:
        if not ch.isspace() and ch.isprintable() and ord(ch) not in chars:
            seen.setdefault(ch)
    return list(seen)


@cache
def matplotlib_family() -> str:
    """Register the bundled font with matplotlib and return its family name; Latin text falls
    back to DejaVu Sans (``font.family`` lists both)."""
    from matplotlib import font_manager

    font_manager.fontManager.addfont(str(FONT_FILE))
    return font_manager.FontProperties(fname=str(FONT_FILE)).get_name()


def fontconfig_file(folder: str | Path) -> Path:
    """Write a fontconfig configuration into ``folder`` that adds the bundled font to the
    machine's fonts and lets it stand in for 宋体/黑体 (SimSun/SimHei) and other CJK faces a
    document names, so LibreOffice renders Chinese where no CJK font is installed. Point
    ``FONTCONFIG_FILE`` at it. Returns its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    aliases = "".join(
        f"<alias binding=\"same\"><family>{face}</family><accept><family>{FAMILY}</family>"
        "</accept></alias>"
        for face in ("宋体", "黑体", "SimSun", "SimHei", "Microsoft YaHei", "微软雅黑", "sans-serif",
                     "serif")
    )
    path = folder / "fonts.conf"
    path.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>'
        '<include ignore_missing="yes">/etc/fonts/fonts.conf</include>'
        f"<dir>{FONT_DIR}</dir><cachedir>{folder / 'cache'}</cachedir>{aliases}</fontconfig>\n",
        encoding="utf-8",
    )
    return path
