"""Numba kernels for contraction hierarchies, bucket many-to-many and PHAST.

Hand-written because no maintained Python package offers exact CH many-to-many / PHAST on our
own flat arrays (pandana/OSRM need their own graph formats and do not expose snapped partial
edges); numba compiles these loops to machine code (``cache=True``) so they run at C speed.
All kernels work on node ids in *rank order* (0 = contracted first) for cache locality.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np

_INF = np.inf

# ------------------------------------------------------------------ binary heap (lazy)


@nb.njit(cache=True, inline="always")
def _hpush(hk: Any, hv: Any, size: int, key: float, val: int) -> tuple[Any, Any, int]:
    if size == len(hk):
        nk = np.empty(2 * len(hk), dtype=hk.dtype)
        nv = np.empty(2 * len(hv), dtype=hv.dtype)
        nk[:size] = hk[:size]
        nv[:size] = hv[:size]
        hk = nk
        hv = nv
    i = size
    size += 1
    while i > 0:
        p = (i - 1) >> 1
        if hk[p] <= key:
            break
        hk[i] = hk[p]
        hv[i] = hv[p]
        i = p
    hk[i] = key
    hv[i] = val
    return hk, hv, size


@nb.njit(cache=True, inline="always")
def _hpop(hk: Any, hv: Any, size: int) -> tuple[float, int, int]:
    key = hk[0]
    val = hv[0]
    size -= 1
    if size > 0:
        lk = hk[size]
        lv = hv[size]
        i = 0
        while True:
            c = 2 * i + 1
            if c >= size:
                break
            if c + 1 < size and hk[c + 1] < hk[c]:
                c += 1
            if hk[c] >= lk:
                break
            hk[i] = hk[c]
            hv[i] = hv[c]
            i = c
        hk[i] = lk
        hv[i] = lv
    return key, val, size


# ------------------------------------------------------------------ plain Dijkstra


@nb.njit(cache=True)
def dijkstra_csr(
    indptr: Any, indices: Any, weights: Any, init_nodes: Any, init_d: Any, cutoff: float
) -> Any:
    """One-to-all Dijkstra (multi-source init) on a CSR graph; inf beyond ``cutoff``."""
    n = len(indptr) - 1
    dist = np.full(n, _INF)
    done = np.zeros(n, dtype=np.bool_)
    hk = np.empty(1024, dtype=np.float64)
    hv = np.empty(1024, dtype=np.int64)
    size = 0
    for k in range(len(init_nodes)):
        v = init_nodes[k]
        if init_d[k] < dist[v]:
            dist[v] = init_d[k]
            hk, hv, size = _hpush(hk, hv, size, init_d[k], v)
    while size > 0:
        d, u, size = _hpop(hk, hv, size)
        if done[u]:
            continue
        if d > cutoff:
            break
        done[u] = True
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            nd = d + weights[e]
            if nd < dist[v]:
                dist[v] = nd
                hk, hv, size = _hpush(hk, hv, size, nd, v)
    for v in range(n):
        if dist[v] > cutoff:
            dist[v] = _INF
    return dist


# ------------------------------------------------------------------ contraction
#
# The graph being contracted is kept as one contiguous block of (neighbour, seconds) per node
# and direction, in shared pools (blocks double and move to the pool's end when full; dead
# entries, to contracted nodes, are swap-removed while scanning). Scanning a node's edges is
# thus a linear read, which matters on million-node graphs where linked lists thrash the cache.
# The hierarchy's edges are emitted when a node is contracted: its remaining edges are exactly
# its upward (out) and downward (in) edges.


@nb.njit(cache=True)
def _grow_i(a: Any, cap: int) -> Any:
    b = np.empty(cap, dtype=a.dtype)
    for i in range(len(a)):
        b[i] = a[i]
    return b


@nb.njit(cache=True)
def _grow_f(a: Any, cap: int) -> Any:
    b = np.empty(cap, dtype=a.dtype)
    for i in range(len(a)):
        b[i] = a[i]
    return b


@nb.njit(cache=True, inline="always")
def _fpush(hk: Any, hv: Any, size: int, key: float, val: int) -> int:
    """Push onto a fixed-capacity heap (caller checks ``size < len(hk)``); returns new size."""
    i = size
    while i > 0:
        p = (i - 1) >> 1
        if hk[p] <= key:
            break
        hk[i] = hk[p]
        hv[i] = hv[p]
        i = p
    hk[i] = key
    hv[i] = val
    return int(size + 1)


@nb.njit(cache=True)
def _compact(v: int, contracted: Any, start: Any, length: Any, to: Any, wt: Any) -> int:
    """Drop entries to contracted nodes from ``v``'s block; returns the live length."""
    s = start[v]
    ln = length[v]
    i = 0
    while i < ln:
        if contracted[to[s + i]]:
            ln -= 1
            to[s + i] = to[s + ln]
            wt[s + i] = wt[s + ln]
        else:
            i += 1
    length[v] = ln
    return int(ln)


@nb.njit(cache=True)
def _upsert(
    a: int, b: int, c: float, start: Any, length: Any, capa: Any, to: Any, wt: Any, used: Any
) -> bool:
    """Set edge ``a -> b`` in ``a``'s block to ``min(old, c)`` or append it; False if full."""
    s = start[a]
    ln = length[a]
    for i in range(s, s + ln):
        if to[i] == b:
            if c < wt[i]:
                wt[i] = c
            return True
    if ln == capa[a]:
        nc = 2 * ln + 2
        if used[0] + nc > len(to):
            return False
        ns = used[0]
        for i in range(ln):
            to[ns + i] = to[s + i]
            wt[ns + i] = wt[s + i]
        start[a] = ns
        capa[a] = nc
        used[0] = ns + nc
        s = ns
    to[s + ln] = b
    wt[s + ln] = c
    length[a] = ln + 1
    return True


@nb.njit(cache=True)
def _witness(
    s: int,
    skip: int,
    max_d: float,
    settle_limit: int,
    contracted: Any,
    o_start: Any,
    o_len: Any,
    o_to: Any,
    o_w: Any,
    dist: Any,
    touched: Any,
    hk: Any,
    hv: Any,
    bound: Any,
    n_targets: int,
) -> int:
    """Bounded Dijkstra from ``s`` avoiding ``skip`` and contracted nodes; fills ``dist``.

    ``bound[x]`` (``-1`` for non-targets) is the length of the path via ``skip``; the search
    stops as soon as every target has a tentative distance within its bound (a witness).
    Gives up (leaving tentative distances, which are lengths of real paths avoiding ``skip``)
    after ``settle_limit`` settled nodes, beyond ``max_d``, or when its fixed buffers fill.
    Returns the number of touched nodes (their ``dist`` must be reset by the caller).
    """
    nt = 0
    dist[s] = 0.0
    touched[nt] = s
    nt += 1
    cap_t = len(touched)
    cap_h = len(hk)
    size = _fpush(hk, hv, 0, 0.0, s)
    settled = 0
    while size > 0:
        d, u, size = _hpop(hk, hv, size)
        if d > dist[u]:
            continue
        if d > max_d:
            break
        settled += 1
        if settled > settle_limit:
            break
        st = o_start[u]
        ln = o_len[u]
        i = 0
        while i < ln:
            v = o_to[st + i]
            if contracted[v]:
                ln -= 1
                o_to[st + i] = o_to[st + ln]
                o_w[st + i] = o_w[st + ln]
                continue
            i += 1
            if v == skip:
                continue
            nd = d + o_w[st + i - 1]
            if nd < dist[v] and nd <= max_d:
                if dist[v] == _INF:
                    if nt == cap_t:
                        o_len[u] = ln
                        return nt
                    touched[nt] = v
                    nt += 1
                b = bound[v]
                if b >= 0.0 and nd <= b and dist[v] > b:
                    n_targets -= 1
                    if n_targets <= 0:
                        dist[v] = nd
                        o_len[u] = ln
                        return nt
                dist[v] = nd
                if size == cap_h:
                    o_len[u] = ln
                    return nt
                size = _fpush(hk, hv, size, nd, v)
        o_len[u] = ln
    return nt


@nb.njit(cache=True)
def _process(
    v: int,
    do_add: bool,
    limit: int,
    contracted: Any,
    o_start: Any,
    o_len: Any,
    o_cap: Any,
    o_to: Any,
    o_w: Any,
    i_start: Any,
    i_len: Any,
    i_cap: Any,
    i_to: Any,
    i_w: Any,
    used: Any,
    dist: Any,
    touched: Any,
    hk: Any,
    hv: Any,
    bound: Any,
) -> tuple[int, int, bool]:
    """Simulate (``do_add`` False) or perform the contraction of ``v``.

    Returns (shortcuts needed, edges removed, False if a pool overflowed). Performing is
    idempotent (shortcuts are upserted), so after an overflow the caller grows the pools and
    calls again.
    """
    no = _compact(v, contracted, o_start, o_len, o_to, o_w)
    ni = _compact(v, contracted, i_start, i_len, i_to, i_w)
    os_ = o_start[v]
    is_ = i_start[v]
    added = 0
    for j in range(ni):
        u = i_to[is_ + j]
        wu = i_w[is_ + j]
        maxw = 0.0
        nx = 0
        for k in range(os_, os_ + no):
            x = o_to[k]
            if x != u:
                c = wu + o_w[k]
                if c > maxw:
                    maxw = c
                bound[x] = c
                nx += 1
        nt = 0
        if nx > 0:
            nt = _witness(
                u, v, maxw, limit, contracted, o_start, o_len, o_to, o_w,
                dist, touched, hk, hv, bound, nx,
            )  # fmt: skip
        ok = True
        for k in range(os_, os_ + no):
            x = o_to[k]
            bound[x] = -1.0
            if x == u:
                continue
            c = wu + o_w[k]
            if dist[x] > c:
                added += 1
                if do_add and ok:
                    ok = _upsert(u, x, c, o_start, o_len, o_cap, o_to, o_w, used[0:1])
                    if ok:
                        ok = _upsert(x, u, c, i_start, i_len, i_cap, i_to, i_w, used[1:2])
        for q in range(nt):
            dist[touched[q]] = _INF
        if not ok:
            return added, no + ni, False
    return added, no + ni, True


@nb.njit(cache=True)
def contract(
    n: int, src: Any, dst: Any, w: Any, settle_limit: int, sim_settle_limit: int, cap: int
) -> tuple[Any, Any, Any, Any]:
    """Contract all nodes; returns (rank, edge_from, edge_to, edge_w) incl. shortcuts.

    ``src, dst, w`` must have no self loops and no parallel edges. Node order: priority
    ``2 * (shortcuts added - edges removed) + contracted neighbours + level`` with *lazy
    updates*: a node whose neighbourhood changed is only re-simulated when it reaches the
    top of the queue, and contracted if it is still the minimum (else re-queued). The queue
    thus holds one entry per node. Witness searches stop after ``settle_limit`` settled nodes
    (``sim_settle_limit`` when estimating priority); a failed witness search only adds a
    redundant shortcut, so queries stay exact. ``cap`` is the initial size of each edge
    pool (grown as needed).
    """
    m0 = len(src)
    o_len = np.zeros(n, dtype=np.int64)
    i_len = np.zeros(n, dtype=np.int64)
    for k in range(m0):
        o_len[src[k]] += 1
        i_len[dst[k]] += 1
    o_cap = o_len + 2
    i_cap = i_len + 2
    o_start = np.zeros(n, dtype=np.int64)
    i_start = np.zeros(n, dtype=np.int64)
    for v in range(1, n):
        o_start[v] = o_start[v - 1] + o_cap[v - 1]
        i_start[v] = i_start[v - 1] + i_cap[v - 1]
    used = np.empty(2, dtype=np.int64)
    used[0] = o_start[n - 1] + o_cap[n - 1] if n > 0 else 0
    used[1] = i_start[n - 1] + i_cap[n - 1] if n > 0 else 0
    pcap = max(cap, 2 * used[0] + 16, 2 * used[1] + 16)
    o_to = np.empty(pcap, dtype=np.int32)
    o_w = np.empty(pcap, dtype=np.float64)
    i_to = np.empty(pcap, dtype=np.int32)
    i_w = np.empty(pcap, dtype=np.float64)
    o_len[:] = 0
    i_len[:] = 0
    for k in range(m0):
        a = src[k]
        b = dst[k]
        o_to[o_start[a] + o_len[a]] = b
        o_w[o_start[a] + o_len[a]] = w[k]
        o_len[a] += 1
        i_to[i_start[b] + i_len[b]] = a
        i_w[i_start[b] + i_len[b]] = w[k]
        i_len[b] += 1

    contracted = np.zeros(n, dtype=np.bool_)
    dirty = np.zeros(n, dtype=np.bool_)
    mark = np.zeros(n, dtype=np.bool_)
    cn = np.zeros(n, dtype=np.int64)
    level = np.zeros(n, dtype=np.int64)
    rank = np.full(n, -1, dtype=np.int64)
    dist = np.full(n, _INF)
    bound = np.full(n, -1.0)
    wcap = 1 << 16
    touched = np.empty(wcap, dtype=np.int64)
    hk = np.empty(wcap, dtype=np.float64)
    hv = np.empty(wcap, dtype=np.int64)
    nbr = np.empty(n + 1, dtype=np.int64)
    qk = np.empty(n + 1, dtype=np.float64)
    qv = np.empty(n + 1, dtype=np.int64)
    qsize = 0
    ocap = m0 + m0 // 2 + 16
    ef = np.empty(ocap, dtype=np.int64)
    et = np.empty(ocap, dtype=np.int64)
    ew = np.empty(ocap, dtype=np.float64)
    m = 0

    for v in range(n):
        a, r, _ = _process(
            v, False, sim_settle_limit, contracted, o_start, o_len, o_cap, o_to, o_w,
            i_start, i_len, i_cap, i_to, i_w, used, dist, touched, hk, hv, bound,
        )  # fmt: skip
        qsize = _fpush(qk, qv, qsize, 2.0 * (a - r), v)

    k_rank = 0
    while qsize > 0:
        p, v, qsize = _hpop(qk, qv, qsize)
        if dirty[v]:
            dirty[v] = False
            a, r, _ = _process(
                v, False, sim_settle_limit, contracted, o_start, o_len, o_cap, o_to, o_w,
                i_start, i_len, i_cap, i_to, i_w, used, dist, touched, hk, hv, bound,
            )  # fmt: skip
            p = 2.0 * (a - r) + cn[v] + level[v]
            if qsize > 0 and p > qk[0]:
                qsize = _fpush(qk, qv, qsize, p, v)
                continue
        while True:
            _, _, ok = _process(
                v, True, settle_limit, contracted, o_start, o_len, o_cap, o_to, o_w,
                i_start, i_len, i_cap, i_to, i_w, used, dist, touched, hk, hv, bound,
            )  # fmt: skip
            if ok:
                break
            nc = 2 * len(o_to)
            o_to = _grow_i(o_to, nc)
            o_w = _grow_f(o_w, nc)
            i_to = _grow_i(i_to, nc)
            i_w = _grow_f(i_w, nc)
        contracted[v] = True
        rank[v] = k_rank
        k_rank += 1
        # emit v's remaining edges (its upward and downward edges) and mark neighbours
        no = o_len[v]
        ni = i_len[v]
        if m + no + ni > len(ef):
            nc = 2 * (m + no + ni)
            ef = _grow_i(ef, nc)
            et = _grow_i(et, nc)
            ew = _grow_f(ew, nc)
        nn = 0
        for side in range(2):
            s0 = o_start[v] if side == 0 else i_start[v]
            ln = no if side == 0 else ni
            for k in range(s0, s0 + ln):
                x = o_to[k] if side == 0 else i_to[k]
                if side == 0:
                    ef[m] = v
                    et[m] = x
                    ew[m] = o_w[k]
                else:
                    ef[m] = x
                    et[m] = v
                    ew[m] = i_w[k]
                m += 1
                if not mark[x]:
                    mark[x] = True
                    nbr[nn] = x
                    nn += 1
        for k in range(nn):
            x = nbr[k]
            mark[x] = False
            cn[x] += 1
            if level[v] + 1 > level[x]:
                level[x] = level[v] + 1
            dirty[x] = True
    return rank, ef[:m].copy(), et[:m].copy(), ew[:m].copy()


# ------------------------------------------------------------------ queries


@nb.njit(cache=True)
def _upward(
    ptr: Any,
    adj: Any,
    wt: Any,
    sptr: Any,
    sadj: Any,
    swt: Any,
    init_nodes: Any,
    init_d: Any,
    cutoff: float,
    dist: Any,
    touched: Any,
    hk: Any,
    hv: Any,
    res_n: Any,
    res_d: Any,
) -> tuple[int, Any, Any, Any, Any, Any]:
    """Upward search with stall-on-demand; returns settled (node, dist) list, resets dist."""
    nt = 0
    size = 0
    for k in range(len(init_nodes)):
        v = init_nodes[k]
        d0 = init_d[k]
        if d0 < dist[v]:
            if dist[v] == _INF:
                if nt == len(touched):
                    touched = _grow_i(touched, 2 * len(touched))
                touched[nt] = v
                nt += 1
            dist[v] = d0
            hk, hv, size = _hpush(hk, hv, size, d0, v)
    nr = 0
    while size > 0:
        d, u, size = _hpop(hk, hv, size)
        if d > dist[u]:
            continue
        if d > cutoff:
            break
        stalled = False
        for e in range(sptr[u], sptr[u + 1]):
            if dist[sadj[e]] + swt[e] < d:
                stalled = True
                break
        if stalled:
            continue
        if nr == len(res_n):
            res_n = _grow_i(res_n, 2 * nr)
            res_d = _grow_f(res_d, 2 * nr)
        res_n[nr] = u
        res_d[nr] = d
        nr += 1
        for e in range(ptr[u], ptr[u + 1]):
            v = adj[e]
            nd = d + wt[e]
            if nd < dist[v]:
                if dist[v] == _INF:
                    if nt == len(touched):
                        touched = _grow_i(touched, 2 * len(touched))
                    touched[nt] = v
                    nt += 1
                dist[v] = nd
                hk, hv, size = _hpush(hk, hv, size, nd, v)
    for k in range(nt):
        dist[touched[k]] = _INF
    return nr, touched, hk, hv, res_n, res_d


@nb.njit(cache=True, parallel=True)
def many_to_many(
    up_ptr: Any,
    up_adj: Any,
    up_w: Any,
    dn_ptr: Any,
    dn_adj: Any,
    dn_w: Any,
    s_ptr: Any,
    s_nodes: Any,
    s_d: Any,
    t_ptr: Any,
    t_nodes: Any,
    t_d: Any,
    cutoff: float,
    nthreads: int,
) -> Any:
    """Bucket many-to-many (Knopp et al. 2007) on a CH; returns dense seconds (inf = none)."""
    n = len(up_ptr) - 1
    ns = len(s_ptr) - 1
    nt_ = len(t_ptr) - 1
    # phase 1: backward upward searches fill buckets
    dist = np.full(n, _INF)
    touched = np.empty(1024, dtype=np.int64)
    hk = np.empty(1024, dtype=np.float64)
    hv = np.empty(1024, dtype=np.int64)
    res_n = np.empty(1024, dtype=np.int64)
    res_d = np.empty(1024, dtype=np.float64)
    b_node = np.empty(1024, dtype=np.int64)
    b_tgt = np.empty(1024, dtype=np.int64)
    b_d = np.empty(1024, dtype=np.float64)
    nb_ = 0
    for j in range(nt_):
        a, b = t_ptr[j], t_ptr[j + 1]
        if a == b:
            continue
        nr, touched, hk, hv, res_n, res_d = _upward(
            dn_ptr, dn_adj, dn_w, up_ptr, up_adj, up_w, t_nodes[a:b], t_d[a:b], cutoff,
            dist, touched, hk, hv, res_n, res_d,
        )  # fmt: skip
        if nb_ + nr > len(b_node):
            nc = 2 * (nb_ + nr)
            b_node = _grow_i(b_node, nc)
            b_tgt = _grow_i(b_tgt, nc)
            b_d = _grow_f(b_d, nc)
        for k in range(nr):
            b_node[nb_] = res_n[k]
            b_tgt[nb_] = j
            b_d[nb_] = res_d[k]
            nb_ += 1
    # CSR buckets by node
    bptr = np.zeros(n + 1, dtype=np.int64)
    for k in range(nb_):
        bptr[b_node[k] + 1] += 1
    for v in range(n):
        bptr[v + 1] += bptr[v]
    fill = bptr[:-1].copy()
    bt = np.empty(nb_, dtype=np.int64)
    bd = np.empty(nb_, dtype=np.float64)
    for k in range(nb_):
        p = fill[b_node[k]]
        bt[p] = b_tgt[k]
        bd[p] = b_d[k]
        fill[b_node[k]] += 1
    # phase 2: forward upward searches scan buckets (parallel over blocks of sources)
    out = np.full((ns, nt_), _INF)
    nblocks = min(nthreads, max(ns, 1))
    for blk in nb.prange(nblocks):
        dist2 = np.full(n, _INF)
        touched2 = np.empty(1024, dtype=np.int64)
        hk2 = np.empty(1024, dtype=np.float64)
        hv2 = np.empty(1024, dtype=np.int64)
        rn2 = np.empty(1024, dtype=np.int64)
        rd2_ = np.empty(1024, dtype=np.float64)
        for i in range(blk, ns, nblocks):
            a, b = s_ptr[i], s_ptr[i + 1]
            if a == b:
                continue
            nr, touched2, hk2, hv2, rn2, rd2_ = _upward(
                up_ptr, up_adj, up_w, dn_ptr, dn_adj, dn_w, s_nodes[a:b], s_d[a:b], cutoff,
                dist2, touched2, hk2, hv2, rn2, rd2_,
            )  # fmt: skip
            row = out[i]
            for k in range(nr):
                u = rn2[k]
                du = rd2_[k]
                for q in range(bptr[u], bptr[u + 1]):
                    c = du + bd[q]
                    if c < row[bt[q]]:
                        row[bt[q]] = c
    if cutoff < _INF:
        for i in range(ns):
            for j in range(nt_):
                if out[i, j] > cutoff:
                    out[i, j] = _INF
    return out


@nb.njit(cache=True)
def _phast_into(
    up_ptr: Any,
    up_adj: Any,
    up_w: Any,
    dn_ptr: Any,
    dn_adj: Any,
    dn_w: Any,
    init_nodes: Any,
    init_d: Any,
    order: Any,
    dist: Any,
    hk: Any,
    hv: Any,
    row: Any,
) -> tuple[Any, Any]:
    """One PHAST query: upward search, then the downward sweep in rank order.

    ``dist`` (rank ids) must be all ``inf`` on entry and is left all ``inf``; the result is
    written to ``row`` in original node order (``row[order[r]]``) during the sweep.
    """
    n = len(up_ptr) - 1
    size = 0
    for k in range(len(init_nodes)):
        v = init_nodes[k]
        if init_d[k] < dist[v]:
            dist[v] = init_d[k]
            hk, hv, size = _hpush(hk, hv, size, init_d[k], v)
    while size > 0:
        d, u, size = _hpop(hk, hv, size)
        if d > dist[u]:
            continue
        for e in range(up_ptr[u], up_ptr[u + 1]):
            v = up_adj[e]
            nd = d + up_w[e]
            if nd < dist[v]:
                dist[v] = nd
                hk, hv, size = _hpush(hk, hv, size, nd, v)
    for r in range(n - 1, -1, -1):
        best = dist[r]
        for e in range(dn_ptr[r], dn_ptr[r + 1]):
            c = dist[dn_adj[e]] + dn_w[e]
            if c < best:
                best = c
        dist[r] = best
        row[order[r]] = best
    dist[:] = _INF
    return hk, hv


@nb.njit(cache=True)
def phast(
    up_ptr: Any,
    up_adj: Any,
    up_w: Any,
    dn_ptr: Any,
    dn_adj: Any,
    dn_w: Any,
    init_nodes: Any,
    init_d: Any,
) -> Any:
    """PHAST one-to-all (Delling et al. 2011): upward search + downward sweep in rank order.

    Returns distances indexed by rank id.
    """
    n = len(up_ptr) - 1
    out = np.empty(n, dtype=np.float64)
    _phast_into(
        up_ptr, up_adj, up_w, dn_ptr, dn_adj, dn_w, init_nodes, init_d,
        np.arange(n), np.full(n, _INF), np.empty(1024, dtype=np.float64),
        np.empty(1024, dtype=np.int64), out,
    )  # fmt: skip
    return out


@nb.njit(cache=True, parallel=True)
def phast_many(
    up_ptr: Any,
    up_adj: Any,
    up_w: Any,
    dn_ptr: Any,
    dn_adj: Any,
    dn_w: Any,
    s_ptr: Any,
    s_nodes: Any,
    s_d: Any,
    order: Any,
    nthreads: int,
) -> Any:
    """PHAST from several sources (parallel); rows in original node order via ``order``.

    Each thread keeps one rank-ordered distance array and heap for all its sources.
    """
    n = len(up_ptr) - 1
    ns = len(s_ptr) - 1
    out = np.empty((ns, n), dtype=np.float64)
    nblocks = min(nthreads, max(ns, 1))
    for blk in nb.prange(nblocks):
        dist = np.full(n, _INF)
        hk = np.empty(1024, dtype=np.float64)
        hv = np.empty(1024, dtype=np.int64)
        for i in range(blk, ns, nblocks):
            hk, hv = _phast_into(
                up_ptr, up_adj, up_w, dn_ptr, dn_adj, dn_w,
                s_nodes[s_ptr[i] : s_ptr[i + 1]], s_d[s_ptr[i] : s_ptr[i + 1]],
                order, dist, hk, hv, out[i],
            )  # fmt: skip
    return out
