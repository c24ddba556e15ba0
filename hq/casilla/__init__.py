"""PREP Casilla at HQ: phones' device-signed photo uploads, kept once with their statements
(casilla.db), and the node-signed pull by which each CATD fetches its own (docs/casilla.md)."""
