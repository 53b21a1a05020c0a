"""Shared machinery of the location-allocation models: instance data, options, results.

Every model keeps its costs in one sparse, per-demand-point sorted layout (CSR): for demand
point ``i`` the sites it may use, ordered by increasing cost, and a *tail* cost that is a lower
bound on the cost of any site not listed (``inf`` when unlisted sites are not allowed, e.g.
beyond a maximum travel time). The dense matrix is kept as well when the instance is small
enough, because the covering and capacitated formulations read it directly.

The layout is hand-written rather than a ``scipy.sparse`` matrix because the heuristics and the
Lagrangian bound (numba kernels in :mod:`spatial.allocation._kernels`) walk each demand point's
list in cost order and stop early; that order is the whole point of the structure.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import pandas as pd

from spatial.allocation._arrays import BoolArray as BoolArray
from spatial.allocation._arrays import FloatArray as FloatArray
from spatial.allocation._arrays import IntArray as IntArray
from spatial.allocation._kernels import nearest_open

#: Dense matrices above this many cells are not kept (sparse lists only).
_DENSE_LIMIT = 20_000_000


class NotSolvedError(RuntimeError):
    """Raised when results are read from a model that has not been solved."""


class SolveStatus(enum.StrEnum):
    """Outcome of :meth:`solve`.

    ``optimal``: the objective equals the proven bound (gap 0 within tolerance).
    ``gap_limit``: stopped because the requested relative gap was reached.
    ``time_limit``: stopped by the time limit; ``objective``, ``bound`` and ``gap`` are honest.
    ``iteration_limit``: the bounding procedure stalled before proving optimality.
    ``infeasible``: no solution exists (e.g. a demand point with no site within ``max_cost``).
    """

    OPTIMAL = "optimal"
    GAP_LIMIT = "gap_limit"
    TIME_LIMIT = "time_limit"
    ITERATION_LIMIT = "iteration_limit"
    INFEASIBLE = "infeasible"


@dataclass(frozen=True)
class Progress:
    """A progress report passed to the ``progress`` callback of ``solve``.

    Attributes
    ----------
    stage : str
        ``"heuristic"``, ``"lagrangian"`` or ``"mip"``.
    elapsed_s : float
        Wall seconds since ``solve`` started.
    objective : float
        Best objective found so far (``nan`` if none).
    bound : float
        Best proven bound so far (``nan`` if none).
    gap : float
        Relative gap ``|objective - bound| / |objective|`` (``nan`` if unknown).
    """

    stage: str
    elapsed_s: float
    objective: float
    bound: float
    gap: float


ProgressCallback = Callable[[Progress], None]


def relative_gap(objective: float, bound: float) -> float:
    """Relative gap ``|objective - bound| / max(|objective|, 1e-12)``; ``0`` when equal."""
    if not (np.isfinite(objective) and np.isfinite(bound)):
        return float("inf")
    diff = abs(objective - bound)
    if diff <= 1e-9 * max(1.0, abs(objective)):
        return 0.0
    return diff / max(abs(objective), 1e-12)


@dataclass
class Instance:
    """Costs of one allocation problem in per-demand sorted sparse form.

    Attributes
    ----------
    n, m : int
        Number of demand points and of candidate sites.
    indptr, sites, costs : ndarray
        CSR lists: ``sites[indptr[i]:indptr[i+1]]`` are the sites allowed for demand ``i``,
        ordered by increasing ``costs``. Excluded sites are never listed.
    tail : ndarray
        Per demand point a lower bound on the cost of any unlisted, non-excluded site
        (``inf``: unlisted sites are not allowed).
    dense : ndarray or None
        The full ``n x m`` cost matrix (``inf`` where not allowed), if small enough. Excluded
        columns are *not* masked here (the "before" coverage may use an excluded site).
    fallback : callable or None
        ``fallback(demand_idx, open_sites) -> (site, cost)`` gives the exact nearest open site
        for demand points whose list holds no open site (point-based instances).
    """

    n: int
    m: int
    indptr: IntArray
    sites: IntArray
    costs: FloatArray
    tail: FloatArray
    dense: FloatArray | None = None
    fallback: Callable[[IntArray, IntArray], tuple[IntArray, FloatArray]] | None = None

    @property
    def complete(self) -> bool:
        """True when the lists describe the problem exactly (no lower-bounded tail)."""
        return bool(np.all(np.isinf(self.tail)))

    @classmethod
    def from_dense(cls, cost: FloatArray, excluded: BoolArray) -> Instance:
        """Build from a dense matrix (``inf`` = not allowed), dropping excluded sites."""
        n, m = cost.shape
        allowed = np.isfinite(cost) & ~excluded[None, :]
        order = np.argsort(np.where(allowed, cost, np.inf), axis=1, kind="stable")
        counts = allowed.sum(axis=1)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        col = np.arange(m)[None, :]
        keep_mask = col < counts[:, None]
        sites = order[keep_mask].astype(np.int64)
        rows = np.repeat(np.arange(n), counts)
        costs = cost[rows, sites].astype(np.float64)
        dense = cost if n * m <= _DENSE_LIMIT else None
        return cls(n, m, indptr, sites, costs, np.full(n, np.inf), dense)

    def evaluate(self, open_mask: BoolArray) -> tuple[IntArray, FloatArray]:
        """Nearest open site and its cost for every demand point (``-1``/``inf`` if none)."""
        site, cost = nearest_open(self.indptr, self.sites, self.costs, open_mask)
        missing = np.flatnonzero(site < 0)
        if missing.size and self.fallback is not None and np.isfinite(self.tail[missing]).any():
            fsite, fcost = self.fallback(missing, np.flatnonzero(open_mask).astype(np.int64))
            site[missing] = fsite
            cost[missing] = fcost
        return site, cost

    def cost_to_sites(self, open_mask: BoolArray) -> FloatArray:
        """Cost from every demand point to its nearest site in ``open_mask``."""
        return self.evaluate(open_mask)[1]


@dataclass
class Result:
    """Results of a solved model (read them through the model's attributes)."""

    open_mask: BoolArray
    assignment: IntArray
    assigned_cost: FloatArray
    objective: float
    bound: float
    status: SolveStatus
    runtime_s: float
    extra: dict[str, Any] = field(default_factory=dict)


def _as_index(ids: Sequence[Hashable] | pd.Index | None, size: int) -> pd.Index:
    if ids is None:
        return pd.RangeIndex(size)
    index = pd.Index(list(ids))
    if len(index) != size:
        raise ValueError(f"expected {size} ids, got {len(index)}")
    if not index.is_unique:
        raise ValueError("ids must be unique")
    return index


def _positions(index: pd.Index, labels: Iterable[Hashable], what: str) -> IntArray:
    labels = list(labels)
    if not labels:
        return np.zeros(0, dtype=np.int64)
    pos = index.get_indexer(pd.Index(labels))
    if (pos < 0).any():
        bad = [lab for lab, q in zip(labels, pos, strict=True) if q < 0]
        raise ValueError(f"unknown {what} site ids: {bad[:5]}")
    return np.asarray(pos, dtype=np.int64)


class LocationModel:
    """Base class: inputs checked up front, results readable only after :meth:`solve`.

    Subclasses implement ``_solve`` and set ``sense`` (``"min"`` or ``"max"``).
    """

    sense = "min"

    def __init__(
        self,
        instance: Instance,
        weights: FloatArray,
        *,
        p: int | None,
        keep: IntArray,
        excluded: BoolArray,
        demand_ids: pd.Index,
        site_ids: pd.Index,
        bands: Sequence[float],
        existing: IntArray | None,
        max_cost: float | None,
    ) -> None:
        if weights.shape != (instance.n,):
            raise ValueError(f"weights must have length {instance.n}, got {weights.shape}")
        if not np.all(np.isfinite(weights)) or (weights < 0).any():
            raise ValueError("weights must be finite and non-negative")
        if excluded[keep].any():
            raise ValueError("a site cannot be both kept and excluded")
        if p is not None:
            if p < 1:
                raise ValueError(f"p must be at least 1, got {p}")
            if p < len(keep):
                raise ValueError(f"p={p} is smaller than the {len(keep)} kept sites")
            if p > int((~excluded).sum()):
                raise ValueError(f"p={p} exceeds the {int((~excluded).sum())} available sites")
        self.instance = instance
        self.weights = weights
        self.p = p
        self.keep = np.unique(keep)
        self.excluded = excluded
        self.demand_ids = demand_ids
        self.site_ids = site_ids
        self.bands = tuple(float(b) for b in bands)
        self.existing = self.keep if existing is None else np.unique(existing)
        self.max_cost = max_cost
        self._result: Result | None = None

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_cost_matrix(
        cls,
        cost: npt.ArrayLike,
        weights: npt.ArrayLike | None = None,
        p: int | None = None,
        *,
        max_cost: float | None = None,
        keep: Iterable[Hashable] = (),
        exclude: Iterable[Hashable] = (),
        demand_ids: Sequence[Hashable] | pd.Index | None = None,
        site_ids: Sequence[Hashable] | pd.Index | None = None,
        bands: Sequence[float] = (),
        existing: Iterable[Hashable] | None = None,
        **options: Any,
    ) -> Self:
        """Build the model from a dense cost matrix.

        Parameters
        ----------
        cost : array_like, shape (n_demand, n_sites)
            Travel cost (seconds or metres) from each demand point to each candidate site;
            ``inf`` or ``nan`` marks a pair that cannot be used.
        weights : array_like, shape (n_demand,), optional
            Demand weights (population, an age band, need-weighted counts). Default all 1.
        p : int, optional
            Number of sites to open (kept sites count towards ``p``). Not used by LSCP.
        max_cost : float, optional
            Maximum cost of an assignment; pairs above it are dropped (sparse formulation).
        keep : iterable
            Sites that must stay open (existing estate): site ids, or column positions when
            ``site_ids`` is not given.
        exclude : iterable
            Sites that may not be opened.
        demand_ids, site_ids : sequence, optional
            Labels of the rows and columns (default positions).
        bands : sequence of float
            Cost thresholds for the coverage table (e.g. ``(600, 1200, 1800)`` seconds).
        existing : iterable, optional
            Sites open today, for the "before" column of the coverage table (default ``keep``).
        **options
            Model-specific options (e.g. ``service_radius``, ``capacities``).

        Returns
        -------
        model
            An unsolved model; call :meth:`solve`.
        """
        matrix = np.array(cost, dtype=np.float64)
        if matrix.ndim != 2:
            raise ValueError("cost must be a 2-D matrix (demand x sites)")
        matrix[np.isnan(matrix)] = np.inf
        if (matrix < 0).any():
            raise ValueError("costs must be non-negative")
        if max_cost is not None:
            matrix[matrix > max_cost] = np.inf
        n, m = matrix.shape
        w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
        d_index = _as_index(demand_ids, n)
        s_index = _as_index(site_ids, m)
        excluded = np.zeros(m, dtype=bool)
        excluded[_positions(s_index, exclude, "excluded")] = True
        inst = Instance.from_dense(matrix, excluded)
        return cls(
            inst,
            w,
            p=p,
            keep=_positions(s_index, keep, "kept"),
            excluded=excluded,
            demand_ids=d_index,
            site_ids=s_index,
            bands=bands,
            existing=None if existing is None else _positions(s_index, existing, "existing"),
            max_cost=max_cost,
            **options,
        )

    @classmethod
    def from_travel_times(
        cls,
        travel_times: pd.DataFrame,
        weights: pd.Series[float] | None = None,
        p: int | None = None,
        *,
        sites: Sequence[Hashable] | pd.Index | None = None,
        demand: Sequence[Hashable] | pd.Index | None = None,
        from_col: str = "from_id",
        to_col: str = "to_id",
        cost_col: str = "seconds",
        demand_side: str = "from",
        **kwargs: Any,
    ) -> Self:
        """Build the model from long-format travel times (as produced by ``spatial.traveltime``).

        Parameters
        ----------
        travel_times : pandas.DataFrame
            Columns ``from_id``, ``to_id``, ``seconds``. Pairs that are absent are unreachable.
        weights : pandas.Series, optional
            Demand weight per demand id (index = demand ids). Defines the demand points when
            given; otherwise ``demand`` or the ids found in the table are used with weight 1.
        p : int, optional
            Number of sites to open.
        sites : sequence, optional
            Candidate site ids (default: every id on the site side of the table). Sites with no
            reachable demand are still candidates.
        demand : sequence, optional
            Demand ids when ``weights`` is not given.
        from_col, to_col, cost_col : str
            Column names.
        demand_side : {"from", "to"}
            Which end of a trip is the demand point (``"from"``: people travel to the site).
        **kwargs
            Passed to :meth:`from_cost_matrix` (``max_cost``, ``keep``, ``exclude``, ``bands``,
            ``existing`` and model options).

        Returns
        -------
        model
            An unsolved model.
        """
        if demand_side not in ("from", "to"):
            raise ValueError("demand_side must be 'from' or 'to'")
        dcol, scol = (from_col, to_col) if demand_side == "from" else (to_col, from_col)
        for col in (dcol, scol, cost_col):
            if col not in travel_times.columns:
                raise ValueError(f"travel_times has no column {col!r}")
        if weights is not None:
            d_index = pd.Index(weights.index)
            w: FloatArray | None = np.asarray(weights.to_numpy(), dtype=np.float64)
        else:
            d_index = (
                pd.Index(demand) if demand is not None else pd.Index(pd.unique(travel_times[dcol]))
            )
            w = None
        s_index = pd.Index(sites) if sites is not None else pd.Index(pd.unique(travel_times[scol]))
        rows = d_index.get_indexer(pd.Index(travel_times[dcol]))
        cols = s_index.get_indexer(pd.Index(travel_times[scol]))
        ok = (rows >= 0) & (cols >= 0)
        matrix = np.full((len(d_index), len(s_index)), np.inf)
        vals = travel_times[cost_col].to_numpy(dtype=np.float64)[ok]
        # keep the smallest time if a pair is repeated
        flat = rows[ok] * len(s_index) + cols[ok]
        np.minimum.at(matrix.reshape(-1), flat, vals)
        return cls.from_cost_matrix(matrix, w, p, demand_ids=d_index, site_ids=s_index, **kwargs)

    # ------------------------------------------------------------------ solving
    def solve(
        self,
        *,
        time_limit_s: float | None = None,
        progress: ProgressCallback | None = None,
        **options: Any,
    ) -> Self:
        """Solve the model; results become readable as attributes.

        Parameters
        ----------
        time_limit_s : float, optional
            Wall-clock limit in seconds. When reached, ``status`` is ``time_limit`` and the
            best solution, its proven bound and gap are reported.
        progress : callable, optional
            Called with a :class:`Progress` as the solve advances.
        **options
            Model-specific solver options (see the model's ``_solve``).

        Returns
        -------
        self
        """
        start = time.perf_counter()
        result = self._solve(start=start, time_limit_s=time_limit_s, progress=progress, **options)
        result.runtime_s = time.perf_counter() - start
        self._result = result
        return self

    def _solve(
        self,
        *,
        start: float,
        time_limit_s: float | None,
        progress: ProgressCallback | None,
        **options: Any,
    ) -> Result:
        raise NotImplementedError

    def _finish(
        self,
        open_mask: BoolArray,
        objective: float,
        bound: float,
        status: SolveStatus,
        **extra: Any,
    ) -> Result:
        site, cost = self.instance.evaluate(open_mask)
        return Result(open_mask, site, cost, objective, bound, status, 0.0, dict(extra))

    def _infeasible(self, **extra: Any) -> Result:
        empty = np.zeros(self.instance.m, dtype=bool)
        return Result(
            empty,
            np.full(self.instance.n, -1, dtype=np.int64),
            np.full(self.instance.n, np.inf),
            float("nan"),
            float("nan"),
            SolveStatus.INFEASIBLE,
            0.0,
            dict(extra),
        )

    # ------------------------------------------------------------------ results
    @property
    def result(self) -> Result:
        """The raw :class:`Result`; raises :class:`NotSolvedError` before :meth:`solve`."""
        if self._result is None:
            raise NotSolvedError(
                f"{type(self).__name__} has not been solved yet: call .solve() first"
            )
        return self._result

    @property
    def solved(self) -> bool:
        """Whether :meth:`solve` has been called."""
        return self._result is not None

    @property
    def status(self) -> SolveStatus:
        """Solver status (:class:`SolveStatus`)."""
        return self.result.status

    @property
    def objective(self) -> float:
        """Objective value of the reported solution."""
        return self.result.objective

    @property
    def bound(self) -> float:
        """Proven bound on the optimum (lower for minimisation, upper for maximisation)."""
        return self.result.bound

    @property
    def lower_bound(self) -> float:
        """Proven lower bound (minimisation models)."""
        if self.sense != "min":
            raise AttributeError(f"{type(self).__name__} maximises: read .bound (an upper bound)")
        return self.result.bound

    @property
    def gap(self) -> float:
        """Proven relative optimality gap ``|objective - bound| / |objective|``."""
        r = self.result
        if r.status is SolveStatus.INFEASIBLE:
            return float("nan")
        return relative_gap(r.objective, r.bound)

    @property
    def runtime_s(self) -> float:
        """Wall seconds spent in :meth:`solve`."""
        return self.result.runtime_s

    @property
    def site_index(self) -> IntArray:
        """Column positions of the chosen sites (sorted)."""
        return np.flatnonzero(self.result.open_mask).astype(np.int64)

    @property
    def sites(self) -> pd.Index:
        """Ids of the chosen sites."""
        return self.site_ids[self.site_index]

    @property
    def assignment(self) -> pd.Series[Any]:
        """Site id assigned to every demand point (``None`` when it has no allowed site)."""
        r = self.result
        labels = np.array(
            [self.site_ids[j] if j >= 0 else None for j in r.assignment], dtype=object
        )
        return pd.Series(labels, index=self.demand_ids, name="site_id")

    @property
    def assignment_index(self) -> IntArray:
        """Column position assigned to every demand point (``-1`` when none)."""
        return self.result.assignment

    @property
    def assigned_cost(self) -> pd.Series[float]:
        """Cost from every demand point to its assigned site (``inf`` when none)."""
        return pd.Series(self.result.assigned_cost, index=self.demand_ids, name="cost")

    @property
    def coverage(self) -> pd.DataFrame:
        """Demand within each cost band before (existing sites) and after (chosen sites).

        Columns ``band``, ``before``, ``after`` (sums of weights), ``before_share`` and
        ``after_share`` (fractions of total demand). Empty when no ``bands`` were given.
        """
        r = self.result
        total = float(self.weights.sum())
        if self.existing.size:
            ex_mask = np.zeros(self.instance.m, dtype=bool)
            ex_mask[self.existing] = True
            before_cost = self._nearest_cost_any(ex_mask)
        else:
            before_cost = np.full(self.instance.n, np.inf)
        after_cost = self._nearest_cost_any(r.open_mask)
        rows = []
        for band in self.bands:
            b = float(self.weights[before_cost <= band].sum())
            a = float(self.weights[after_cost <= band].sum())
            rows.append(
                {
                    "band": band,
                    "before": b,
                    "after": a,
                    "before_share": b / total if total else float("nan"),
                    "after_share": a / total if total else float("nan"),
                }
            )
        return pd.DataFrame(
            rows, columns=["band", "before", "after", "before_share", "after_share"]
        )

    def _nearest_cost_any(self, mask: BoolArray) -> FloatArray:
        """Nearest cost to sites in ``mask``, ignoring exclusion (existing may be excluded)."""
        inst = self.instance
        if inst.dense is not None:
            sub = inst.dense[:, mask]
            return sub.min(axis=1) if sub.shape[1] else np.full(inst.n, np.inf)
        return inst.cost_to_sites(mask & ~self.excluded)

    def __repr__(self) -> str:
        state = self._result.status.value if self._result is not None else "unsolved"
        return (
            f"{type(self).__name__}(n_demand={self.instance.n}, n_sites={self.instance.m}, "
            f"p={self.p}, {state})"
        )
