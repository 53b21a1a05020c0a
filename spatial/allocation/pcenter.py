"""The p-center model, solved exactly by a search over candidate radii with covering MIPs.

Hand-written because the textbook p-center MIP (minimise ``r`` with ``r >= sum_j d_ij x_ij``)
has a very weak LP bound; the optimum is one of the distinct costs, and "can ``p`` sites cover
everyone within ``r``?" is a set-covering MIP that HiGHS solves quickly (Minieka, 1970;
Daskin, 2000), so a bisection over the sorted distinct costs is exact and reports an honest
bracket ``[bound, objective]`` when stopped by the time limit.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from spatial.allocation._common import (
    BoolArray,
    FloatArray,
    Instance,
    LocationModel,
    Progress,
    ProgressCallback,
    Result,
    SolveStatus,
    relative_gap,
)
from spatial.allocation._highs import solve_mip


class PCenter(LocationModel):
    r"""p-center: open ``p`` sites minimising the largest cost to the nearest open site.

    .. math::

        \min_{Y, |Y| = p} \max_i \min_{j \in Y} d_{ij}

    The optimum is a distinct cost :math:`D_k`; with :math:`N_i(r) = \{j : d_{ij} \le r\}`,
    radius ``r`` is achievable iff
    :math:`\min \{\sum_j y_j : \sum_{j \in N_i(r)} y_j \ge 1\ \forall i,\ y_j = 1\ (j \in K)\}
    \le p`, which is decided by HiGHS in a bisection over the :math:`D_k` between the largest
    nearest-site cost (a lower bound) and a greedy solution (an upper bound). Weights are not
    used in the objective (only in the coverage table).

    Examples
    --------
    >>> cost = [[0, 5, 9], [3, 4, 8], [9, 6, 0], [7, 2, 6]]
    >>> m = PCenter.from_cost_matrix(cost, p=2).solve()
    >>> list(m.sites), m.objective
    ([1, 2], 5.0)
    """

    sense = "min"

    def __init__(self, instance: Instance, weights: FloatArray, **kwargs: Any) -> None:
        super().__init__(instance, weights, **kwargs)
        if self.p is None:
            raise ValueError("PCenter needs p")
        if instance.dense is None:
            raise ValueError("PCenter needs a cost matrix (instance too large)")

    def _cover_count(
        self, radius: float, start: float, limit: float | None
    ) -> tuple[bool | None, BoolArray | None]:
        """Can ``p`` sites cover everyone within ``radius``? ``None`` if undecided in time."""
        dense = self.instance.dense
        assert dense is not None
        assert self.p is not None
        m = self.instance.m
        cover = sp.csc_matrix((dense <= radius) & ~self.excluded[None, :]).astype(np.float64)
        if (np.asarray(cover.sum(axis=1)).ravel() == 0).any():
            return False, None
        kept = np.zeros(m, dtype=bool)
        kept[self.keep] = True
        remaining = None if limit is None else limit - (time.perf_counter() - start)
        if remaining is not None and remaining <= 0:
            return None, None
        # feasibility with at most p sites: minimise the count, stop as soon as <= p is proven
        out = solve_mip(
            c=np.ones(m),
            a=cover,
            row_lo=np.ones(cover.shape[0]),
            row_hi=np.full(cover.shape[0], np.inf),
            col_lo=kept.astype(np.float64),
            col_hi=np.where(self.excluded, 0.0, 1.0),
            integer=np.ones(m, dtype=bool),
            time_limit_s=remaining,
            t0=start,
        )
        if out.x is not None and out.objective <= self.p + 1e-9:
            return True, out.x > 0.5
        if out.status is SolveStatus.INFEASIBLE or (
            np.isfinite(out.bound) and np.ceil(out.bound - 1e-6) > self.p
        ):
            return False, None
        return None, None

    def _solve(
        self,
        *,
        start: float,
        time_limit_s: float | None,
        progress: ProgressCallback | None,
        **options: Any,
    ) -> Result:
        if options:
            raise TypeError(f"unknown solve options: {sorted(options)}")
        inst = self.instance
        dense = inst.dense
        assert dense is not None
        assert self.p is not None
        allowed = np.where(self.excluded[None, :], np.inf, dense)
        nearest = allowed.min(axis=1)
        if not np.all(np.isfinite(nearest)):
            return self._infeasible(reason="a demand point has no allowed site")
        # greedy upper bound: repeatedly open the site nearest to the worst-served point
        open_mask = np.zeros(inst.m, dtype=bool)
        open_mask[self.keep] = True
        cur = allowed[:, open_mask].min(axis=1) if open_mask.any() else np.full(inst.n, np.inf)
        while open_mask.sum() < self.p:
            worst = int(np.argmax(cur))
            row = np.where(open_mask, np.inf, allowed[worst])
            j = int(np.argmin(row))
            if not np.isfinite(row[j]):
                break
            open_mask[j] = True
            cur = np.minimum(cur, allowed[:, j])
        best_open = open_mask
        ub = float(cur.max())
        values = np.unique(allowed[np.isfinite(allowed)])
        lb = float(nearest.max())
        if open_mask.any() and self.keep.size:
            lb = max(lb, 0.0)
        lo_i = int(np.searchsorted(values, lb))
        hi_i = int(np.searchsorted(values, ub))
        status = SolveStatus.OPTIMAL
        # invariant: values[hi_i] achievable; everything below values[lo_i] is not
        while lo_i < hi_i:
            mid = (lo_i + hi_i) // 2
            ok, sol = self._cover_count(float(values[mid]), start, time_limit_s)
            if ok is None:
                status = SolveStatus.TIME_LIMIT
                break
            if ok:
                assert sol is not None
                hi_i = mid
                extra = self.p - int(sol.sum())
                if extra > 0:  # fill up to p sites with any allowed sites
                    spare = np.flatnonzero(~sol & ~self.excluded)[:extra]
                    sol[spare] = True
                best_open = sol
                ub = float(values[mid])
            else:
                lo_i = mid + 1
            if progress is not None:
                lbv = float(values[lo_i])
                progress(
                    Progress("mip", time.perf_counter() - start, ub, lbv, relative_gap(ub, lbv))
                )
        bound = float(values[lo_i]) if lo_i < values.size else ub
        objective = float(allowed[:, best_open].min(axis=1).max())
        if status is SolveStatus.OPTIMAL and relative_gap(objective, bound) > 0:
            status = SolveStatus.GAP_LIMIT
        return self._finish(best_open, objective, min(bound, objective), status)
