# The one place the version is written. setup.py reads it for the C build
# (so `mosaic-hb --version` says the same), pyproject.toml reads it for the
# package metadata, and `mosaic --version` imports it.
__version__ = "0.1.0"
