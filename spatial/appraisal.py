"""Options appraisal: a criteria matrix, weights, a weighted score, Pareto marking, sensitivity.

A board compares a handful of options (the baseline and some reconfigurations) on many
criteria at once. This module is the arithmetic of that comparison, with every definition
stated so a report can repeat it:

* **Criteria matrix**: ``values[i, j]`` is option ``i``'s value on criterion ``j`` in the
  criterion's own unit (minutes, persons, £, t CO2e). Each criterion has a **direction**:
  ``"lower"`` (lower is better: travel time, cost, emissions) or ``"higher"``.
* **Normalisation**: min-max per criterion over the options compared (the baseline included
  when it is one of them), oriented so that 1 is the best value among the options and 0 the
  worst: ``(x - min) / (max - min)`` for higher-better, ``(max - x) / (max - min)`` for
  lower-better. A criterion on which every option is equal gives every option 1 (it cannot
  separate them). A missing value (NaN) counts as the worst, 0.
* **Weights**: one non-negative, finite number per criterion, not all zero; normalised to sum
  to 1 (only ratios matter). A criterion with weight 0 is reported but not scored.
* **Score** = sum over criteria of weight × normalised value, in [0, 1]; **rank** 1 is the
  highest score; equal scores (within 1e-9) share a rank (competition ranking: 1, 1, 3).
* **Pareto**: an option is *dominated* when another option is at least as good on every
  criterion with a positive weight and strictly better on at least one (raw values, each in
  its direction; NaN is worse than any value). Non-dominated options form the Pareto set.
* **Weight sensitivity**, for criterion ``j`` with normalised weight ``w_j``: move ``w_j`` to
  ``t`` in [0, 1] and rescale every other weight proportionally so the weights still sum to
  1 (``w_k' = w_k (1 - t) / (1 - w_j)``; when ``w_j`` is 1 the other criteria share
  ``1 - t`` equally). Every score is then linear in ``t``. The **flip weight** up (down) is
  the smallest ``t >= w_j`` (largest ``t <= w_j``) at which another option's score equals the
  top option's; beyond it that option ranks first. The criterion's **smallest change** is the
  nearer of the two distances ``|t - w_j|``; the **overall minimum** is the smallest over all
  criteria ("how far must one weight move before the preferred option changes?").
* **Monte Carlo** over input ranges: each option's value on each criterion is drawn
  independently from its ``[low, high]`` range (uniform, or triangular with the point value as
  its mode), the draws are normalised, scored and ranked as above with the same weights, and
  the share of draws in which each option ranks first and its rank distribution are
  reported. Seeded (:func:`numpy.random.default_rng`), so a run reproduces.

Hand-written: multi-criteria decision analysis packages (pymcdm, scikit-criteria) score and
rank but do not give this sensitivity definition or Monte Carlo over ranges with the same
normalisation, and the arithmetic is a few array operations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "Appraisal",
    "AppraisalError",
    "Criterion",
    "Direction",
    "Distribution",
    "MonteCarloResult",
    "WeightFlip",
    "appraise",
    "check_weights",
    "monte_carlo",
    "normalise",
    "pareto",
    "rank",
    "weight_sensitivity",
]

Direction = Literal["lower", "higher"]
Distribution = Literal["uniform", "triangular"]
FloatArray = npt.NDArray[np.float64]
_TIE = 1e-9
NORMALISATION = (
    "min-max per criterion over the options compared (the baseline included when it is an "
    "option): 1 = the best value among them, 0 = the worst; a criterion on which all options "
    "are equal gives 1; a missing value counts as 0"
)


class AppraisalError(ValueError):
    """Bad appraisal input; ``problems`` lists one message per problem, each naming the
    criterion or option (``weight of 'co2e': must be >= 0, got -1``)."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class Criterion:
    """One column of the criteria matrix.

    ``id`` is the stable key (weights and ranges name it); ``unit`` the unit of its raw
    values; ``direction`` whether lower or higher values are better; ``group`` a heading
    (access, equity, travel burden, estate).
    """

    id: str
    label: str
    unit: str
    direction: Direction
    group: str = ""
    description: str = ""


# --------------------------------------------------------------------------- arithmetic


def _directions(directions: Sequence[str], m: int) -> npt.NDArray[np.bool_]:
    if len(directions) != m:
        raise AppraisalError([f"{len(directions)} directions for {m} criteria"])
    bad = sorted({d for d in directions if d not in ("lower", "higher")})
    if bad:
        raise AppraisalError([f"direction must be 'lower' or 'higher', got {bad}"])
    return np.array([d == "higher" for d in directions], dtype=bool)


def normalise(values: npt.ArrayLike, directions: Sequence[str]) -> FloatArray:
    """Min-max normalisation per criterion, oriented so 1 is best (module docstring).

    Parameters
    ----------
    values : array_like, shape (..., n_options, n_criteria)
        Raw values in each criterion's unit; leading axes (Monte Carlo draws) are kept.
    directions : sequence of {"lower", "higher"}
        One per criterion.

    Returns
    -------
    numpy.ndarray
        Same shape, in [0, 1].
    """
    v = np.asarray(values, dtype=np.float64)
    higher = _directions(directions, v.shape[-1])
    finite = np.isfinite(v)
    lo = np.min(np.where(finite, v, np.inf), axis=-2, keepdims=True)
    hi = np.max(np.where(finite, v, -np.inf), axis=-2, keepdims=True)
    span = hi - lo
    flat = ~(span > 0)  # every finite value equal (or none finite)
    safe = np.where(flat, 1.0, span)
    up = (v - lo) / safe
    out = np.where(higher, up, 1.0 - up)
    out = np.where(flat, 1.0, out)
    return np.where(finite, out, 0.0)


def check_weights(weights: Mapping[str, float], criteria: Sequence[str]) -> FloatArray:
    """Weights in criterion order, validated and normalised to sum to 1.

    Parameters
    ----------
    weights : mapping of criterion id to float
        Relative importance (any positive scale); criteria not named get 0.
    criteria : sequence of str
        The criterion ids, in matrix column order.

    Raises
    ------
    AppraisalError
        Listing every unknown criterion, negative or non-finite weight, or all weights zero.
    """
    known = list(criteria)
    problems: list[str] = []
    unknown = [k for k in weights if k not in set(known)]
    if unknown:
        problems.append(f"unknown criteria {sorted(unknown)}; known: {known}")
    out = np.zeros(len(known), dtype=np.float64)
    for j, cid in enumerate(known):
        if cid not in weights:
            continue
        raw = weights[cid]
        try:
            w = float(raw)
        except (TypeError, ValueError):
            problems.append(f"weight of {cid!r}: must be a number, got {raw!r}")
            continue
        if not np.isfinite(w):
            problems.append(f"weight of {cid!r}: must be finite, got {raw!r}")
        elif w < 0:
            problems.append(f"weight of {cid!r}: must be >= 0, got {w:g}")
        else:
            out[j] = w
    if not problems and not out.sum() > 0:
        problems.append("weights: at least one criterion needs a weight above 0")
    if problems:
        raise AppraisalError(problems)
    normalised: FloatArray = out / out.sum()
    return normalised


def rank(scores: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Competition ranks (1 = highest) along the last axis; scores within 1e-9 tie."""
    s = np.asarray(scores, dtype=np.float64)
    better = s[..., None, :] > s[..., :, None] + _TIE  # [..., i, k]: k beats i
    ranks: npt.NDArray[np.int64] = (1 + better.sum(axis=-1)).astype(np.int64)
    return ranks


def pareto(
    values: npt.ArrayLike, directions: Sequence[str], considered: npt.ArrayLike | None = None
) -> tuple[npt.NDArray[np.bool_], list[list[int]]]:
    """Which options are dominated, and by which (definition in the module docstring).

    Parameters
    ----------
    values : array_like, shape (n_options, n_criteria)
    directions : sequence of {"lower", "higher"}
    considered : array_like of bool, optional
        Criteria taken into account (default all); the appraisal passes ``weight > 0``.

    Returns
    -------
    (numpy.ndarray of bool, list of list of int)
        ``dominated[i]`` and the indices of the options that dominate option ``i``.
    """
    v = np.asarray(values, dtype=np.float64)
    higher = _directions(directions, v.shape[1])
    use = np.ones(v.shape[1], dtype=bool) if considered is None else np.asarray(considered, bool)
    g = np.where(higher, v, -v)[:, use]
    g = np.where(np.isfinite(g), g, -np.inf)
    n = v.shape[0]
    by: list[list[int]] = [[] for _ in range(n)]
    if g.shape[1] == 0:
        return np.zeros(n, dtype=bool), by
    for i in range(n):
        for k in range(n):
            if k != i and bool(np.all(g[k] >= g[i])) and bool(np.any(g[k] > g[i])):
                by[i].append(k)
    return np.array([bool(b) for b in by], dtype=bool), by


@dataclass(frozen=True)
class WeightFlip:
    """How far one criterion's weight can move before the top option changes.

    Attributes
    ----------
    criterion : str
    weight : float
        The criterion's current normalised weight.
    increase_to, decrease_to : float or None
        The weight (in [0, 1], others rescaled proportionally) at which another option's
        score reaches the top option's, going up or down; None when no weight in that
        direction changes the top option.
    new_top_if_increased, new_top_if_decreased : int or None
        Index of the option that ties (and beyond that weight, leads).
    min_change : float or None
        The smaller of ``increase_to - weight`` and ``weight - decrease_to``.
    """

    criterion: str
    weight: float
    increase_to: float | None
    new_top_if_increased: int | None
    decrease_to: float | None
    new_top_if_decreased: int | None

    @property
    def min_change(self) -> float | None:
        changes = [
            abs(t - self.weight) for t in (self.increase_to, self.decrease_to) if t is not None
        ]
        return min(changes) if changes else None


def weight_sensitivity(
    normalised: npt.ArrayLike, weights: npt.ArrayLike, criteria: Sequence[str]
) -> list[WeightFlip]:
    """For each criterion, the flip weights of the top option (module docstring).

    Parameters
    ----------
    normalised : array_like, shape (n_options, n_criteria)
        Normalised values (:func:`normalise`).
    weights : array_like, shape (n_criteria,)
        Normalised weights (:func:`check_weights`).
    criteria : sequence of str
        Criterion ids, for the result.

    Returns
    -------
    list of WeightFlip
        One per criterion, in column order.
    """
    nv = np.asarray(normalised, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    n, m = nv.shape
    scores = nv @ w
    top = int(np.argmax(scores))
    out: list[WeightFlip] = []
    for j in range(m):
        wj = float(w[j])
        others = np.delete(np.arange(m), j)
        if others.size == 0 or n < 2:
            out.append(WeightFlip(criteria[j], wj, None, None, None, None))
            continue
        rest = w[others] / (1.0 - wj) if wj < 1.0 - 1e-12 else np.full(others.size, 1 / others.size)
        a = nv[:, j]  # score at t = 1
        b = nv[:, others] @ rest  # score at t = 0
        up: tuple[float, int] | None = None
        down: tuple[float, int] | None = None
        for i in range(n):
            if i == top:
                continue
            # d(t) = S_top(t) - S_i(t) = d0 + slope * t, with d(wj) >= 0
            d0 = b[top] - b[i]
            slope = (a[top] - b[top]) - (a[i] - b[i])
            now = d0 + slope * wj
            if now <= _TIE:  # already tied with the top option
                up = (wj, i) if up is None or wj < up[0] else up
                down = (wj, i) if down is None or wj > down[0] else down
                continue
            if abs(slope) < 1e-15:
                continue
            t = -d0 / slope
            if wj < t <= 1.0 + 1e-12 and (up is None or t < up[0]):
                up = (min(t, 1.0), i)
            elif -1e-12 <= t < wj and (down is None or t > down[0]):
                down = (max(t, 0.0), i)
        out.append(
            WeightFlip(
                criteria[j],
                wj,
                None if up is None else float(up[0]),
                None if up is None else up[1],
                None if down is None else float(down[0]),
                None if down is None else down[1],
            )
        )
    return out


@dataclass(frozen=True)
class MonteCarloResult:
    """Ranks under uncertainty.

    ``rank_counts[i, r]`` is the number of draws in which option ``i`` had rank ``r + 1``;
    ``first_share[i]`` the share (0-1) of draws in which it ranked first (ties included).
    """

    draws: int
    seed: int
    distribution: Distribution
    rank_counts: npt.NDArray[np.int64]
    first_share: FloatArray
    mean_rank: FloatArray


def _draw(
    rng: np.random.Generator,
    low: FloatArray,
    mode: FloatArray,
    high: FloatArray,
    draws: int,
    distribution: Distribution,
) -> FloatArray:
    u = rng.random((draws, *low.shape))
    span = high - low
    if distribution == "uniform":
        return low + u * span
    # Triangular by inverse CDF (numpy's sampler refuses a zero-width range).
    safe = np.where(span > 0, span, 1.0)
    cut = np.where(span > 0, (mode - low) / safe, 0.0)
    left = low + np.sqrt(u * span * (mode - low))
    right = high - np.sqrt((1.0 - u) * span * (high - mode))
    return np.where(u < cut, left, right)


def monte_carlo(
    values: npt.ArrayLike,
    low: npt.ArrayLike,
    high: npt.ArrayLike,
    directions: Sequence[str],
    weights: npt.ArrayLike,
    *,
    draws: int = 1000,
    seed: int = 0,
    distribution: Distribution = "triangular",
) -> MonteCarloResult:
    """Rank the options over ``draws`` joint draws of their values (module docstring).

    Parameters
    ----------
    values : array_like, shape (n_options, n_criteria)
        Point values (the triangular mode); NaN stays NaN (worst) in every draw.
    low, high : array_like, same shape
        Range of each value, ``low <= value <= high`` (equal bounds: no uncertainty).
    directions : sequence of {"lower", "higher"}
    weights : array_like, shape (n_criteria,)
        Normalised weights.
    draws : int, default 1000
    seed : int, default 0
    distribution : {"uniform", "triangular"}, default "triangular"

    Raises
    ------
    AppraisalError
        When a range does not contain its value, or ``draws`` < 1.
    """
    v = np.asarray(values, dtype=np.float64)
    lo = np.asarray(low, dtype=np.float64)
    hi = np.asarray(high, dtype=np.float64)
    if lo.shape != v.shape or hi.shape != v.shape:
        raise AppraisalError([f"ranges must have the matrix's shape {v.shape}"])
    if draws < 1:
        raise AppraisalError([f"draws must be >= 1, got {draws}"])
    if distribution not in ("uniform", "triangular"):
        raise AppraisalError([f"distribution must be uniform or triangular, got {distribution!r}"])
    finite = np.isfinite(v)
    lo = np.where(finite, lo, v)
    hi = np.where(finite, hi, v)
    bad = finite & ~((lo <= v + 1e-12) & (v <= hi + 1e-12))
    if bad.any():
        i, j = (int(x) for x in np.argwhere(bad)[0])
        raise AppraisalError(
            [f"range of option {i}, criterion {j}: [{lo[i, j]:g}, {hi[i, j]:g}] does not contain "
             f"its value {v[i, j]:g}"]
        )  # fmt: skip
    rng = np.random.default_rng(seed)
    sample = _draw(rng, lo, v, hi, draws, distribution)
    sample = np.where(finite, sample, np.nan)
    scores = normalise(sample, directions) @ np.asarray(weights, dtype=np.float64)
    ranks = rank(scores)  # (draws, n)
    n = v.shape[0]
    counts = np.stack([(ranks == r).sum(axis=0) for r in range(1, n + 1)], axis=1)
    return MonteCarloResult(
        draws=draws,
        seed=seed,
        distribution=distribution,
        rank_counts=counts.astype(np.int64),
        first_share=(ranks == 1).mean(axis=0),
        mean_rank=ranks.mean(axis=0),
    )


# --------------------------------------------------------------------------- the appraisal


@dataclass
class Appraisal:
    """Everything :func:`appraise` computes, in option and criterion order."""

    options: list[str]
    criteria: list[Criterion]
    values: FloatArray
    weights: FloatArray
    normalised: FloatArray
    scores: FloatArray
    ranks: npt.NDArray[np.int64]
    dominated: npt.NDArray[np.bool_]
    dominated_by: list[list[int]]
    sensitivity: list[WeightFlip]
    monte_carlo: MonteCarloResult | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def top(self) -> str:
        """The option with the highest score (the first one on a tie)."""
        return self.options[int(np.argmax(self.scores))]

    def min_change(self) -> tuple[str | None, float | None]:
        """The criterion whose weight needs the smallest change to change the top option."""
        best: tuple[str | None, float | None] = (None, None)
        for f in self.sensitivity:
            c = f.min_change
            if c is not None and (best[1] is None or c < best[1]):
                best = (f.criterion, c)
        return best

    def table(self) -> pd.DataFrame:
        """One row per option: score, rank, dominated, then the raw values by criterion id."""
        frame = pd.DataFrame(self.values, columns=[c.id for c in self.criteria])
        frame.insert(0, "option", self.options)
        frame.insert(1, "score", self.scores)
        frame.insert(2, "rank", self.ranks)
        frame.insert(3, "dominated", self.dominated)
        return frame

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary: weights, rows (score, rank, Pareto, normalised values),
        sensitivity and Monte Carlo, every option named by its id."""

        def num(x: float | None) -> float | None:
            return None if x is None or not np.isfinite(x) else float(x)

        def name(i: int | None) -> str | None:
            return None if i is None else self.options[i]

        ids = [c.id for c in self.criteria]
        crit, change = self.min_change()
        out: dict[str, Any] = {
            "normalisation": NORMALISATION,
            "weights": {c: float(w) for c, w in zip(ids, self.weights, strict=True)},
            "top": self.top,
            "rows": [
                {
                    "option": o,
                    "score": float(self.scores[i]),
                    "rank": int(self.ranks[i]),
                    "dominated": bool(self.dominated[i]),
                    "dominated_by": [self.options[k] for k in self.dominated_by[i]],
                    "normalised": {c: float(self.normalised[i, j]) for j, c in enumerate(ids)},
                }
                for i, o in enumerate(self.options)
            ],
            "sensitivity": {
                "criteria": [
                    {
                        "criterion": f.criterion,
                        "weight": f.weight,
                        "increase_to": num(f.increase_to),
                        "new_top_if_increased": name(f.new_top_if_increased),
                        "decrease_to": num(f.decrease_to),
                        "new_top_if_decreased": name(f.new_top_if_decreased),
                        "min_change": num(f.min_change),
                    }
                    for f in self.sensitivity
                ],
                "min_change": num(change),
                "min_change_criterion": crit,
            },
            "monte_carlo": None,
            "notes": list(self.notes),
        }
        mc = self.monte_carlo
        if mc is not None:
            out["monte_carlo"] = {
                "draws": mc.draws,
                "seed": mc.seed,
                "distribution": mc.distribution,
                "first_share": {o: float(mc.first_share[i]) for i, o in enumerate(self.options)},
                "mean_rank": {o: float(mc.mean_rank[i]) for i, o in enumerate(self.options)},
                "rank_counts": {
                    o: [int(x) for x in mc.rank_counts[i]] for i, o in enumerate(self.options)
                },
            }
        return out


def appraise(
    values: pd.DataFrame,
    criteria: Sequence[Criterion],
    weights: Mapping[str, float],
    *,
    low: pd.DataFrame | None = None,
    high: pd.DataFrame | None = None,
    draws: int = 1000,
    seed: int = 0,
    distribution: Distribution = "triangular",
) -> Appraisal:
    """Score, rank, mark the Pareto set and test the ranking's sensitivity.

    Parameters
    ----------
    values : pandas.DataFrame
        The criteria matrix: index = option ids (at least two), columns = criterion ids (in
        ``criteria``' order), raw values in each criterion's unit.
    criteria : sequence of Criterion
        Direction, unit and label of each column.
    weights : mapping of criterion id to float
        Validated by :func:`check_weights` (criteria not named get 0).
    low, high : pandas.DataFrame, optional
        Ranges of the values (same index and columns; give both): runs :func:`monte_carlo`.
    draws, seed, distribution
        Monte Carlo settings.

    Raises
    ------
    AppraisalError
        Bad weights, fewer than two options, a matrix that does not match ``criteria``, or a
        range that does not contain its value.
    """
    ids = [c.id for c in criteria]
    problems: list[str] = []
    if list(values.columns) != ids:
        problems.append(f"matrix columns {list(values.columns)} do not match criteria {ids}")
    if len(values.index) < 2:
        problems.append(f"an appraisal needs at least two options, got {len(values.index)}")
    if values.index.has_duplicates:
        problems.append(f"duplicate options {sorted(set(values.index[values.index.duplicated()]))}")
    if problems:
        raise AppraisalError(problems)
    w = check_weights(weights, ids)
    directions = [c.direction for c in criteria]
    v = values.to_numpy(dtype=np.float64)
    nv = normalise(v, directions)
    scores = nv @ w
    dominated, by = pareto(v, directions, considered=w > 0)
    options = [str(o) for o in values.index]
    mc = None
    if (low is None) != (high is None):
        raise AppraisalError(["give both low and high ranges, or neither"])
    if low is not None and high is not None:
        lo = low.reindex(index=values.index, columns=ids).to_numpy(dtype=np.float64)
        hi = high.reindex(index=values.index, columns=ids).to_numpy(dtype=np.float64)
        mc = monte_carlo(
            v, lo, hi, directions, w, draws=draws, seed=seed, distribution=distribution
        )
    return Appraisal(
        options=options,
        criteria=list(criteria),
        values=v,
        weights=w,
        normalised=nv,
        scores=scores,
        ranks=rank(scores),
        dominated=dominated,
        dominated_by=by,
        sensitivity=weight_sensitivity(nv, w, ids),
        monte_carlo=mc,
    )
