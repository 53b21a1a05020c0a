"""Exact travel-time matrices and one-to-all times on a :class:`~spatial.network.Network`.

Hand-written because the service needs many-to-many matrices that are both exact and much
faster than one Dijkstra per origin (networkx, scipy, igraph, pgRouting all do that), from
points snapped *onto edges*. We build a contraction hierarchy (Geisberger et al. 2008) once
per network, answer matrices with bucket many-to-many (Knopp et al. 2007) and one-to-all with
PHAST (Delling et al. 2011); the kernels are numba (``spatial._ch_kernels``, ``cache=True``).
A CH query returns the same shortest-path lengths as Dijkstra (witness searches that give up
only add redundant shortcuts), so results agree with a plain Dijkstra to float rounding.

Locations
---------
Origins and destinations are either :class:`~spatial.network.SnappedPoints` (time includes
the walk-speed access leg and the partial edge from the snapped point to the segment's end
nodes, in each direction the segment may be travelled; two points on the same segment may
also connect along it directly) or plain node ids (time from/to that node).

Unreachable pairs
-----------------
Pairs with no path, or beyond ``cutoff_s``, are **omitted** from the long table; points that
snapped farther than the snap limit have no rows at all and are listed in
``result.attrs["unreachable_from"]`` / ``result.attrs["unreachable_to"]``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numba as _nb
import numpy as np
import numpy.typing as npt
import pandas as pd

# ContractionHierarchy is defined with the Network that caches and saves it (so network does
# not import this module); it is re-exported here, where it is built and queried.
from spatial import _ch_kernels as _k
from spatial.network import ContractionHierarchy, Network, SnappedPoints

__all__ = [
    "ContractionHierarchy",
    "Locations",
    "build_ch",
    "dijkstra_one_to_all",
    "one_to_all",
    "travel_time_array",
    "travel_time_matrix",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Locations = SnappedPoints | npt.ArrayLike
#: Matrices with fewer origins than this run their forward searches on the calling thread.
_SERIAL_BELOW = 128


def _csr(
    n: int, rows: IntArray, cols: IntArray, w: FloatArray
) -> tuple[IntArray, IntArray, FloatArray]:
    order = np.lexsort((cols, rows))
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=ptr[1:])
    return ptr, cols[order].astype(np.int64), w[order].astype(np.float64)


def build_ch(
    network: Network, *, settle_limit: int = 500, sim_settle_limit: int = 60
) -> ContractionHierarchy:
    """Build (or return the cached) contraction hierarchy of a network.

    Nodes are contracted in priority order (edge difference + contracted neighbours +
    level, lazily updated) entirely inside one numba kernel on contiguous per-node edge
    blocks; a 1,000,000-node road-like grid takes about a minute on two cores. Witness
    searches are bounded, and one that gives up only adds a redundant shortcut, so the
    hierarchy answers exactly what Dijkstra answers.

    Parameters
    ----------
    network : Network
        The graph; the hierarchy is cached on it (and saved by :meth:`Network.save`).
    settle_limit : int, default 500
        Nodes settled per witness search while contracting.
    sim_settle_limit : int, default 60
        Nodes settled per witness search when estimating node priority.

    Returns
    -------
    ContractionHierarchy
    """
    if network._ch is not None:
        return network._ch
    t0 = time.perf_counter()
    n = network.n_nodes
    s = network.edge_source
    t = network.edge_target
    w = network.edge_seconds
    ok = s != t
    df = pd.DataFrame({"s": s[ok], "t": t[ok], "w": w[ok]})
    df = pd.DataFrame(df.groupby(["s", "t"], as_index=False, sort=False)["w"].min())
    rank, ef, et, ew = _k.contract(
        n,
        df["s"].to_numpy(np.int64),
        df["t"].to_numpy(np.int64),
        df["w"].to_numpy(np.float64),
        settle_limit,
        sim_settle_limit,
        4 * len(df) + 1024,
    )
    rf = rank[ef]
    rt = rank[et]
    up = rf < rt
    up_ptr, up_adj, up_w = _csr(n, rf[up], rt[up], ew[up])
    dn = ~up
    dn_ptr, dn_adj, dn_w = _csr(n, rt[dn], rf[dn], ew[dn])
    order = np.empty(n, dtype=np.int64)
    order[rank] = np.arange(n, dtype=np.int64)
    ch = ContractionHierarchy(
        rank=rank.astype(np.int64),
        order=order,
        up_ptr=up_ptr,
        up_adj=up_adj,
        up_w=up_w,
        dn_ptr=dn_ptr,
        dn_adj=dn_adj,
        dn_w=dn_w,
        build_seconds=time.perf_counter() - t0,
    )
    network._ch = ch
    return ch


# ---------------------------------------------------------------------- locations


@dataclass
class _Init:
    ids: npt.NDArray[Any]
    ptr: IntArray
    nodes: IntArray
    d: FloatArray
    snapped: SnappedPoints | None
    unreachable: list[Any]


def _as_init(network: Network, loc: Locations, *, as_origin: bool) -> _Init:
    if isinstance(loc, SnappedPoints):
        ptr = [0]
        nodes: list[int] = []
        d: list[float] = []
        for i in range(len(loc)):
            seg = int(loc.segment[i])
            if loc.reachable[i] and seg >= 0:
                f = float(loc.fraction[i])
                a = float(loc.access_s[i])
                fw = float(network.seg_fwd_s[seg])
                bw = float(network.seg_bwd_s[seg])
                src = int(network.seg_source[seg])
                tgt = int(network.seg_target[seg])
                if as_origin:
                    if fw >= 0:
                        nodes.append(tgt)
                        d.append(a + (1.0 - f) * fw)
                    if bw >= 0:
                        nodes.append(src)
                        d.append(a + f * bw)
                else:
                    if fw >= 0:
                        nodes.append(src)
                        d.append(a + f * fw)
                    if bw >= 0:
                        nodes.append(tgt)
                        d.append(a + (1.0 - f) * bw)
            ptr.append(len(nodes))
        unreachable = [loc.ids[i] for i in range(len(loc)) if not loc.reachable[i]]
        return _Init(
            ids=np.asarray(loc.ids),
            ptr=np.asarray(ptr, dtype=np.int64),
            nodes=np.asarray(nodes, dtype=np.int64),
            d=np.asarray(d, dtype=np.float64),
            snapped=loc,
            unreachable=unreachable,
        )
    arr = np.atleast_1d(np.asarray(loc, dtype=np.int64))
    if len(arr) and (arr.min() < 0 or arr.max() >= network.n_nodes):
        raise ValueError(f"node ids must be in 0..{network.n_nodes - 1}")
    return _Init(
        ids=arr,
        ptr=np.arange(len(arr) + 1, dtype=np.int64),
        nodes=arr.copy(),
        d=np.zeros(len(arr), dtype=np.float64),
        snapped=None,
        unreachable=[],
    )


def _same_segment(network: Network, o: SnappedPoints, t: SnappedPoints, out: FloatArray) -> None:
    """Direct travel along a shared segment (both points snapped to the same one)."""
    seg_o = np.where(o.reachable, o.segment, -1)
    seg_t = np.where(t.reachable, t.segment, -2)
    common = np.intersect1d(seg_o[seg_o >= 0], seg_t[seg_t >= 0])
    for s in common:
        ii = np.flatnonzero(seg_o == s)
        jj = np.flatnonzero(seg_t == s)
        fw = float(network.seg_fwd_s[s])
        bw = float(network.seg_bwd_s[s])
        for i in ii:
            for j in jj:
                f, g = float(o.fraction[i]), float(t.fraction[j])
                acc = float(o.access_s[i] + t.access_s[j])
                best = np.inf
                if fw >= 0 and g >= f:
                    best = acc + (g - f) * fw
                if bw >= 0 and g <= f:
                    best = min(best, acc + (f - g) * bw)
                if best < out[i, j]:
                    out[i, j] = best


def travel_time_array(
    network: Network,
    origins: Locations,
    destinations: Locations,
    *,
    cutoff_s: float | None = None,
) -> FloatArray:
    """Dense travel-time matrix in seconds (``inf`` = unreachable or beyond the cut-off).

    Parameters
    ----------
    network : Network
        The graph (its contraction hierarchy is built on first use and cached).
    origins, destinations : SnappedPoints or array_like of int
        Snapped points or node ids.
    cutoff_s : float, optional
        Times above this many seconds are reported as ``inf``.

    Returns
    -------
    numpy.ndarray of float64, shape (n_origins, n_destinations)
    """
    ch = build_ch(network)
    o = _as_init(network, origins, as_origin=True)
    t = _as_init(network, destinations, as_origin=False)
    cutoff = np.inf if cutoff_s is None else float(cutoff_s)
    nthreads = _nb.get_num_threads()
    # few origins: stay on this thread (waking a busy second core costs more than it saves)
    serial = len(o.ptr) - 1 < _SERIAL_BELOW
    if serial:
        _nb.set_num_threads(1)
    try:
        out = _k.many_to_many(
            ch.up_ptr, ch.up_adj, ch.up_w, ch.dn_ptr, ch.dn_adj, ch.dn_w,
            o.ptr, ch.rank[o.nodes], o.d, t.ptr, ch.rank[t.nodes], t.d, cutoff,
            1 if serial else nthreads,
        )  # fmt: skip
    finally:
        if serial:
            _nb.set_num_threads(nthreads)
    if o.snapped is not None and t.snapped is not None:
        _same_segment(network, o.snapped, t.snapped, out)
        if cutoff_s is not None:
            out[out > cutoff] = np.inf
    return np.asarray(out, dtype=np.float64)


def travel_time_matrix(
    network: Network,
    origins: Locations,
    destinations: Locations,
    *,
    cutoff_s: float | None = None,
) -> pd.DataFrame:
    """Travel-time matrix in long format (r5py style).

    Parameters
    ----------
    network : Network
        The graph for one mode.
    origins, destinations : SnappedPoints or array_like of int
        Snapped points (ids are the points' ids) or node ids.
    cutoff_s : float, optional
        Drop pairs slower than this many seconds.

    Returns
    -------
    pandas.DataFrame
        Columns ``from_id, to_id, mode, seconds`` (float64), one row per reachable pair;
        unreachable pairs are omitted. ``attrs`` holds ``unreachable_from``,
        ``unreachable_to`` (ids of points beyond the snap limit) and the network metadata.
    """
    arr = travel_time_array(network, origins, destinations, cutoff_s=cutoff_s)
    o = _as_init(network, origins, as_origin=True)
    t = _as_init(network, destinations, as_origin=False)
    ii, jj = np.nonzero(np.isfinite(arr))
    df = pd.DataFrame(
        {
            "from_id": o.ids[ii],
            "to_id": t.ids[jj],
            "mode": network.mode,
            "seconds": arr[ii, jj],
        }
    )
    df.attrs["unreachable_from"] = o.unreachable
    df.attrs["unreachable_to"] = t.unreachable
    df.attrs["network"] = {"mode": network.mode, **network.metadata}
    return df


def one_to_all(network: Network, sources: Locations) -> FloatArray:
    """Seconds from each source to every node (PHAST on the contraction hierarchy).

    Parameters
    ----------
    network : Network
        The graph.
    sources : SnappedPoints or array_like of int
        Snapped points or node ids.

    Returns
    -------
    numpy.ndarray of float64, shape (n_sources, n_nodes)
        ``inf`` where unreachable (and for every node of a source beyond the snap limit).
    """
    ch = build_ch(network)
    s = _as_init(network, sources, as_origin=True)
    out = _k.phast_many(
        ch.up_ptr, ch.up_adj, ch.up_w, ch.dn_ptr, ch.dn_adj, ch.dn_w,
        s.ptr, ch.rank[s.nodes], s.d, ch.order, _nb.get_num_threads(),
    )  # fmt: skip
    return np.asarray(out, dtype=np.float64)


def dijkstra_one_to_all(
    network: Network, sources: Locations, *, cutoff_s: float | None = None
) -> FloatArray:
    """Seconds from each source to every node with plain (numba) Dijkstra on the CSR graph.

    Needs no hierarchy; with a small ``cutoff_s`` it only explores the neighbourhood.

    Returns
    -------
    numpy.ndarray of float64, shape (n_sources, n_nodes)
        ``inf`` where unreachable or beyond ``cutoff_s``.
    """
    s = _as_init(network, sources, as_origin=True)
    cutoff = np.inf if cutoff_s is None else float(cutoff_s)
    out = np.full((len(s.ptr) - 1, network.n_nodes), np.inf)
    for i in range(len(s.ptr) - 1):
        a, b = s.ptr[i], s.ptr[i + 1]
        if a < b:
            out[i] = _k.dijkstra_csr(
                network.indptr, network.indices, network.weights, s.nodes[a:b], s.d[a:b], cutoff
            )
    return out
