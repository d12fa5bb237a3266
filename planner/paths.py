"""Where the bundled data lives."""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
STANDARDS_DIR = DATA_DIR / "standards"
