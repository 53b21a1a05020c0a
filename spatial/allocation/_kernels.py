"""Numba kernels for the p-median heuristics and the Lagrangian lower bound.

Hand-written because no maintained Python package offers the fast interchange of Whitaker
(1983) in the form of Resende & Werneck (2003) on sparse, cost-sorted candidate lists, nor the
Lagrangian relaxation of Beasley (1993) over such lists; pure Python would be 50-100x slower.

All kernels take the per-demand CSR lists of :class:`spatial.allocation._common.Instance`
(``indptr``, ``sites``, ``costs`` sorted by cost within each demand point) and a per-demand
``tail``: the cost charged for any unlisted site (a lower bound of the true cost).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from spatial.allocation._arrays import BoolArray, FloatArray, IntArray


@njit(cache=True)
def nearest_open(
    indptr: IntArray, sites: IntArray, costs: FloatArray, is_open: BoolArray
) -> tuple[IntArray, FloatArray]:
    """First open site in each demand point's list (``-1``/``inf`` when none)."""
    n = indptr.size - 1
    site = np.full(n, -1, dtype=np.int64)
    cost = np.full(n, np.inf)
    for i in range(n):
        for k in range(indptr[i], indptr[i + 1]):
            j = sites[k]
            if is_open[j]:
                site[i] = j
                cost[i] = costs[k]
                break
    return site, cost


@njit(cache=True)
def _first_two(
    indptr: IntArray,
    sites: IntArray,
    costs: FloatArray,
    tail: FloatArray,
    is_open: BoolArray,
    d1: FloatArray,
    phi1: IntArray,
    d2: FloatArray,
    pos2: IntArray,
) -> None:
    n = indptr.size - 1
    for i in range(n):
        d1[i] = tail[i]
        d2[i] = tail[i]
        phi1[i] = -1
        found = 0
        k = indptr[i]
        end = indptr[i + 1]
        while k < end:
            if is_open[sites[k]]:
                if found == 0:
                    d1[i] = costs[k]
                    phi1[i] = sites[k]
                    found = 1
                else:
                    d2[i] = costs[k]
                    break
            k += 1
        pos2[i] = k


@njit(cache=True)
def _best_swap(
    indptr: IntArray,
    sites: IntArray,
    costs: FloatArray,
    w: FloatArray,
    is_open: BoolArray,
    can_open: BoolArray,
    can_close: BoolArray,
    d1: FloatArray,
    phi1: IntArray,
    d2: FloatArray,
    pos2: IntArray,
) -> tuple[float, int, int]:
    """Best (insert f, remove g) swap by the fast interchange: gain - loss + extra."""
    n = indptr.size - 1
    m = is_open.size
    gain = np.zeros(m)
    loss = np.zeros(m)
    for i in range(n):
        wi = w[i]
        if wi == 0.0:
            continue
        di = d1[i]
        if phi1[i] >= 0:
            loss[phi1[i]] += wi * (d2[i] - di)
        for k in range(indptr[i], pos2[i]):
            c = costs[k]
            if c >= di:
                break
            gain[sites[k]] += wi * (di - c)
    # bucket demand points by their nearest open site
    start = np.zeros(m + 1, dtype=np.int64)
    for i in range(n):
        if phi1[i] >= 0:
            start[phi1[i] + 1] += 1
    for j in range(m):
        start[j + 1] += start[j]
    fill = start[:-1].copy()
    order = np.empty(start[m], dtype=np.int64)
    for i in range(n):
        if phi1[i] >= 0:
            order[fill[phi1[i]]] = i
            fill[phi1[i]] += 1
    best = -np.inf
    bf = -1
    bg = -1
    gf = -1
    for j in range(m):
        if can_open[j] and not is_open[j] and (gf < 0 or gain[j] > gain[gf]):
            gf = j
    lg = -1
    for j in range(m):
        if is_open[j] and can_close[j] and (lg < 0 or loss[j] < loss[lg]):
            lg = j
    if gf >= 0 and lg >= 0:
        best = gain[gf] - loss[lg]
        bf = gf
        bg = lg
    acc = np.zeros(m)
    mark = np.zeros(m, dtype=np.bool_)
    touched = np.empty(m, dtype=np.int64)
    for g in range(m):
        if not (is_open[g] and can_close[g]):
            continue
        nt = 0
        for q in range(start[g], start[g + 1]):
            i = order[q]
            wi = w[i]
            di = d1[i]
            e2 = d2[i]
            for k in range(indptr[i], pos2[i]):
                c = costs[k]
                if c >= e2:
                    break
                j = sites[k]
                if is_open[j]:
                    continue
                if not mark[j]:
                    mark[j] = True
                    touched[nt] = j
                    nt += 1
                acc[j] += wi * (e2 - max(c, di))
        for t in range(nt):
            f = touched[t]
            if can_open[f]:
                val = gain[f] - loss[g] + acc[f]
                if val > best:
                    best = val
                    bf = f
                    bg = g
            acc[f] = 0.0
            mark[f] = False
    return best, bf, bg


@njit(cache=True)
def local_search(
    indptr: IntArray,
    sites: IntArray,
    costs: FloatArray,
    tail: FloatArray,
    w: FloatArray,
    is_open: BoolArray,
    can_open: BoolArray,
    can_close: BoolArray,
    max_swaps: int,
) -> tuple[float, int]:
    """Best-improvement vertex substitution (Teitz-Bart) with the fast interchange.

    ``is_open`` is updated in place. Returns the objective (with ``tail`` costs) and swaps.
    """
    n = indptr.size - 1
    d1 = np.empty(n)
    d2 = np.empty(n)
    phi1 = np.empty(n, dtype=np.int64)
    pos2 = np.empty(n, dtype=np.int64)
    _first_two(indptr, sites, costs, tail, is_open, d1, phi1, d2, pos2)
    obj = 0.0
    for i in range(n):
        obj += w[i] * d1[i]
    swaps = 0
    while swaps < max_swaps:
        best, f, g = _best_swap(
            indptr, sites, costs, w, is_open, can_open, can_close, d1, phi1, d2, pos2
        )
        if f < 0 or best <= 1e-10 * max(1.0, abs(obj)):
            break
        is_open[f] = True
        is_open[g] = False
        _first_two(indptr, sites, costs, tail, is_open, d1, phi1, d2, pos2)
        new = 0.0
        for i in range(n):
            new += w[i] * d1[i]
        if new >= obj:  # numerical safety: undo and stop
            is_open[f] = False
            is_open[g] = True
            _first_two(indptr, sites, costs, tail, is_open, d1, phi1, d2, pos2)
            break
        obj = new
        swaps += 1
    return obj, swaps


@njit(cache=True)
def greedy_add(
    indptr: IntArray,
    sites: IntArray,
    costs: FloatArray,
    tail: FloatArray,
    w: FloatArray,
    is_open: BoolArray,
    can_open: BoolArray,
    p: int,
) -> None:
    """Greedy addition: open the site with the largest saving until ``p`` are open.

    Savings ``gain_j = sum_i w_i max(0, d1_i - c_ij)`` are kept up to date incrementally: when a
    site opens, only the demand points listing it below their current cost are revisited.
    """
    n = indptr.size - 1
    m = is_open.size
    # site -> (demand, cost) lists
    cptr = np.zeros(m + 1, dtype=np.int64)
    for k in range(sites.size):
        cptr[sites[k] + 1] += 1
    for j in range(m):
        cptr[j + 1] += cptr[j]
    fill = cptr[:-1].copy()
    cdem = np.empty(sites.size, dtype=np.int64)
    ccost = np.empty(sites.size)
    for i in range(n):
        for k in range(indptr[i], indptr[i + 1]):
            j = sites[k]
            cdem[fill[j]] = i
            ccost[fill[j]] = costs[k]
            fill[j] += 1
    d1 = tail.copy()
    for i in range(n):
        for k in range(indptr[i], indptr[i + 1]):
            if is_open[sites[k]]:
                d1[i] = costs[k]
                break
    gain = np.zeros(m)
    for i in range(n):
        wi = w[i]
        for k in range(indptr[i], indptr[i + 1]):
            c = costs[k]
            if c >= d1[i]:
                break
            gain[sites[k]] += wi * (d1[i] - c)
    n_open = 0
    for j in range(m):
        if is_open[j]:
            n_open += 1
    while n_open < p:
        best = -1
        for j in range(m):
            if can_open[j] and not is_open[j] and (best < 0 or gain[j] > gain[best]):
                best = j
        if best < 0:
            break
        is_open[best] = True
        n_open += 1
        for q in range(cptr[best], cptr[best + 1]):
            i = cdem[q]
            new = ccost[q]
            old = d1[i]
            if new >= old:
                continue
            wi = w[i]
            for k in range(indptr[i], indptr[i + 1]):
                c = costs[k]
                if c >= old:
                    break
                j = sites[k]
                gain[j] -= wi * (old - c)
                if c < new:
                    gain[j] += wi * (new - c)
            d1[i] = new


@njit(cache=True)
def lagrangian_step(
    indptr: IntArray,
    sites: IntArray,
    costs: FloatArray,
    tail: FloatArray,
    w: FloatArray,
    lam: FloatArray,
    free: BoolArray,
    kept: BoolArray,
    r: int,
    sel: BoolArray,
    grad: FloatArray,
    rho: FloatArray,
) -> float:
    """One evaluation of Beasley's (1993) Lagrangian dual of the p-median.

    Relaxing ``sum_j x_ij = 1`` with multipliers ``lam_i`` gives
    ``L(lam) = sum_i lam_i + min_{|Y|=p, K in Y} sum_{j in Y} rho_j`` with
    ``rho_j = sum_i min(0, w_i c_ij - lam_i)``; unlisted sites cost ``tail_i``. Fills ``sel``
    (the relaxed choice of sites), ``grad`` (the subgradient ``1 - sum_j x_ij``) and ``rho``
    (the reduced costs ``rho_j``).
    """
    n = indptr.size - 1
    m = free.size
    base = np.zeros(n)
    big_b = 0.0
    lam_sum = 0.0
    for i in range(n):
        lam_sum += lam[i]
        t = w[i] * tail[i] - lam[i]
        if t < 0.0:
            base[i] = t
            big_b += t
    rho[:] = big_b
    for i in range(n):
        li = lam[i]
        wi = w[i]
        bi = base[i]
        for k in range(indptr[i], indptr[i + 1]):
            v = wi * costs[k] - li
            if v >= 0.0:
                break
            rho[sites[k]] += v - bi
    n_free = 0
    for j in range(m):
        if free[j]:
            n_free += 1
    idx = np.empty(n_free, dtype=np.int64)
    q = 0
    for j in range(m):
        if free[j]:
            idx[q] = j
            q += 1
    vals = rho[idx]
    order = np.argsort(vals)
    p_total = 0
    total = lam_sum
    for j in range(m):
        sel[j] = kept[j]
        if kept[j]:
            total += rho[j]
            p_total += 1
    for t in range(min(r, n_free)):
        j = idx[order[t]]
        sel[j] = True
        total += rho[j]
        p_total += 1
    for i in range(n):
        li = lam[i]
        wi = w[i]
        cnt = 0
        for k in range(indptr[i], indptr[i + 1]):
            if wi * costs[k] - li >= 0.0:
                break
            if sel[sites[k]]:
                cnt += 1
        if base[i] < 0.0:
            listed = 0
            for k in range(indptr[i], indptr[i + 1]):
                if sel[sites[k]]:
                    listed += 1
            cnt += p_total - listed
        grad[i] = 1.0 - cnt
    return total


@njit(cache=True)
def elloumi_coo(
    indptr: IntArray,
    sites: IntArray,
    costs: FloatArray,
    w: FloatArray,
    kept: BoolArray,
    rank_cut: int,
    start_open: BoolArray,
) -> tuple[IntArray, IntArray, FloatArray, FloatArray, FloatArray, FloatArray, float, int, int]:
    """Constraint matrix of Elloumi's (2010) p-median formulation, chained (sparse) form.

    For demand ``i`` with distinct listed costs ``D_1 < ... < D_K`` (lists cut after the first
    kept site and after ``rank_cut`` entries, beyond which a site is always open), variables
    ``z_ik >= 0`` (``k < K``) carry cost ``w_i (D_{k+1} - D_k)`` and rows are
    ``z_i1 + sum_{d_ij = D_1} y_j >= 1`` and ``z_ik - z_i,k-1 + sum_{d_ij = D_k} y_j >= 0``;
    when the list was not cut the last level needs ``-z_i,K-1 + sum_{d_ij = D_K} y_j >= 0``.
    Columns ``0..m-1`` are ``y``; ``z`` follow. Returns COO rows, cols, vals, the ``z`` costs,
    row lower bounds, the MIP start (from ``start_open``), the constant, the number of rows
    and a flag ``-1`` when a demand point has no allowed site.
    """
    n = indptr.size - 1
    m = kept.size
    # pass 1: sizes
    lens = np.zeros(n, dtype=np.int64)
    nlev = np.zeros(n, dtype=np.int64)
    hard = np.zeros(n, dtype=np.bool_)
    n_rows = 0
    n_z = 0
    nnz = 0
    bad = 0
    for i in range(n):
        a = indptr[i]
        b = indptr[i + 1]
        ln = 0
        cut = False
        for k in range(a, b):
            ln += 1
            if kept[sites[k]] or ln >= rank_cut:
                cut = True
                break
        if ln == 0:
            bad = -1
            continue
        lev = 1
        for k in range(a + 1, a + ln):
            if costs[k] != costs[k - 1]:
                lev += 1
        lens[i] = ln
        nlev[i] = lev
        hard[i] = not cut
        rows_i = lev - 1 + (1 if not cut else 0)
        n_rows += rows_i
        n_z += lev - 1
        # y entries in rows (all levels but the last unless hard) + z entries
        nnz += ln + 2 * (lev - 1)
    rr = np.empty(nnz, dtype=np.int64)
    cc = np.empty(nnz, dtype=np.int64)
    vv = np.empty(nnz, dtype=np.float64)
    zcost = np.empty(n_z, dtype=np.float64)
    row_lo = np.zeros(n_rows, dtype=np.float64)
    start = np.zeros(m + n_z, dtype=np.float64)
    for j in range(m):
        if start_open[j]:
            start[j] = 1.0
    const = 0.0
    row = 0
    zc = 0
    q = 0
    for i in range(n):
        ln = lens[i]
        if ln == 0:
            continue
        a = indptr[i]
        lev_n = nlev[i]
        const += w[i] * costs[a]
        row0 = row
        z0 = zc
        # z variables and their chain entries
        for k in range(lev_n - 1):
            zcost[z0 + k] = 0.0
            rr[q] = row0 + k
            cc[q] = m + z0 + k
            vv[q] = 1.0
            q += 1
            if k + 1 < lev_n - 1 or hard[i]:
                rr[q] = row0 + k + 1
                cc[q] = m + z0 + k
                vv[q] = -1.0
                q += 1
        row_lo[row0] = 1.0
        # y entries by level; fill z costs and the start
        lev = 0
        open_level = -1
        for k in range(a, a + ln):
            if k > a and costs[k] != costs[k - 1]:
                zcost[z0 + lev] = w[i] * (costs[k] - costs[k - 1])
                lev += 1
            if open_level < 0 and start_open[sites[k]]:
                open_level = lev
            if lev < lev_n - 1 or hard[i]:
                rr[q] = row0 + lev
                cc[q] = sites[k]
                vv[q] = 1.0
                q += 1
        if open_level < 0:
            open_level = lev_n - 1
        for k in range(min(open_level, lev_n - 1)):
            start[m + z0 + k] = 1.0
        row += lev_n - 1 + (1 if hard[i] else 0)
        zc += lev_n - 1
    return rr[:q], cc[:q], vv[:q], zcost, row_lo, start, const, n_rows, bad


@njit(cache=True)
def subgradient(
    indptr: IntArray,
    sites: IntArray,
    costs: FloatArray,
    tail: FloatArray,
    w: FloatArray,
    cur: FloatArray,
    lam_best: FloatArray,
    free: BoolArray,
    kept: BoolArray,
    r: int,
    ub: float,
    integral: bool,
    n_iter: int,
    state: FloatArray,
    stall_max: int,
    best_sel: BoolArray,
    best_rho: FloatArray,
) -> int:
    """Subgradient optimisation of the Lagrangian dual, resumable across calls.

    ``cur`` holds the current multipliers and ``state`` = ``[pi, stall, best]`` the step
    factor, the count of steps without improvement and the best (unrounded) bound; both are
    updated in place, with ``lam_best``, ``best_sel`` and ``best_rho`` at the best bound. The
    step is ``pi (1.01 ub - L) / |g|^2`` (Beasley, 1993); ``pi`` halves after ``stall_max``
    steps without improvement. Stops after ``n_iter`` steps, when the bound (rounded up when
    ``integral``) reaches ``ub``, when ``pi < 1e-4``, or when the subgradient vanishes.
    Returns ``1`` if the subgradient vanished (the relaxed choice is then optimal for it),
    ``2`` if ``pi`` fell below ``1e-4``, else ``0``.
    """
    n = indptr.size - 1
    m = free.size
    sel = np.zeros(m, dtype=np.bool_)
    grad = np.zeros(n)
    rho = np.zeros(m)
    pi = state[0]
    stall = int(state[1])
    best = state[2]
    flag = 0
    for _ in range(n_iter):
        val = lagrangian_step(indptr, sites, costs, tail, w, cur, free, kept, r, sel, grad, rho)
        if val > best + 1e-12 * max(1.0, abs(val)):
            best = val
            lam_best[:] = cur
            best_sel[:] = sel
            best_rho[:] = rho
            stall = 0
        else:
            stall += 1
        lb = np.ceil(best - 1e-6) if integral else best
        if lb >= ub - 1e-9 * max(1.0, abs(ub)):
            break
        norm = 0.0
        for i in range(n):
            norm += grad[i] * grad[i]
        if norm == 0.0:
            flag = 1
            break
        if stall >= stall_max:
            pi /= 2.0
            stall = 0
            if pi < 1e-4:
                flag = 2
                break
        step = pi * (ub + 0.01 * abs(ub) - val) / norm
        if not np.isfinite(step):
            step = pi * max(abs(val), 1.0) * 0.01 / norm
        for i in range(n):
            cur[i] += step * grad[i]
    state[0] = pi
    state[1] = stall
    state[2] = best
    return flag
