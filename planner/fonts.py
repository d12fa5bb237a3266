"""The CJK font that maps and reports set Chinese in, so Chinese renders on a machine with no CJK
font installed (a server, a container, a headless browser).

The font is Noto Sans CJK SC Regular (version 2.004, SIL Open Font License 1.1) from the PyPI
package ``noto-cjk-sans-otc``: one OpenType collection whose faces are JP, KR, SC, TC and HK;
face :data:`FACE_INDEX` is the simplified-Chinese one. matplotlib reads the collection directly
(``font_manager.fontManager.addfont(cjk_font_path())`` registers :data:`FAMILY`); a web page
embeds :func:`cjk_subset`, the face reduced to the characters it shows.
"""

from __future__ import annotations

import io
from pathlib import Path

from planner.errors import PlannerError

#: Font family name of the simplified-Chinese face.
FAMILY = "Noto Sans CJK SC"
#: Index of the simplified-Chinese face in the collection (JP, KR, SC, TC, HK).
FACE_INDEX = 2
#: Printable ASCII, always kept in a subset (digits, Latin labels, punctuation).
ASCII = "".join(chr(c) for c in range(0x20, 0x7F))


def cjk_font_path() -> Path:
    """Path of the Noto Sans CJK collection (.ttc) holding :data:`FAMILY` at :data:`FACE_INDEX`."""
    try:
        import noto_cjk_sans_otc
    except ImportError as err:
        raise PlannerError(
            "The CJK font package is missing; install it with `pip install noto-cjk-sans-otc` "
            "(Noto Sans CJK, SIL OFL 1.1)."
        ) from err
    path = Path(str(noto_cjk_sans_otc.FONT_PATH))
    if not path.is_file():
        raise PlannerError(f"The CJK font file {path} is missing; reinstall noto-cjk-sans-otc.")
    return path


def cjk_subset(text: str, *, flavor: str = "woff") -> bytes:
    """The simplified-Chinese face reduced to the characters of ``text`` plus printable ASCII, as
    WOFF (``flavor="woff"``) or OpenType (``flavor=""``) bytes; layout tables (vertical forms,
    kerning) are left out, which plain horizontal labels do not need."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    options = subset.Options()
    options.layout_features = []
    options.hinting = False
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "BASE", "VORG", "vhea", "vmtx", "DSIG"]
    options.flavor = flavor or None
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=ASCII + "".join(sorted(set(text) - set(ASCII))))
    font = TTFont(cjk_font_path(), fontNumber=FACE_INDEX, lazy=True)
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()
