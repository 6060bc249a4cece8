"""The ``s3`` interface layer, requires side (see README.md, requires.py)."""
