"""Reference engine: a straightforward time-expanded graph searched by Dijkstra.

Used to check rRAPTOR (tests and ``bench/transit.py``), not for production. Each departure
of the window gets its own Dijkstra from scratch; nothing is reused between departures.

The graph (Pyrgiotis/Schulz-style time expansion) has, per stop event ``e`` of a trip, an
arrival node ``A(e)`` and a departure node ``D(e)``; per stop, one wait node ``W`` per
departure event there, chained in time order. Edges (weights are time differences, seconds):

* ``A(e) -> D(e)`` (dwell), ``D(e) -> A(e+1)`` (ride to the trip's next stop);
* ``W(s, j) -> W(s, j+1)`` (wait), ``W(s, j) -> D(e_j)`` (board, when pickup is allowed);
* ``A(e) -> W(u, j)`` for the stop ``s`` of ``e`` and every stop ``u`` within a foot transfer
  of ``s`` (``u = s`` with no walk): the first departure at ``u`` not before
  ``arrival + walk + transfer slack`` (when drop-off is allowed).

A query seeds the wait nodes reached by the access walks, runs Dijkstra on absolute times, and
reads the earliest vehicle arrival at every stop from the ``A`` nodes. It models the same
journeys as :mod:`._kernels` (one walk leg between vehicles, walks only to and from stops),
with no limit on the number of transfers.
"""

from __future__ import annotations

import numpy as np

from ._kernels import INF, BoolArray, FloatArray, IntArray, _jit
from .timetable import Timetable


@_jit
def _heap_push(heap_t: IntArray, heap_n: IntArray, size: int, t: int, n: int) -> int:
    i = size
    heap_t[i] = t
    heap_n[i] = n
    while i > 0:
        parent = (i - 1) // 2
        if heap_t[parent] <= heap_t[i]:
            break
        heap_t[parent], heap_t[i] = heap_t[i], heap_t[parent]
        heap_n[parent], heap_n[i] = heap_n[i], heap_n[parent]
        i = parent
    return size + 1


@_jit
def _heap_pop(heap_t: IntArray, heap_n: IntArray, size: int) -> int:
    size -= 1
    heap_t[0] = heap_t[size]
    heap_n[0] = heap_n[size]
    i = 0
    while True:
        left = 2 * i + 1
        right = left + 1
        small = i
        if left < size and heap_t[left] < heap_t[small]:
            small = left
        if right < size and heap_t[right] < heap_t[small]:
            small = right
        if small == i:
            break
        heap_t[small], heap_t[i] = heap_t[i], heap_t[small]
        heap_n[small], heap_n[i] = heap_n[i], heap_n[small]
        i = small
    return size


@_jit
def _ted_origin(
    acc_stop: IntArray,
    acc_s: IntArray,
    departures: IntArray,
    w_ptr: IntArray,
    w_time: IntArray,
    w_base: int,
    g_ptr: IntArray,
    g_to: IntArray,
    g_w: IntArray,
    arr_node_stop: IntArray,
    out_ride: IntArray,
) -> None:
    """One Dijkstra per departure (absolute times); earliest vehicle arrival per stop."""
    n = len(g_ptr) - 1
    n_stops = len(w_ptr) - 1
    label = np.empty(n, dtype=np.int64)
    done = np.empty(n, dtype=np.bool_)
    heap_t = np.empty(len(g_to) + len(acc_stop) + 1, dtype=np.int64)
    heap_n = np.empty(len(g_to) + len(acc_stop) + 1, dtype=np.int64)
    best = np.empty(n_stops, dtype=np.int64)
    for di in range(len(departures)):
        label[:] = INF
        done[:] = False
        best[:] = INF
        size = 0
        # Seed: first departure at each access stop not before departure + walk.
        for a in range(len(acc_stop)):
            s = acc_stop[a]
            ready = departures[di] + acc_s[a]
            lo, hi = w_ptr[s], w_ptr[s + 1]
            while lo < hi:
                mid = (lo + hi) // 2
                if w_time[mid] >= ready:
                    hi = mid
                else:
                    lo = mid + 1
            if lo < w_ptr[s + 1]:
                v = w_base + lo
                if w_time[lo] < label[v]:
                    label[v] = w_time[lo]
                    size = _heap_push(heap_t, heap_n, size, w_time[lo], v)
        while size > 0:
            t = heap_t[0]
            v = heap_n[0]
            size = _heap_pop(heap_t, heap_n, size)
            if done[v]:
                continue
            done[v] = True
            s = arr_node_stop[v]
            if s >= 0 and t < best[s]:
                best[s] = t
            for j in range(g_ptr[v], g_ptr[v + 1]):
                u = g_to[j]
                tu = t + g_w[j]
                if tu < label[u]:
                    label[u] = tu
                    size = _heap_push(heap_t, heap_n, size, tu, u)
        for s in range(n_stops):
            out_ride[s, di] = best[s]


@_jit
def _finish_sorted(
    ride: IntArray,
    departures: IntArray,
    egr_ptr: IntArray,
    egr_stop: IntArray,
    egr_s: IntArray,
    direct_dest: IntArray,
    direct_s: IntArray,
    pct_rank: IntArray,
    out: FloatArray,
) -> None:
    """Reference percentiles: every departure's travel time, sorted, then indexed."""
    n_dest = len(egr_ptr) - 1
    n_dep = len(departures)
    tt = np.empty(n_dep, dtype=np.int64)
    for d in range(n_dest):
        walk = INF
        for j in range(len(direct_dest)):
            if direct_dest[j] == d and direct_s[j] < walk:
                walk = direct_s[j]
        for di in range(n_dep):
            best = walk
            for j in range(egr_ptr[d], egr_ptr[d + 1]):
                a = ride[egr_stop[j], di]
                if a < INF and a + egr_s[j] - departures[di] < best:
                    best = a + egr_s[j] - departures[di]
            tt[di] = best
        tt.sort()
        for q in range(len(pct_rank)):
            v = tt[pct_rank[q]]
            out[d, q] = np.nan if v >= INF else float(v)


class TimeExpandedGraph:
    """The time-expanded graph of a timetable with given foot transfers.

    Parameters
    ----------
    timetable : Timetable
        Trips of one service date.
    tr_ptr, tr_to, tr_s : numpy.ndarray of int64
        Foot transfers as CSR over stops: targets and walk times (seconds), no self loops.
    transfer_slack_s : int
        Minimum time (seconds) between alighting (plus any walk) and boarding another trip.
    """

    def __init__(
        self,
        timetable: Timetable,
        tr_ptr: IntArray,
        tr_to: IntArray,
        tr_s: IntArray,
        *,
        transfer_slack_s: int,
    ) -> None:
        tt = timetable
        n_ev = len(tt.arrival_s)
        n_trips = tt.n_trips
        # Event attributes.
        trip_len = np.diff(np.r_[tt.trip_time_ptr, n_ev]).astype(np.int64)
        trip_pat = np.repeat(np.arange(tt.n_patterns, dtype=np.int64), np.diff(tt.pattern_trip_ptr))
        ev_trip = np.repeat(np.arange(n_trips, dtype=np.int64), trip_len)
        ev_pos = np.arange(n_ev, dtype=np.int64) - tt.trip_time_ptr[ev_trip]
        ev_pat_idx = tt.pattern_stop_ptr[trip_pat[ev_trip]] + ev_pos
        ev_stop = tt.pattern_stops[ev_pat_idx]
        ev_board: BoolArray = tt.pattern_board[ev_pat_idx]
        ev_alight: BoolArray = tt.pattern_alight[ev_pat_idx]
        ev_last = ev_pos == trip_len[ev_trip] - 1
        # Wait nodes: departure events (boardable, not last) sorted by stop then time.
        boardable = np.flatnonzero(ev_board & ~ev_last)
        order = np.lexsort((tt.departure_s[boardable], ev_stop[boardable]))
        w_ev = boardable[order]
        w_stop = ev_stop[w_ev]
        w_time = tt.departure_s[w_ev]
        self.w_ptr = np.searchsorted(w_stop, np.arange(tt.n_stops + 1)).astype(np.int64)
        self.w_time = w_time
        self.n_ev = n_ev
        w_base = 2 * n_ev
        n_nodes = w_base + len(w_ev)
        src: list[IntArray] = []
        dst: list[IntArray] = []
        wgt: list[IntArray] = []
        arr, dep = tt.arrival_s, tt.departure_s
        ev = np.arange(n_ev, dtype=np.int64)
        src.append(2 * ev)  # dwell
        dst.append(2 * ev + 1)
        wgt.append(dep - arr)
        ride = ev[~ev_last]
        src.append(2 * ride + 1)
        dst.append(2 * (ride + 1))
        wgt.append(arr[ride + 1] - dep[ride])
        wj = np.arange(len(w_ev), dtype=np.int64)
        chain = wj[:-1][w_stop[:-1] == w_stop[1:]]
        src.append(w_base + chain)
        dst.append(w_base + chain + 1)
        wgt.append(w_time[chain + 1] - w_time[chain])
        src.append(w_base + wj)
        dst.append(2 * w_ev + 1)
        wgt.append(np.zeros(len(w_ev), dtype=np.int64))
        # Alight -> (walk) -> first departure at the target stop.
        alight = ev[ev_alight & (ev_pos > 0)]
        a_stop = ev_stop[alight]
        counts = np.diff(tr_ptr)
        for self_loop in (True, False):
            if self_loop:
                e_src, u, walk = alight, a_stop, np.zeros(len(alight), dtype=np.int64)
            else:
                reps = counts[a_stop]
                e_src = np.repeat(alight, reps)
                first = np.repeat(tr_ptr[a_stop], reps)
                within = np.arange(len(e_src)) - np.repeat(np.cumsum(reps) - reps, reps)
                u = tr_to[first + within]
                walk = tr_s[first + within]
            ready = arr[e_src] + walk + transfer_slack_s
            j = self._first_wait(u, ready)
            ok = j >= 0
            src.append(2 * e_src[ok])
            dst.append(w_base + j[ok])
            wgt.append(self.w_time[j[ok]] - arr[e_src[ok]])
        s_all = np.concatenate(src)
        d_all = np.concatenate(dst)
        w_all = np.concatenate(wgt).astype(np.int64)
        if (w_all < 0).any():
            raise ValueError("negative edge weight: times out of order in the timetable")
        o = np.argsort(s_all, kind="stable")
        self.g_ptr = np.searchsorted(s_all[o], np.arange(n_nodes + 1)).astype(np.int64)
        self.g_to = d_all[o].astype(np.int64)
        self.g_w = w_all[o]
        self.arr_node_stop = np.full(n_nodes, -1, dtype=np.int64)
        self.arr_node_stop[2 * alight] = a_stop
        self.w_base = w_base
        self.n_stops = tt.n_stops

    def _first_wait(self, stops: IntArray, ready: IntArray) -> IntArray:
        """Index of the first wait node at each stop departing at or after ``ready``, or -1."""
        out = np.full(len(stops), -1, dtype=np.int64)
        for s in np.unique(stops):
            sel = np.flatnonzero(stops == s)
            lo, hi = self.w_ptr[s], self.w_ptr[s + 1]
            j = lo + np.searchsorted(self.w_time[lo:hi], ready[sel], side="left")
            ok = j < hi
            out[sel[ok]] = j[ok]
        return out

    def earliest_rides(self, acc_stop: IntArray, acc_s: IntArray, departures: IntArray) -> IntArray:
        """Earliest vehicle arrival per stop (seconds) for each departure, one Dijkstra each.

        Parameters
        ----------
        acc_stop, acc_s : numpy.ndarray of int64
            Stops reachable on foot from the origin and the walk times (seconds).
        departures : numpy.ndarray of int64
            Departure times from the origin, seconds after midnight.

        Returns
        -------
        numpy.ndarray of int64, shape (n_stops, len(departures))
            Arrival times; ``INF`` (2**62) where a stop is not reached.
        """
        out = np.empty((self.n_stops, len(departures)), dtype=np.int64)
        _ted_origin(
            acc_stop,
            acc_s,
            departures,
            self.w_ptr,
            self.w_time,
            self.w_base,
            self.g_ptr,
            self.g_to,
            self.g_w,
            self.arr_node_stop,
            out,
        )
        return out
