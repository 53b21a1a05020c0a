"""Exactness of travel-time matrices on the real Rutland network: against a plain heapq
Dijkstra and against pgRouting's pgr_dijkstraCostMatrix on the same edges."""

from __future__ import annotations

import heapq
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from etl.osm import read_osm
from spatial.network import Network, build_network, network_from_arrays, snap_points
from spatial.traveltime import (
    build_ch,
    dijkstra_one_to_all,
    one_to_all,
    travel_time_array,
    travel_time_matrix,
)


@pytest.fixture(scope="module")
def drive(data_dir: Path) -> Network:
    ex = read_osm(data_dir / "rutland" / "rutland_2022-07-20.osm.pbf")
    net = build_network(ex.ways, ex.nodes, mode="drive")
    build_ch(net)
    return net


def ref_dijkstra(net: Network, init: list[tuple[int, float]]) -> np.ndarray:
    """Textbook heapq Dijkstra over the directed edge table."""
    adj: list[list[tuple[int, float]]] = [[] for _ in range(net.n_nodes)]
    for s, t, w in zip(net.edge_source, net.edge_target, net.edge_seconds, strict=True):
        adj[int(s)].append((int(t), float(w)))
    dist = np.full(net.n_nodes, np.inf)
    heap = []
    for v, d in init:
        if d < dist[v]:
            dist[v] = d
            heap.append((d, v))
    heapq.heapify(heap)
    while heap:
        d, u = heapq.heappop(heap)
        if d > dist[u]:
            continue
        for v, w in adj[u]:
            if d + w < dist[v]:
                dist[v] = d + w
                heapq.heappush(heap, (d + w, v))
    return dist


def test_ch_matches_reference_dijkstra(drive: Network) -> None:
    rng = np.random.default_rng(7)
    o = rng.choice(drive.n_nodes, 6, replace=False)
    d = rng.choice(drive.n_nodes, 300, replace=False)
    got = travel_time_array(drive, o, d)
    for i, src in enumerate(o):
        ref = ref_dijkstra(drive, [(int(src), 0.0)])
        np.testing.assert_allclose(got[i], ref[d], atol=0.5, rtol=0)
        assert np.isfinite(got[i]).all()  # strongly connected
        np.testing.assert_allclose(one_to_all(drive, [src])[0], ref, atol=0.5, rtol=0)
        np.testing.assert_allclose(dijkstra_one_to_all(drive, [src])[0], ref, atol=1e-6)
    # the longest trip within Rutland's graph is tens of minutes, not hours
    assert 600 < got.max() < 7200


def test_snapped_points_and_cutoff(drive: Network) -> None:
    g = drive.seg_geometry
    s1, s2 = 50, 4000
    p1 = g[s1].interpolate(0.3, normalized=True)
    p2 = g[s2].interpolate(0.6, normalized=True)
    pts = snap_points(drive, [p1.x, p2.x, 300_000.0], [p1.y + 40, p2.y, 100_000.0], ids=[1, 2, 3])
    tt = travel_time_matrix(drive, pts, pts)
    assert tt.attrs["unreachable_from"] == [3]
    assert tt.attrs["unreachable_to"] == [3]
    assert set(tt["from_id"]) == {1, 2}
    assert (tt["mode"] == "drive").all()
    # reference: Dijkstra from the origin's partial edges, to the destination's partial edges
    s1, s2 = int(pts.segment[0]), int(pts.segment[1])
    assert s2 == 4000
    f, a = float(pts.fraction[0]), float(pts.access_s[0])
    init = []
    if drive.seg_fwd_s[s1] >= 0:
        init.append((int(drive.seg_target[s1]), a + (1 - f) * drive.seg_fwd_s[s1]))
    if drive.seg_bwd_s[s1] >= 0:
        init.append((int(drive.seg_source[s1]), a + f * drive.seg_bwd_s[s1]))
    dist = ref_dijkstra(drive, init)
    g2, a2 = float(pts.fraction[1]), float(pts.access_s[1])
    cands = []
    if drive.seg_fwd_s[s2] >= 0:
        cands.append(dist[drive.seg_source[s2]] + g2 * drive.seg_fwd_s[s2] + a2)
    if drive.seg_bwd_s[s2] >= 0:
        cands.append(dist[drive.seg_target[s2]] + (1 - g2) * drive.seg_bwd_s[s2] + a2)
    got = tt.loc[(tt.from_id == 1) & (tt.to_id == 2), "seconds"].item()
    assert got == pytest.approx(min(cands), abs=0.5)
    # same point to itself: access legs only (40 m off the road and back at walking speed)
    self_t = tt.loc[(tt.from_id == 1) & (tt.to_id == 1), "seconds"].item()
    assert self_t == pytest.approx(2 * float(pts.access_s[0]), abs=1e-6)
    assert 0 < float(pts.snap_distance_m[0]) <= 40.0 + 1e-6
    # cutoff drops slower pairs
    cut = travel_time_matrix(drive, pts, pts, cutoff_s=got - 1)
    assert not ((cut.from_id == 1) & (cut.to_id == 2)).any()


def test_one_way_and_unreachable_synthetic() -> None:
    # 0 -> 1 -> 2 one way, 2 -> 0 two-way; node 3 only reaches others
    net = network_from_arrays(
        x=[0, 100, 200, 300], y=[0, 0, 0, 0], source=[0, 1, 2, 3], target=[1, 2, 0, 0],
        fwd_seconds=[10, 10, 5, 1], bwd_seconds=[-1, -1, 5, -1],
    )  # fmt: skip
    m = travel_time_array(net, [0, 1, 2, 3], [0, 1, 2, 3])
    assert m[0, 2] == 5
    assert m[2, 0] == 5
    assert m[1, 0] == 15
    assert m[3, 1] == 11
    assert np.isinf(m[0, 3])
    long = travel_time_matrix(net, [0, 1, 2, 3], [3])
    assert list(long["from_id"]) == [3]
    assert long["seconds"].item() == 0


# ------------------------------------------------------------------ pgRouting


def _server_conninfo() -> str:
    url = os.environ.get("LOCUS_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    url = url.replace("postgresql+psycopg://", "postgresql://", 1)
    params = conninfo_to_dict(url)
    params["dbname"] = "postgres"
    return make_conninfo(**params)


@pytest.fixture
def scratch_db() -> Iterator[str]:
    server = _server_conninfo()
    name = f"locus_scratch_net_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    params = conninfo_to_dict(server)
    params["dbname"] = name
    try:
        yield make_conninfo(**params)
    finally:
        with psycopg.connect(server, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_matches_pgr_dijkstra_cost_matrix(drive: Network, scratch_db: str) -> None:
    e = drive.edges_frame()
    with psycopg.connect(scratch_db, autocommit=True) as c:
        c.execute("CREATE EXTENSION postgis")
        c.execute("CREATE EXTENSION pgrouting")
        c.execute(
            "CREATE TABLE edges (id bigint, source bigint, target bigint, "
            "cost float8, reverse_cost float8)"
        )
        with c.cursor() as cur, cur.copy("COPY edges FROM STDIN") as cp:
            for row in zip(
                e.edge_id + 1, e.source + 1, e.target + 1, e.cost_s, e.reverse_cost_s, strict=True
            ):
                cp.write_row([int(row[0]), int(row[1]), int(row[2]), float(row[3]), float(row[4])])
        vids = np.random.default_rng(3).choice(drive.n_nodes, 25, replace=False)
        rows = c.execute(
            "SELECT start_vid, end_vid, agg_cost FROM pgr_dijkstraCostMatrix("
            "'SELECT id, source, target, cost, reverse_cost FROM edges', %s, directed => true)",
            ([int(v) + 1 for v in vids],),
        ).fetchall()
    ours = travel_time_array(drive, vids, vids)
    pos = {int(v) + 1: i for i, v in enumerate(vids)}
    assert len(rows) == 25 * 24
    diffs = [abs(ours[pos[s], pos[t]] - cost) for s, t, cost in rows]
    assert max(diffs) < 0.5


# ------------------------------------------------------------------ CH construction


def _road_grid(side: int, seed: int) -> Network:
    """Seeded perturbed grid with a hierarchy of road speeds and some one-way streets."""
    rng = np.random.default_rng(seed)
    n = side * side
    ii, jj = np.divmod(np.arange(n), side)
    x = jj * 200.0 + rng.uniform(-60, 60, n)
    y = ii * 200.0 + rng.uniform(-60, 60, n)
    idx = np.arange(n).reshape(side, side)
    s = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    t = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    line = np.concatenate(
        [np.repeat(np.arange(side), side - 1), np.tile(np.arange(side), side - 1)]
    )
    cls = np.where(line % 10 == 0, 2, np.where(line % 5 == 0, 1, 0))
    speed = np.array([8.0, 15.0, 30.0])[cls]  # m/s
    sec = np.hypot(x[t] - x[s], y[t] - y[s]) / speed * rng.uniform(1.0, 1.2, len(s))
    bwd = np.where(rng.random(len(s)) < 0.1, -1.0, sec)  # 10 % one-way
    return network_from_arrays(
        x=x, y=y, source=s, target=t, fwd_seconds=sec, bwd_seconds=bwd, mode="drive"
    )


def _scipy_ref(net: Network, sources: np.ndarray) -> np.ndarray:
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    ok = net.edge_source != net.edge_target
    df: dict[tuple[int, int], float] = {}  # parallel edges: keep the quickest (csr would add)
    for a, b, w in zip(net.edge_source[ok], net.edge_target[ok], net.edge_seconds[ok], strict=True):
        key = (int(a), int(b))
        df[key] = min(df.get(key, np.inf), float(w))
    keys = np.array(list(df.keys()), dtype=np.int64).reshape(-1, 2)
    g = csr_matrix(
        (np.array(list(df.values())), (keys[:, 0], keys[:, 1])), shape=(net.n_nodes, net.n_nodes)
    )
    return np.asarray(dijkstra(g, indices=sources))


@pytest.mark.parametrize(("settle", "sim"), [(500, 60), (0, 0)])
def test_ch_exact_on_seeded_road_grid(settle: int, sim: int) -> None:
    # (0, 0): every witness search gives up at once, so only redundant shortcuts are added
    net = _road_grid(30, seed=11)
    ch = build_ch(net, settle_limit=settle, sim_settle_limit=sim)
    assert sorted(ch.rank.tolist()) == list(range(net.n_nodes))
    assert (ch.order[ch.rank] == np.arange(net.n_nodes)).all()
    up_from = np.repeat(np.arange(net.n_nodes), np.diff(ch.up_ptr))
    assert (ch.up_adj > up_from).all()  # upward edges go up in rank
    dn_at = np.repeat(np.arange(net.n_nodes), np.diff(ch.dn_ptr))
    assert (ch.dn_adj > dn_at).all()
    rng = np.random.default_rng(5)
    o = rng.choice(net.n_nodes, 40, replace=False)
    d = rng.choice(net.n_nodes, 60, replace=False)
    ref = _scipy_ref(net, o)
    got = travel_time_array(net, o, d)
    assert np.array_equal(np.isinf(got), np.isinf(ref[:, d]))
    f = np.isfinite(got)
    assert f.mean() > 0.9  # one-ways leave a few dead ends, most pairs connect
    np.testing.assert_allclose(got[f], ref[:, d][f], rtol=0, atol=1e-6)
    allt = one_to_all(net, o[:5])
    np.testing.assert_allclose(
        np.where(np.isinf(allt), -1, allt), np.where(np.isinf(ref[:5]), -1, ref[:5]), atol=1e-6
    )
    if settle == 0:
        # giving up costs shortcuts, not correctness
        tuned = build_ch(_road_grid(30, seed=11))
        assert ch.n_shortcut_edges > tuned.n_shortcut_edges


def test_contract_kernel_preserves_distances_and_grows_pools() -> None:
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    from spatial import _ch_kernels as k

    # a dense random graph whose hierarchy needs many shortcuts; tiny pool to force growth
    rng = np.random.default_rng(2)
    n = 150
    s = rng.integers(0, n, 1200)
    t = rng.integers(0, n, 1200)
    keep = s != t
    pairs = np.unique(np.column_stack([s[keep], t[keep]]), axis=0)
    w = rng.uniform(1, 100, len(pairs))
    rank, ef, et, ew = k.contract(n, pairs[:, 0], pairs[:, 1], w, 0, 0, 0)
    assert sorted(rank.tolist()) == list(range(n))
    assert len(ef) > len(pairs)  # shortcuts were added
    # every edge of the hierarchy (originals and shortcuts) goes between differently ranked
    # nodes and the hierarchy's edge set has exactly the original distances
    assert (rank[ef] != rank[et]).all()
    g0 = csr_matrix((w, (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    g1 = csr_matrix((ew, (ef, et)), shape=(n, n))
    np.testing.assert_allclose(dijkstra(g1), dijkstra(g0), atol=1e-9)


def test_ch_on_rutland_has_small_search_spaces(drive: Network) -> None:
    ch = build_ch(drive)
    assert ch.build_seconds > 0
    # shortcuts stay within a small multiple of the original edge count
    assert ch.n_shortcut_edges < 3 * len(drive.edge_source)
    assert np.diff(ch.up_ptr).max() < 40
