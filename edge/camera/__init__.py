"""Plate cameras: the push a camera sends (PROTOCOLS.md §5), checked into ``PlateRead``s."""
