"""The public results site: static pages written with each cut (build.py)."""
