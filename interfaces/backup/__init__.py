"""The ``backup`` interface layer (see README.md, provides.py, requires.py)."""
