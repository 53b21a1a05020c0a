"""Numba kernels: range-RAPTOR and the per-departure egress / percentile step.

Hand-written because no maintained Python library runs RAPTOR on in-memory arrays without a
JVM (r5py wraps R5 in Java) and we need the walk legs, window and percentiles under our
control. The algorithm is RAPTOR and its range variant rRAPTOR from

    D. Delling, T. Pajor, R. F. Werneck, "Round-Based Public Transit Routing",
    Transportation Science 49(3):591-604, 2015 (ALENEX 2012), doi:10.1287/trsc.2014.0534.

Round ``k`` finds the earliest arrival at every stop using at most ``k`` vehicles: it scans
each pattern (RAPTOR route) once from its first stop marked in round ``k-1``, hopping onto
the earliest catchable trip, then relaxes foot transfers from the stops it improved. rRAPTOR
runs the departures of a window from the latest to the earliest and keeps the labels
between them: a journey found for a later departure is still valid for an earlier one (the
traveller waits at the origin), so each earlier departure only explores what it improves.
Labels are kept per round (not only the overall best) so a cap on transfers stays exact.

All times are int64 seconds after midnight; ``INF`` marks "not reached".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np
from numpy.typing import NDArray

INF = np.int64(2**62)

F = TypeVar("F", bound=Callable[..., Any])
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
FloatArray = NDArray[np.float64]


def _jit(fn: F) -> F:
    return cast(F, numba.njit(cache=True, nogil=True)(fn))


def _pjit(fn: F) -> F:
    return cast(F, numba.njit(cache=True, parallel=True)(fn))


@_jit
def _rraptor_origin(
    acc_stop: IntArray,
    acc_s: IntArray,
    departures: IntArray,
    n_rounds: int,
    slack_s: int,
    p_stop_ptr: IntArray,
    p_stops: IntArray,
    p_board: BoolArray,
    p_alight: BoolArray,
    p_trip_ptr: IntArray,
    trip_time_ptr: IntArray,
    arr: IntArray,
    dep: IntArray,
    s_pat_ptr: IntArray,
    s_pat: IntArray,
    s_pos: IntArray,
    tr_ptr: IntArray,
    tr_to: IntArray,
    tr_s: IntArray,
    out_ride: IntArray,
) -> None:
    """rRAPTOR from one origin; ``out_ride[s, d]`` = earliest vehicle arrival at stop ``s``.

    ``departures`` must be in decreasing order; ``n_rounds`` is the maximum number of
    vehicles (transfers + 1).
    """
    n_stops = len(s_pat_ptr) - 1
    n_pat = len(p_stop_ptr) - 1
    ride = np.full((n_rounds + 1, n_stops), INF, dtype=np.int64)
    ready = np.full((n_rounds + 1, n_stops), INF, dtype=np.int64)
    best = np.full(n_stops, INF, dtype=np.int64)
    # Stops whose ready time improved in the last round (to scan from) and stops whose ride
    # arrival improved in this round (to transfer from), as flags plus lists.
    marked = np.zeros(n_stops, dtype=np.bool_)
    marked_list = np.empty(n_stops, dtype=np.int64)
    improved = np.zeros(n_stops, dtype=np.bool_)
    improved_list = np.empty(n_stops, dtype=np.int64)
    pat_start = np.full(n_pat, -1, dtype=np.int64)
    queue = np.empty(n_pat, dtype=np.int64)
    for di in range(len(departures)):
        t0 = departures[di]
        n_marked = 0
        n_improved = 0
        for a in range(len(acc_stop)):
            s = acc_stop[a]
            t = t0 + acc_s[a]
            if t < ready[0, s]:
                ready[0, s] = t
                if not marked[s]:
                    marked[s] = True
                    marked_list[n_marked] = s
                    n_marked += 1
        for k in range(1, n_rounds + 1):
            if n_marked == 0:
                break
            # Labels with fewer vehicles bound this round's (only what changed last round).
            for i in range(n_improved):
                s = improved_list[i]
                if ride[k - 1, s] < ride[k, s]:
                    ride[k, s] = ride[k - 1, s]
            for i in range(n_marked):
                s = marked_list[i]
                if ready[k - 1, s] < ready[k, s]:
                    ready[k, s] = ready[k - 1, s]
            # Patterns through marked stops, each from its earliest marked position.
            n_queue = 0
            for i in range(n_marked):
                s = marked_list[i]
                marked[s] = False
                for j in range(s_pat_ptr[s], s_pat_ptr[s + 1]):
                    p = s_pat[j]
                    pos = s_pos[j]
                    if pat_start[p] < 0:
                        queue[n_queue] = p
                        n_queue += 1
                        pat_start[p] = pos
                    elif pos < pat_start[p]:
                        pat_start[p] = pos
            for i in range(n_improved):
                improved[improved_list[i]] = False
            n_improved = 0
            for qi in range(n_queue):
                p = queue[qi]
                base = p_stop_ptr[p]
                n_pos = p_stop_ptr[p + 1] - base
                t_first = p_trip_ptr[p]
                n_trips = p_trip_ptr[p + 1] - t_first
                cur = -1
                for i in range(pat_start[p], n_pos):
                    s = p_stops[base + i]
                    if cur >= 0 and p_alight[base + i]:
                        a_t = arr[trip_time_ptr[t_first + cur] + i]
                        if a_t < ride[k, s]:
                            ride[k, s] = a_t
                            if not improved[s]:
                                improved[s] = True
                                improved_list[n_improved] = s
                                n_improved += 1
                            if a_t < best[s]:
                                best[s] = a_t
                    if p_board[base + i] and i < n_pos - 1:
                        r = ready[k - 1, s]
                        if r >= INF:
                            continue
                        if cur >= 0 and dep[trip_time_ptr[t_first + cur] + i] < r:
                            continue
                        # Earliest trip in [0, hi) departing at or after r (FIFO: sorted).
                        lo = 0
                        hi = cur + 1 if cur >= 0 else n_trips
                        while lo < hi:
                            mid = (lo + hi) // 2
                            if dep[trip_time_ptr[t_first + mid] + i] >= r:
                                hi = mid
                            else:
                                lo = mid + 1
                        if lo < n_trips and dep[trip_time_ptr[t_first + lo] + i] >= r:
                            cur = lo
                pat_start[p] = -1
            # Foot transfers from improved stops (one walk leg, non-transitive).
            n_marked = 0
            for i in range(n_improved):
                s = improved_list[i]
                t = ride[k, s] + slack_s
                if t < ready[k, s]:
                    ready[k, s] = t
                    if not marked[s]:
                        marked[s] = True
                        marked_list[n_marked] = s
                        n_marked += 1
                for j in range(tr_ptr[s], tr_ptr[s + 1]):
                    u = tr_to[j]
                    t = ride[k, s] + tr_s[j] + slack_s
                    if t < ready[k, u]:
                        ready[k, u] = t
                        if not marked[u]:
                            marked[u] = True
                            marked_list[n_marked] = u
                            n_marked += 1
        for i in range(n_marked):
            marked[marked_list[i]] = False
        for i in range(n_improved):
            improved[improved_list[i]] = False
        for s in range(n_stops):
            out_ride[s, di] = best[s]


@_jit
def _count_le(
    v: int,
    walk: int,
    n_dep: int,
    run_a: IntArray,
    run_hi: IntArray,
    run_n: IntArray,
    n_runs: int,
    step: int,
) -> int:
    """How many departures have travel time ``min(walk, a - t) <= v``."""
    if walk <= v:
        return n_dep
    total = 0
    for r in range(n_runs):
        # Run r: departures t = run_hi[r] - j * step, j < run_n[r], all arriving at run_a[r];
        # a - t <= v  <=>  t >= a - v  <=>  j <= (run_hi - (a - v)) / step.
        diff = run_hi[r] - (run_a[r] - v)
        if diff >= 0:
            c = diff // step + 1
            total += c if c < run_n[r] else run_n[r]
    return total


@_jit
def _finish(
    ride: IntArray,
    departures: IntArray,
    step: int,
    egr_ptr: IntArray,
    egr_stop: IntArray,
    egr_s: IntArray,
    direct_dest: IntArray,
    direct_s: IntArray,
    pct_rank: IntArray,
    out: FloatArray,
) -> None:
    """Travel time to each destination per departure, then nearest-rank percentiles.

    ``ride[s, d]`` is the earliest vehicle arrival at stop ``s`` for departure ``d``;
    ``departures`` are decreasing by ``step`` seconds. ``out[dest, q]`` gets the
    ``pct_rank[q]``-th smallest (0-based) travel time in seconds over the departures, NaN
    when that one is unreachable.

    The arrival at a destination is a non-increasing step function of the departure index
    (an earlier departure can always wait), so the travel times form a few arithmetic runs
    ``a - t``; each percentile is found by bisection on the value with an O(runs) count,
    instead of sorting all departures for every pair.
    """
    n_dest = len(egr_ptr) - 1
    n_dep = len(departures)
    direct = np.full(n_dest, INF, dtype=np.int64)
    for j in range(len(direct_dest)):
        if direct_s[j] < direct[direct_dest[j]]:
            direct[direct_dest[j]] = direct_s[j]
    arrive = np.empty(n_dep, dtype=np.int64)
    run_a = np.empty(n_dep, dtype=np.int64)
    run_hi = np.empty(n_dep, dtype=np.int64)
    run_n = np.empty(n_dep, dtype=np.int64)
    for d in range(n_dest):
        arrive[:] = INF
        for j in range(egr_ptr[d], egr_ptr[d + 1]):
            row = ride[egr_stop[j]]
            if row[n_dep - 1] >= INF:
                continue  # never reached in the window (the last departure is the earliest)
            e = egr_s[j]
            for di in range(n_dep):
                a = row[di] + e  # INF + e stays above INF: no overflow in int64
                if a < arrive[di]:
                    arrive[di] = a
        walk = direct[d]
        n_runs = 0
        lo = INF
        hi = -INF
        n_ok = 0
        for di in range(n_dep):
            a = arrive[di]
            if a < INF:
                if n_runs > 0 and run_a[n_runs - 1] == a:
                    run_n[n_runs - 1] += 1
                else:
                    run_a[n_runs] = a
                    run_hi[n_runs] = departures[di]
                    run_n[n_runs] = 1
                    n_runs += 1
                t = a - departures[di]
                if walk < t:
                    t = walk
            else:
                t = walk
            if t < INF:
                n_ok += 1
                if t < lo:
                    lo = t
                if t > hi:
                    hi = t
        for q in range(len(pct_rank)):
            need = pct_rank[q] + 1
            if n_ok < need:
                out[d, q] = np.nan
                continue
            # Smallest v in [lo, hi] with count(v) >= need; it is one of the travel times.
            a_lo = lo
            a_hi = hi
            while a_lo < a_hi:
                mid = (a_lo + a_hi) // 2
                if (
                    _count_le(int(mid), int(walk), n_dep, run_a, run_hi, run_n, n_runs, step)
                    >= need
                ):
                    a_hi = mid
                else:
                    a_lo = mid + 1
            out[d, q] = float(a_lo)


@_pjit
def _rraptor_matrix(
    acc_ptr: IntArray,
    acc_stop: IntArray,
    acc_s: IntArray,
    egr_ptr: IntArray,
    egr_stop: IntArray,
    egr_s: IntArray,
    dir_ptr: IntArray,
    dir_dest: IntArray,
    dir_s: IntArray,
    departures: IntArray,
    step: int,
    n_rounds: int,
    slack_s: int,
    pct_rank: IntArray,
    p_stop_ptr: IntArray,
    p_stops: IntArray,
    p_board: BoolArray,
    p_alight: BoolArray,
    p_trip_ptr: IntArray,
    trip_time_ptr: IntArray,
    arr: IntArray,
    dep: IntArray,
    s_pat_ptr: IntArray,
    s_pat: IntArray,
    s_pos: IntArray,
    tr_ptr: IntArray,
    tr_to: IntArray,
    tr_s: IntArray,
    out: FloatArray,
) -> None:
    """All origins in parallel: rRAPTOR then egress and percentiles into ``out[o, d, q]``."""
    n_orig = len(acc_ptr) - 1
    n_stops = len(s_pat_ptr) - 1
    for o in numba.prange(n_orig):
        ride = np.empty((n_stops, len(departures)), dtype=np.int64)
        _rraptor_origin(
            acc_stop[acc_ptr[o] : acc_ptr[o + 1]],
            acc_s[acc_ptr[o] : acc_ptr[o + 1]],
            departures,
            n_rounds,
            slack_s,
            p_stop_ptr,
            p_stops,
            p_board,
            p_alight,
            p_trip_ptr,
            trip_time_ptr,
            arr,
            dep,
            s_pat_ptr,
            s_pat,
            s_pos,
            tr_ptr,
            tr_to,
            tr_s,
            ride,
        )
        _finish(
            ride,
            departures,
            step,
            egr_ptr,
            egr_stop,
            egr_s,
            dir_dest[dir_ptr[o] : dir_ptr[o + 1]],
            dir_s[dir_ptr[o] : dir_ptr[o + 1]],
            pct_rank,
            out[o],
        )
