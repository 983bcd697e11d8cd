"""Dataset health checks: functions `Dataset -> list[CheckFinding]`, one module per family
(files, geometry, distribution, duplicates), and safe fixes into a new dataset.

    >>> import visionflow as vf
    >>> findings = vf.check(vf.load("data/"))                 # doctest: +SKIP
    >>> [f.code for f in findings if f.severity == "error"]   # doctest: +SKIP
    ['box.out_of_bounds', 'split.leakage']

Nothing here prints: the CLI (cli/check.py) and the HTML report render the findings.
"""

from .config import CheckConfig
from .findings import CheckFinding
from .fix import FixOptions, FixResult, fix, fix_path
from .run import CheckResult, check, check_path

__all__ = ["CheckConfig", "CheckFinding", "CheckResult", "FixOptions", "FixResult", "check",
           "check_path", "fix", "fix_path"]
