"""Location-allocation: p-median, p-center, MCLP, LSCP, capacitated p-median, backup coverage.

Models are built by named constructors (``from_cost_matrix``, ``from_travel_times``, and
``PMedian.from_points``), solved by ``solve(time_limit_s=..., progress=...)``, and expose their
results as attributes (``sites``, ``assignment``, ``objective``, ``bound``, ``gap``,
``status``, ``runtime_s``, ``coverage``) that raise :class:`NotSolvedError` before solving.
"""

from spatial.allocation._common import NotSolvedError, Progress, SolveStatus
from spatial.allocation.capacitated import CapacitatedPMedian
from spatial.allocation.coverage import LSCP, MCLP, BackupCoverage
from spatial.allocation.orlib import OrlibPmed, read_orlib_optima, read_orlib_pmed
from spatial.allocation.pcenter import PCenter
from spatial.allocation.pmedian import PMedian

__all__ = [
    "LSCP",
    "MCLP",
    "BackupCoverage",
    "CapacitatedPMedian",
    "NotSolvedError",
    "OrlibPmed",
    "PCenter",
    "PMedian",
    "Progress",
    "SolveStatus",
    "read_orlib_optima",
    "read_orlib_pmed",
]
