"""The version, in one place: pyproject reads it (hatch's version source) and
visionflow.__version__ re-exports it."""

__version__ = "0.1.0"
