"""Readers for the OR-Library p-median instances (Beasley 1990).

Hand-written because the format is a bare edge list with a rule no generic reader knows: when
an edge appears twice, the last occurrence wins (that convention reproduces the published
optima, e.g. 5819 for pmed1). Costs are all-pairs shortest paths (scipy ``csgraph``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from spatial.allocation._arrays import FloatArray


@dataclass(frozen=True)
class OrlibPmed:
    """One OR-Library pmed instance.

    Attributes
    ----------
    name : str
        File stem, e.g. ``"pmed1"``.
    cost : ndarray, shape (n, n)
        Shortest-path costs between all vertices (every vertex is demand and candidate).
    p : int
        Number of medians.
    """

    name: str
    cost: FloatArray
    p: int


def read_orlib_pmed(path: str | Path) -> OrlibPmed:
    """Read an OR-Library ``pmedN.txt`` file and compute its all-pairs shortest paths.

    Parameters
    ----------
    path : str or pathlib.Path
        The file: first line ``n_vertices n_edges p``, then ``i j cost`` lines (1-based,
        undirected). For a repeated edge the last line wins.

    Returns
    -------
    OrlibPmed
        The instance with its ``n x n`` shortest-path cost matrix.
    """
    path = Path(path)
    values = np.array(path.read_text().split(), dtype=np.int64)
    n, n_edges, p = (int(v) for v in values[:3])
    edges = values[3 : 3 + 3 * n_edges].reshape(-1, 3)
    if len(edges) != n_edges:
        raise ValueError(f"{path}: expected {n_edges} edges, found {len(edges)}")
    i = np.minimum(edges[:, 0], edges[:, 1]) - 1
    j = np.maximum(edges[:, 0], edges[:, 1]) - 1
    key = i * n + j
    # last occurrence wins: keep the final index of each key
    _, last_rev = np.unique(key[::-1], return_index=True)
    last = len(key) - 1 - last_rev
    i, j, c = i[last], j[last], edges[last, 2].astype(np.float64)
    graph = sp.coo_matrix((c, (i, j)), shape=(n, n)).tocsr()
    cost = csgraph.shortest_path(graph, method="D", directed=False)
    return OrlibPmed(path.stem, np.asarray(cost, dtype=np.float64), p)


def read_orlib_optima(path: str | Path) -> dict[str, float]:
    """Read a ``pmedopt`` file: lines ``pmedN value`` (header lines are skipped).

    Parameters
    ----------
    path : str or pathlib.Path
        The optima file.

    Returns
    -------
    dict
        Instance name to published optimal objective.
    """
    out: dict[str, float] = {}
    for line in Path(path).read_text().splitlines():
        match = re.match(r"\s*(pmed\d+)\s+([0-9.]+)\s*$", line)
        if match:
            out[match.group(1)] = float(match.group(2))
    return out
