"""A thin wrapper that hands a sparse MIP to HiGHS (``highspy``) and reads back the outcome.

Hand-written rather than going through a modelling layer (PuLP, Pyomo): building the constraint
matrix directly as CSC arrays is orders of magnitude faster for the hundreds of thousands of
variables of the p-median formulations, and it lets us read HiGHS's dual bound and status
exactly (PuLP's CBC wrapper has been seen to call a time-limited run "Optimal").
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from spatial.allocation._common import (
    BoolArray,
    FloatArray,
    Progress,
    ProgressCallback,
    SolveStatus,
    relative_gap,
)


@dataclass
class MipOutcome:
    """What HiGHS returned: status, solution (``None`` if none), objective and bound."""

    status: SolveStatus
    x: FloatArray | None
    objective: float
    bound: float


def solve_mip(
    *,
    c: FloatArray,
    a: sp.csc_matrix,
    row_lo: FloatArray,
    row_hi: FloatArray,
    col_lo: FloatArray,
    col_hi: FloatArray,
    integer: BoolArray,
    offset: float = 0.0,
    maximize: bool = False,
    time_limit_s: float | None = None,
    mip_rel_gap: float = 1e-9,
    start: FloatArray | None = None,
    progress: ProgressCallback | None = None,
    t0: float | None = None,
    threads: int | None = None,
) -> MipOutcome:
    """Solve ``min/max c x + offset`` s.t. ``row_lo <= A x <= row_hi``, bounds, integrality.

    Parameters
    ----------
    c, a, row_lo, row_hi, col_lo, col_hi, integer : arrays
        The model in column-wise sparse form (``a`` is converted to CSC).
    offset : float
        Constant added to the objective.
    maximize : bool
        Maximise instead of minimise.
    time_limit_s : float, optional
        Remaining wall-clock seconds; ``None`` for no limit.
    mip_rel_gap : float
        Relative gap at which HiGHS stops.
    start : ndarray, optional
        A feasible solution handed to HiGHS as the incumbent.
    progress : callable, optional
        Receives a :class:`Progress` at each improving MIP solution.
    t0 : float, optional
        ``time.perf_counter()`` at the start of the outer solve (for elapsed times).
    threads : int, optional
        HiGHS threads.

    Returns
    -------
    MipOutcome
    """
    t0 = time.perf_counter() if t0 is None else t0
    a = sp.csc_matrix(a)
    a.sort_indices()
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    h.setOptionValue("mip_abs_gap", 1e-9)
    if threads is not None:
        h.setOptionValue("threads", int(threads))
    if time_limit_s is not None:
        h.setOptionValue("time_limit", max(float(time_limit_s), 0.01))
    lp = highspy.HighsLp()
    lp.num_col_ = int(a.shape[1])
    lp.num_row_ = int(a.shape[0])
    lp.col_cost_ = np.asarray(c, dtype=np.float64)
    lp.col_lower_ = np.asarray(col_lo, dtype=np.float64)
    lp.col_upper_ = np.asarray(col_hi, dtype=np.float64)
    lp.row_lower_ = np.asarray(row_lo, dtype=np.float64)
    lp.row_upper_ = np.asarray(row_hi, dtype=np.float64)
    lp.offset_ = float(offset)
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(np.float64)
    lp.integrality_ = [
        highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
        for flag in integer
    ]
    h.passModel(lp)
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = list(map(float, start))
        sol.value_valid = True
        h.setSolution(sol)
    if progress is not None:
        cb = progress

        def _on_improve(event: object) -> None:
            out = event.data_out  # type: ignore[attr-defined]
            obj = float(out.mip_primal_bound)
            bnd = float(out.mip_dual_bound)
            cb(Progress("mip", time.perf_counter() - t0, obj, bnd, relative_gap(obj, bnd)))

        h.cbMipImprovingSolution.subscribe(_on_improve)
    h.run()
    model_status = h.getModelStatus()
    info = h.getInfo()
    ms = highspy.HighsModelStatus
    has_sol = info.primal_solution_status == 2
    x = np.asarray(h.getSolution().col_value, dtype=np.float64) if has_sol else None
    if model_status == ms.kInfeasible:
        return MipOutcome(SolveStatus.INFEASIBLE, None, float("nan"), float("nan"))
    objective = float(info.objective_function_value) if has_sol else float("nan")
    is_mip = bool(np.any(integer))
    bound = float(info.mip_dual_bound) if is_mip else objective
    if model_status == ms.kOptimal:
        status = (
            SolveStatus.OPTIMAL if relative_gap(objective, bound) <= 1e-9 else SolveStatus.GAP_LIMIT
        )
    elif model_status == ms.kTimeLimit:
        status = SolveStatus.TIME_LIMIT
    else:
        status = SolveStatus.ITERATION_LIMIT
    if not np.isfinite(bound):
        bound = float("nan") if not np.isfinite(objective) else bound
    return MipOutcome(status, x, objective, bound)
