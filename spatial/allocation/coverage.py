"""Covering models: MCLP, LSCP and backup coverage, solved exactly on HiGHS.

Hand-written on the sparse coverage matrix (pairs within the service radius only) rather than
through a modelling layer, so that the MIP is built in one pass and its proven bound and status
are read back exactly.
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
    ProgressCallback,
    Result,
    SolveStatus,
)
from spatial.allocation._highs import MipOutcome, solve_mip


def _remaining(start: float, limit: float | None) -> float | None:
    return None if limit is None else limit - (time.perf_counter() - start)


class _CoverageModel(LocationModel):
    """A model with a service radius: demand ``i`` is covered by sites ``N_i``."""

    def __init__(
        self,
        instance: Instance,
        weights: FloatArray,
        *,
        service_radius: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(instance, weights, **kwargs)
        if service_radius is None or not service_radius >= 0:
            raise ValueError(f"{type(self).__name__} needs a non-negative service_radius")
        if instance.dense is None:
            raise ValueError(f"{type(self).__name__} needs a cost matrix (instance too large)")
        self.service_radius = float(service_radius)
        self._cover: sp.csr_matrix = sp.csr_matrix(
            (instance.dense <= self.service_radius) & ~self.excluded[None, :]
        ).astype(np.float64)

    def _kept_mask(self) -> BoolArray:
        kept = np.zeros(self.instance.m, dtype=bool)
        kept[self.keep] = True
        return kept

    def _covered(self, open_mask: BoolArray) -> BoolArray:
        return np.asarray(self._cover @ open_mask.astype(np.float64)).ravel() > 0.5

    def _coverage_count(self, open_mask: BoolArray) -> FloatArray:
        return np.asarray(self._cover @ open_mask.astype(np.float64)).ravel()

    @property
    def covered(self) -> BoolArray:
        """Whether each demand point is within ``service_radius`` of a chosen site."""
        return self._covered(self.result.open_mask)

    @property
    def covered_demand(self) -> float:
        """Total weight of demand points within ``service_radius`` of a chosen site."""
        return float(self.weights[self.covered].sum())

    @property
    def covered_share(self) -> float:
        """Share (0-1) of total demand weight within ``service_radius``."""
        return self.covered_demand / float(self.weights.sum())

    @property
    def covered_points_percent(self) -> float:
        """Percentage of demand *points* covered (spopt's ``perc_cov``)."""
        return 100.0 * float(self.covered.mean())

    def _lscp_min(
        self, start: float, time_limit_s: float | None, threads: int | None
    ) -> MipOutcome:
        """Minimum number of sites covering every demand point (LSCP)."""
        m = self.instance.m
        a = self._cover.tocsc()
        kept = self._kept_mask()
        return solve_mip(
            c=np.ones(m),
            a=a,
            row_lo=np.ones(a.shape[0]),
            row_hi=np.full(a.shape[0], np.inf),
            col_lo=kept.astype(np.float64),
            col_hi=np.where(self.excluded, 0.0, 1.0),
            integer=np.ones(m, dtype=bool),
            time_limit_s=_remaining(start, time_limit_s),
            t0=start,
            threads=threads,
        )


class MCLP(_CoverageModel):
    r"""Maximal covering location problem (Church & ReVelle, 1974).

    .. math::

        \max \sum_i w_i z_i \quad \text{s.t.} \quad z_i \le \sum_{j \in N_i} y_j,\;
        \sum_j y_j = p,\; 0 \le z_i \le 1,\; y_j \in \{0,1\},

    with :math:`N_i = \{j : d_{ij} \le S\}` (``service_radius``), kept sites fixed open and
    excluded sites fixed closed. ``objective`` is the covered demand weight.

    Examples
    --------
    >>> cost = [[1, 9], [2, 9], [9, 1]]
    >>> m = MCLP.from_cost_matrix(cost, [5, 5, 3], p=1, service_radius=2).solve()
    >>> list(m.sites), m.objective
    ([0], 10.0)
    """

    sense = "max"

    def __init__(self, instance: Instance, weights: FloatArray, **kwargs: Any) -> None:
        super().__init__(instance, weights, **kwargs)
        if self.p is None:
            raise ValueError("MCLP needs p")

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
        n, m = self.instance.n, self.instance.m
        cover = self._cover.tocoo()
        # rows i: z_i - sum_{j in N_i} y_j <= 0 ; last row: sum y = p
        rows = np.concatenate([cover.row, np.arange(n), np.full(m, n)])
        cols = np.concatenate([cover.col, m + np.arange(n), np.arange(m)])
        vals = np.concatenate([-np.ones(cover.nnz), np.ones(n), np.ones(m)])
        a = sp.csc_matrix((vals, (rows, cols)), shape=(n + 1, m + n))
        assert self.p is not None
        kept = self._kept_mask()
        out = solve_mip(
            c=np.concatenate([np.zeros(m), self.weights]),
            a=a,
            row_lo=np.concatenate([np.full(n, -np.inf), [self.p]]),
            row_hi=np.concatenate([np.zeros(n), [self.p]]),
            col_lo=np.concatenate([kept.astype(np.float64), np.zeros(n)]),
            col_hi=np.concatenate([np.where(self.excluded, 0.0, 1.0), np.ones(n)]),
            integer=np.concatenate([np.ones(m, dtype=bool), np.zeros(n, dtype=bool)]),
            maximize=True,
            time_limit_s=_remaining(start, time_limit_s),
            progress=progress,
            t0=start,
            threads=threads,
        )
        if out.x is None:
            return self._infeasible(reason=f"HiGHS: {out.status.value}")
        open_mask = out.x[:m] > 0.5
        objective = float(self.weights[self._covered(open_mask)].sum())
        return self._finish(open_mask, objective, max(out.bound, objective), out.status)


class LSCP(_CoverageModel):
    r"""Location set covering problem (Toregas et al., 1971).

    .. math::

        \min \sum_j y_j \quad \text{s.t.} \quad \sum_{j \in N_i} y_j \ge 1\ \forall i,\;
        y_j \in \{0,1\},

    with :math:`N_i = \{j : d_{ij} \le S\}`. ``p`` is not used; ``objective`` is the number of
    sites. Infeasible when a demand point has no candidate within ``service_radius``.

    Examples
    --------
    >>> cost = [[1, 9, 9], [2, 1, 9], [9, 9, 1]]
    >>> m = LSCP.from_cost_matrix(cost, service_radius=2).solve()
    >>> list(m.sites), m.objective
    ([0, 2], 2.0)
    """

    sense = "min"

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
        if (np.diff(self._cover.indptr) == 0).any():
            return self._infeasible(reason="a demand point has no site within service_radius")
        out = self._lscp_min(start, time_limit_s, threads)
        if out.x is None:
            return self._infeasible(reason=f"HiGHS: {out.status.value}")
        open_mask = out.x[: self.instance.m] > 0.5
        return self._finish(
            open_mask, float(open_mask.sum()), float(np.ceil(out.bound - 1e-6)), out.status
        )


class BackupCoverage(_CoverageModel):
    r"""Backup coverage (Hogan & ReVelle, 1986, BACOP1).

    Every demand point must be covered once; maximise the demand covered at least twice:

    .. math::

        \max \sum_i w_i u_i \quad \text{s.t.} \quad \sum_{j \in N_i} y_j - u_i \ge 1,\;
        \sum_j y_j = p,\; 0 \le u_i \le 1,\; y_j \in \{0,1\}.

    When ``p`` is not given it is the LSCP minimum (as spopt's LSCP-B). ``objective`` is the
    backup-covered demand weight.

    Examples
    --------
    >>> cost = [[1, 1, 9], [1, 9, 1], [9, 1, 1]]
    >>> m = BackupCoverage.from_cost_matrix(cost, [1, 1, 1], p=2, service_radius=2).solve()
    >>> m.objective
    1.0
    """

    sense = "max"

    @property
    def backup_covered(self) -> BoolArray:
        """Whether each demand point is covered by at least two chosen sites."""
        return self._coverage_count(self.result.open_mask) >= 2

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
        if (np.diff(self._cover.indptr) == 0).any():
            return self._infeasible(reason="a demand point has no site within service_radius")
        n, m = self.instance.n, self.instance.m
        p = self.p
        if p is None:
            base = self._lscp_min(start, time_limit_s, threads)
            if base.x is None or base.status is not SolveStatus.OPTIMAL:
                return self._infeasible(reason="LSCP for p did not solve to optimality")
            p = round(base.objective)
        cover = self._cover.tocoo()
        rows = np.concatenate([cover.row, np.arange(n), np.full(m, n)])
        cols = np.concatenate([cover.col, m + np.arange(n), np.arange(m)])
        vals = np.concatenate([np.ones(cover.nnz), -np.ones(n), np.ones(m)])
        a = sp.csc_matrix((vals, (rows, cols)), shape=(n + 1, m + n))
        kept = self._kept_mask()
        out = solve_mip(
            c=np.concatenate([np.zeros(m), self.weights]),
            a=a,
            row_lo=np.concatenate([np.ones(n), [p]]),
            row_hi=np.concatenate([np.full(n, np.inf), [p]]),
            col_lo=np.concatenate([kept.astype(np.float64), np.zeros(n)]),
            col_hi=np.concatenate([np.where(self.excluded, 0.0, 1.0), np.ones(n)]),
            integer=np.concatenate([np.ones(m, dtype=bool), np.zeros(n, dtype=bool)]),
            maximize=True,
            time_limit_s=_remaining(start, time_limit_s),
            progress=progress,
            t0=start,
            threads=threads,
        )
        if out.x is None:
            return self._infeasible(reason=f"HiGHS: {out.status.value}")
        open_mask = out.x[:m] > 0.5
        objective = float(self.weights[self._coverage_count(open_mask) >= 2].sum())
        return self._finish(open_mask, objective, max(out.bound, objective), out.status, p=int(p))
