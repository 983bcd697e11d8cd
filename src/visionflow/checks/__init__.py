"""Dataset health checks: functions `Dataset -> list[CheckFinding]`, one module per family
(files, geometry, distribution, duplicates), and safe fixes into a new dataset.

    >>> import visionflow as vf
    >>> findings = vf.check(vf.load("data/"))                 # doctest: +SKIP
    >>> [f.code for f in findings if f.severity == "error"]   # doctest: +SKIP
    ['box.out_of_bounds', 'split.leakage']

Nothing here prints: the CLI (cli/check.py) and the HTML report render the findings.
"""

from .config import CheckConfig

# The check families pull in image scanning and HTML rendering: loaded on first use so that
# the CLI's option defaults (CheckConfig) cost nothing.
_LAZY = {"CheckFinding": ".findings", "FixOptions": ".fixes", "FixResult": ".fixes", "fix": ".fixes",
         "fix_path": ".fixes", "CheckResult": ".run", "check": ".run", "check_path": ".run"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CheckConfig", "CheckFinding", "CheckResult", "FixOptions", "FixResult", "check",
           "check_path", "fix", "fix_path"]
