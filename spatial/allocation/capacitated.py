"""The capacitated p-median, with split or single-sourced demand, solved on HiGHS.

Hand-written on the sparse set of allowed pairs (within ``max_cost``) so that the MIP has one
variable per usable pair, with the strong linking rows ``x_ij <= y_j`` that make the LP bound
useful; HiGHS returns its proven bound, which is reported with the gap.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from spatial.allocation._common import (
    FloatArray,
    Instance,
    LocationModel,
    ProgressCallback,
    Result,
)
from spatial.allocation._highs import solve_mip


class CapacitatedPMedian(LocationModel):
    r"""Capacitated p-median: site capacities, demand split or single-sourced.

    .. math::

        \min \sum_{(i,j)} w_i d_{ij} x_{ij} \quad \text{s.t.} \quad
        \sum_j x_{ij} = 1,\; \sum_i w_i x_{ij} \le Q_j y_j,\; x_{ij} \le y_j,\;
        \sum_j y_j = p,\; y_j \in \{0,1\},

    with :math:`x_{ij} \in [0,1]` (``single_source=False``: a demand point may be shared) or
    :math:`x_{ij} \in \{0,1\}` (``single_source=True``). Only pairs within ``max_cost`` exist.
    ``capacities`` :math:`Q_j` are in the units of the weights (people, list size).

    Examples
    --------
    >>> cost = [[1, 5], [1, 5], [5, 1]]
    >>> m = CapacitatedPMedian.from_cost_matrix(
    ...     cost, [2, 2, 1], p=2, capacities=[3, 3], single_source=True
    ... ).solve()
    >>> m.objective, list(m.loads)
    (13.0, [2.0, 3.0])
    """

    sense = "min"

    def __init__(
        self,
        instance: Instance,
        weights: FloatArray,
        *,
        capacities: npt.ArrayLike | None = None,
        single_source: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(instance, weights, **kwargs)
        if self.p is None:
            raise ValueError("CapacitatedPMedian needs p")
        if capacities is None:
            raise ValueError("CapacitatedPMedian needs capacities")
        cap = np.asarray(capacities, dtype=np.float64).ravel()
        if cap.shape != (instance.m,) or (cap < 0).any():
            raise ValueError(f"capacities must be {instance.m} non-negative numbers")
        self.capacities = cap
        self.single_source = bool(single_source)

    @property
    def allocation(self) -> pd.DataFrame:
        """Flows: one row per (demand, site) pair used, with ``share`` and ``demand`` served."""
        r = self.result
        ii, jj, share = r.extra["pairs"]
        return pd.DataFrame(
            {
                "demand_id": self.demand_ids[ii],
                "site_id": self.site_ids[jj],
                "share": share,
                "demand": share * self.weights[ii],
            }
        )

    @property
    def loads(self) -> pd.Series[float]:
        """Demand served by each chosen site (never above its capacity)."""
        r = self.result
        ii, jj, share = r.extra["pairs"]
        load = np.bincount(jj, weights=share * self.weights[ii], minlength=self.instance.m)
        idx = self.site_index
        return pd.Series(load[idx], index=self.sites, name="load")

    def _solve(
        self,
        *,
        start: float,
        time_limit_s: float | None,
        progress: ProgressCallback | None,
        threads: int | None = None,
        **options: Any,
    ) -> Result:
        if options:
            raise TypeError(f"unknown solve options: {sorted(options)}")
        inst = self.instance
        n, m = inst.n, inst.m
        counts = np.diff(inst.indptr)
        if (counts == 0).any():
            return self._infeasible(reason="a demand point has no allowed site")
        pi = np.repeat(np.arange(n), counts)
        pj = inst.sites
        npair = pi.size
        w = self.weights
        # columns: y (m) then x (npair)
        xcol = m + np.arange(npair)
        r_assign = pi  # rows 0..n-1: sum_j x_ij = 1
        r_cap = n + pj  # rows n..n+m-1: sum_i w_i x_ij - Q_j y_j <= 0
        r_link = n + m + np.arange(npair)  # x_ij - y_j <= 0
        r_card = n + m + npair
        rows = np.concatenate([r_assign, r_cap, n + np.arange(m), r_link, r_link, [r_card] * m])
        cols = np.concatenate([xcol, xcol, np.arange(m), xcol, pj, np.arange(m)])
        vals = np.concatenate(
            [np.ones(npair), w[pi], -self.capacities, np.ones(npair), -np.ones(npair), np.ones(m)]
        )
        a = sp.csc_matrix((vals, (rows, cols)), shape=(r_card + 1, m + npair))
        kept = np.zeros(m, dtype=bool)
        kept[self.keep] = True
        row_lo = np.concatenate(
            [np.ones(n), np.full(m, -np.inf), np.full(npair, -np.inf), [self.p]]
        )
        row_hi = np.concatenate([np.ones(n), np.zeros(m), np.zeros(npair), [self.p]])
        integer = np.zeros(m + npair, dtype=bool)
        integer[:m] = True
        if self.single_source:
            integer[m:] = True
        remaining = None if time_limit_s is None else time_limit_s - (time.perf_counter() - start)
        out = solve_mip(
            c=np.concatenate([np.zeros(m), w[pi] * inst.costs]),
            a=a,
            row_lo=row_lo,
            row_hi=row_hi,
            col_lo=np.concatenate([kept.astype(np.float64), np.zeros(npair)]),
            col_hi=np.concatenate([np.where(self.excluded, 0.0, 1.0), np.ones(npair)]),
            integer=integer,
            time_limit_s=remaining,
            progress=progress,
            t0=start,
            threads=threads,
        )
        if out.x is None:
            return self._infeasible(reason=f"HiGHS: {out.status.value}", pairs=_no_pairs())
        open_mask = out.x[:m] > 0.5
        x = out.x[m:]
        if self.single_source:
            x = np.round(x)
        used = x > 1e-9
        pairs = (pi[used], pj[used], x[used])
        # primary assignment: the site serving the largest share of each demand point
        order = np.lexsort((-x[used], pi[used]))
        first = np.unique(pi[used][order], return_index=True)[1]
        assign = np.full(n, -1, dtype=np.int64)
        assign[pi[used][order][first]] = pj[used][order][first]
        cost = np.full(n, np.inf)
        cost[pi[used][order][first]] = inst.costs[used][order][first]
        objective = float(np.dot(w[pi] * inst.costs, x))
        return Result(
            open_mask,
            assign,
            cost,
            objective,
            min(out.bound, objective),
            out.status,
            0.0,
            {"pairs": pairs},
        )


def _no_pairs() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArray]:
    return (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0))
