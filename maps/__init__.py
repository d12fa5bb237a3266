"""Folium maps of coverage results that open offline (Leaflet shipped in maps/assets)."""

from planner.maps.gapmap import gap_map, save_gap_map

__all__ = ["gap_map", "save_gap_map"]
