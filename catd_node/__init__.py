"""catd-node: the offline-first edge server of a PREP counting center (CATD)."""

__version__ = "0.1.0"
