"""Make the bundled CJK font: Noto Sans CJK SC Regular, cut to the characters of GB 2312
(6,763 汉字 and its symbols) plus Latin, punctuation and the signs the maps and reports use.

The source is the variable Noto Sans CJK of the PyPI package ``manimgx-fonts-cjk`` (SIL OFL
1.1). Matplotlib draws only the default instance of a variable font (Thin), so the subset is
instanced at weight 400 (Regular) and saved as a static OpenType font with CFF outlines. Run once, by hand:

    pip install manimgx-fonts-cjk && python tools/subset_font.py
"""

from __future__ import annotations

import time
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont
from fontTools.varLib import instancer

OUT = Path(__file__).resolve().parents[1] / "planner" / "assets" / "fonts"
SC_FACE = 2  # JP, KR, SC, TC, HK in the collection


def gb2312() -> str:
    """Every character GB 2312 encodes (rows 0xA1–0xF7, cells 0xA1–0xFE)."""
    chars = []
    for hi in range(0xA1, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.append(bytes([hi, lo]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return "".join(chars)


def extra() -> str:
    """ASCII, Latin-1, general punctuation, arrows, maths signs, CJK punctuation, full width."""
    ranges = [(0x20, 0x7E), (0xA0, 0xFF), (0x2000, 0x206F), (0x2190, 0x21FF), (0x2200, 0x22FF),
              (0x2460, 0x24FF), (0x25A0, 0x25FF), (0x3000, 0x303F), (0xFF00, 0xFFEF)]
    return "".join(chr(c) for a, b in ranges for c in range(a, b + 1)) + "㎡㎞℃№"


def regular(font: TTFont) -> None:
    """Name the static instance Regular, weight 400 (the variable font's names say Thin)."""
    names = font["name"]
    family = names.getDebugName(1)
    for rec in list(names.names):
        if rec.nameID in (2, 17):
            rec.string = "Regular"
        elif rec.nameID in (4,):
            rec.string = f"{family} Regular"
        elif rec.nameID in (6,):
            rec.string = family.replace(" ", "") + "-Regular"
    font["OS/2"].usWeightClass = 400


def to_cff(font: TTFont) -> None:
    """CFF2 outlines → CFF: LibreOffice's PDF export draws CFF2 glyphs blank."""
    from fontTools.cffLib.CFF2ToCFF import convertCFF2ToCFF

    top = font["CFF2"].cff.topDictIndex[0]
    for attr in ("CharStrings", "FDArray", "FDSelect", "charset"):  # decompile them first
        getattr(top, attr, None)
    convertCFF2ToCFF(font)


def main() -> None:
    import manimgx_fonts_cjk

    src = Path(manimgx_fonts_cjk.__file__).parent / "NotoSansCJK-VF.otf.ttc"
    t0 = time.perf_counter()
    font = TTFont(src, fontNumber=SC_FACE)
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    sub = subset.Subsetter(options)
    sub.populate(text=gb2312() + extra())
    sub.subset(font)
    static = instancer.instantiateVariableFont(font, {"wght": 400},
                                               updateFontNames=False)
    regular(static)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "NotoSansCJKsc-Regular-GB2312.otf"
    static.save(path)
    static = TTFont(path, recalcBBoxes=False)
    to_cff(static)
    static.save(path)
    print(f"{path} {path.stat().st_size / 1e6:.2f} MB in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
