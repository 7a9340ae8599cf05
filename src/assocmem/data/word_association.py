"""Free word-association norms as weighted directed graphs (USF and EAT).

Prepared format
---------------
A gzipped CSV edge list (UTF-8, ``\\n`` line ends, gzip header without name or time stamp so the
bytes are reproducible) with the header ``source,target,weight``:

- ``source``: the cue word; ``target``: a response given to it. Both are lower-cased and stripped of
  surrounding white space; nothing else is changed (USF writes multi-word items with ``_``, e.g.
  ``ice_cream``, EAT with a space, ``ice cream``).
- ``weight``: forward strength P(target | cue) in (0, 1], written with full float precision.
  USF uses ``FSG``; EAT uses ``R1.Strength`` (= R1 / n).
- Dropped: rows whose cue or response is empty or has no letter or digit (EAT's ``?`` non-responses,
  ``!``, ``%``, ...), self-loops (cue == response after normalisation), and non-positive weights.
- Duplicate (source, target) pairs left after normalisation (the same response spelled with other
  letter case, e.g. EAT's ``100 -> percent`` twice) are merged by summing their weights, so each cue's
  strengths keep their total (clipped at 1 against rounding).
- Rows are sorted by (source, target).

The words ``na``, ``nan`` and ``null`` are real responses in EAT, so every reader here disables
pandas' NA detection (``keep_default_na=False``) or uses the :mod:`csv` module.

Metadata (node and edge counts, the source file's SHA-256, what was dropped) is written as JSON to
``Path(out).with_suffix('.json')``.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import pandas as pd
import torch

from .mirror import DataError, atomic_write, locate, sha256_file, write_metadata

__all__ = [
    "WORD_ASSOCIATION_SOURCES",
    "adjacency",
    "connected_subgraph",
    "load_graph",
    "prepare_word_association",
]

#: source name -> (mirror file, cue column, response column, forward-strength column)
WORD_ASSOCIATION_SOURCES: dict[str, tuple[str, str, str, str]] = {
    "usf": ("word_association/usf_free_association.csv.gz", "CUE", "TARGET", "FSG"),
    "eat": ("word_association/eat.csv.gz", "cue", "response", "R1.Strength"),
}
HEADER = ("source", "target", "weight")


def _read_source(path: Path, rel: str, columns: tuple[str, str, str]) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, usecols=list(columns), dtype=str, keep_default_na=False, na_filter=False)
    except ValueError as exc:  # missing columns
        raise DataError(f"{rel}: expected columns {list(columns)} ({exc})") from exc
    except (OSError, EOFError, pd.errors.ParserError) as exc:
        raise DataError(f"{rel}: cannot read it as a gzipped CSV ({exc})") from exc
    return df


def _edge_table(df: pd.DataFrame, rel: str, columns: tuple[str, str, str]) -> tuple[pd.DataFrame, dict[str, int]]:
    """Normalise words, drop unusable rows and merge duplicates; return edges and drop counts."""
    cue, resp, strength = columns
    source = df[cue].str.strip().str.lower()
    target = df[resp].str.strip().str.lower()
    weight = pd.to_numeric(df[strength].str.strip(), errors="coerce")
    bad_numbers = int(weight.isna().sum())
    if bad_numbers:
        examples = df.loc[weight.isna(), strength].unique()[:5].tolist()
        raise DataError(f"{rel}: {bad_numbers} non-numeric values in column {strength}, e.g. {examples}")
    if (weight > 1).any():
        raise DataError(f"{rel}: column {strength} has values above 1 (max {weight.max()}); expected P(target | cue)")
    wordlike = source.str.contains(r"[^\W_]", regex=True) & target.str.contains(r"[^\W_]", regex=True)
    self_loop = wordlike & (source == target)
    positive = weight > 0
    keep = wordlike & ~self_loop & positive
    edges = pd.DataFrame({"source": source[keep], "target": target[keep], "weight": weight[keep].astype(float)})
    merged = edges.groupby(["source", "target"], sort=True, as_index=False)["weight"].sum()
    merged["weight"] = merged["weight"].clip(upper=1.0)
    dropped = {
        "rows_read": len(df),
        "not_a_word": int((~wordlike).sum()),
        "self_loops": int(self_loop.sum()),
        "non_positive_weight": int((wordlike & ~self_loop & ~positive).sum()),
        "duplicates_merged": len(edges) - len(merged),
    }
    return merged, dropped


def _write_edges(edges: pd.DataFrame, out: Path) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HEADER)
    for s, t, w in edges.itertuples(index=False, name=None):
        writer.writerow((s, t, repr(float(w))))
    with atomic_write(out) as tmp:
        with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            gz.write(buf.getvalue().encode("utf-8"))


def prepare_word_association(
    source: str, mirror: str | os.PathLike[str] | None, out: str | os.PathLike[str]
) -> dict[str, Any]:
    """Convert the USF (``source="usf"``) or EAT (``"eat"``) norms in the mirror into the edge-list format.

    Writes ``out`` (see the module docstring) and its JSON metadata; returns the metadata: counts of
    nodes, cues and edges, what was dropped, and the source file and its SHA-256. There is no
    download address for these norms: the file must be in the mirror.
    """
    if source not in WORD_ASSOCIATION_SOURCES:
        choices = sorted(WORD_ASSOCIATION_SOURCES)
        raise ValueError(f"unknown word-association source {source!r}; choose one of {choices}")
    rel, *cols = WORD_ASSOCIATION_SOURCES[source]
    columns = (cols[0], cols[1], cols[2])
    path = locate(rel, mirror)
    edges, dropped = _edge_table(_read_source(path, rel, columns), rel, columns)
    out = Path(out)
    _write_edges(edges, out)
    nodes = pd.unique(pd.concat([edges["source"], edges["target"]]))
    graph = nx.DiGraph()
    graph.add_edges_from(zip(edges["source"], edges["target"]))
    components = sorted((len(c) for c in nx.weakly_connected_components(graph)), reverse=True)
    meta = {
        "name": source,
        "format": "gzipped CSV edge list: source,target,weight (weight = P(target | cue))",
        "source_file": {"file": rel, "sha256": sha256_file(path), "columns": dict(zip(HEADER, columns))},
        "n_nodes": int(len(nodes)),
        "n_cues": int(edges["source"].nunique()),
        "n_edges": int(len(edges)),
        "largest_weakly_connected_component": components[0] if components else 0,
        "n_weakly_connected_components": len(components),
        "weight_min": float(edges["weight"].min()),
        "weight_max": float(edges["weight"].max()),
        "dropped": dropped,
    }
    write_metadata(meta, out)
    return meta


def load_graph(path: str | os.PathLike[str]) -> nx.DiGraph:
    """Read a prepared edge list into a :class:`networkx.DiGraph` with edge attribute ``weight``.

    Nodes are added in sorted order, then edges in file order, so iteration order is reproducible.
    Raises :class:`DataError` on a wrong header, a malformed row or a weight outside (0, 1].
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: not found; expected a prepared word-association edge list")
    edges: list[tuple[str, str, float]] = []
    try:
        with gzip.open(p, "rt", encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None or tuple(header) != HEADER:
                raise DataError(f"{p}: header {header}, expected {list(HEADER)}")
            for lineno, row in enumerate(reader, start=2):
                if len(row) != 3:
                    raise DataError(f"{p}, line {lineno}: expected 3 fields, got {row}")
                try:
                    w = float(row[2])
                except ValueError as exc:
                    raise DataError(f"{p}, line {lineno}: weight {row[2]!r} is not a number") from exc
                if not (0.0 < w <= 1.0) or math.isnan(w):
                    raise DataError(f"{p}, line {lineno}: weight {w} outside (0, 1]")
                edges.append((row[0], row[1], w))
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"{p}: cannot read it as a gzipped UTF-8 CSV ({exc})") from exc
    graph = nx.DiGraph()
    graph.add_nodes_from(sorted({w for s, t, _ in edges for w in (s, t)}))
    graph.add_weighted_edges_from(edges, weight="weight")
    return graph


def _undirected_weight(graph: nx.DiGraph, u: Hashable, v: Hashable) -> float:
    """Strength of the link u -- v ignoring direction: the larger of the two directed weights."""
    w = 0.0
    if graph.has_edge(u, v):
        w = max(w, float(graph[u][v].get("weight", 1.0)))
    if graph.has_edge(v, u):
        w = max(w, float(graph[v][u].get("weight", 1.0)))
    return w


def connected_subgraph(graph: nx.DiGraph, n: int, *, seed_word: str | None = None, seed: int = 0) -> nx.DiGraph:
    """Pick ``n`` words forming a weakly connected subgraph, deterministically; return the induced subgraph.

    Procedure:

    1. Seed: ``seed_word`` (stripped and lower-cased) if given; otherwise the largest weakly
       connected component is taken (ties: the one holding the alphabetically first word), its
       words are sorted, and one is drawn uniformly with a CPU ``torch.Generator`` seeded by ``seed``.
    2. Breadth-first growth ignoring edge direction: the frontier is a FIFO queue; for each word taken
       from it, its not yet chosen neighbours (successors and predecessors) are visited in order of
       decreasing link strength (the larger of the two directed weights), ties broken by word, and
       each is chosen and queued until ``n`` words are chosen.

    The returned :class:`networkx.DiGraph` holds the chosen words in the order they were chosen (the
    seed first) and every edge among them, with its attributes. Raises ``ValueError`` if ``n < 1``,
    ``seed_word`` is not in the graph, or ``n`` exceeds the size of the seed's component.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if graph.number_of_nodes() == 0:
        raise ValueError("the graph is empty")
    if seed_word is not None:
        start: Hashable = seed_word.strip().lower() if isinstance(seed_word, str) else seed_word
        if start not in graph:
            raise ValueError(f"seed word {seed_word!r} is not in the graph ({graph.number_of_nodes()} words)")
        component_size = len(nx.node_connected_component(graph.to_undirected(as_view=True), start))
    else:
        components = list(nx.weakly_connected_components(graph))
        largest = min(components, key=lambda c: (-len(c), min(map(str, c))))
        words = sorted(largest, key=str)
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        start = words[int(torch.randint(len(words), (1,), generator=gen))]
        component_size = len(largest)
    if n > component_size:
        raise ValueError(
            f"cannot pick {n} connected words starting from {start!r}: its weakly connected component has "
            f"only {component_size} words"
        )
    chosen = [start]
    seen = {start}
    queue_pos = 0
    while len(chosen) < n:
        u = chosen[queue_pos]  # the chosen list doubles as the BFS queue
        queue_pos += 1
        neighbours = (set(graph.successors(u)) | set(graph.predecessors(u))) - seen
        ranked = sorted(neighbours, key=lambda v: (-_undirected_weight(graph, u, v), str(v)))
        for v in ranked:
            chosen.append(v)
            seen.add(v)
            if len(chosen) == n:
                break
    sub = nx.DiGraph()
    sub.add_nodes_from((v, graph.nodes[v]) for v in chosen)
    sub.add_edges_from((u, v, d) for u, v, d in graph.edges(chosen, data=True) if v in seen)
    return sub


def adjacency(graph: nx.DiGraph, nodes: Sequence[Hashable] | None = None) -> torch.Tensor:
    """Weighted adjacency matrix, float64, ``A[i, j]`` = weight of ``nodes[i] -> nodes[j]`` (0 if no edge).

    ``nodes`` defaults to ``list(graph.nodes)``; edges to words not in ``nodes`` are ignored. Edges
    without a ``weight`` attribute count as 1.
    """
    order = list(graph.nodes) if nodes is None else list(nodes)
    index = {v: i for i, v in enumerate(order)}
    if len(index) != len(order):
        raise ValueError("nodes contains duplicates")
    unknown = [v for v in order if v not in graph]
    if unknown:
        raise ValueError(f"{len(unknown)} nodes are not in the graph, e.g. {unknown[:5]}")
    rows: list[int] = []
    cols: list[int] = []
    weights: list[float] = []
    for u, v, w in graph.edges(order, data="weight", default=1.0):
        j = index.get(v)
        if j is not None:
            rows.append(index[u])
            cols.append(j)
            weights.append(float(w))
    matrix = torch.zeros((len(order), len(order)), dtype=torch.float64)
    matrix[torch.tensor(rows, dtype=torch.long), torch.tensor(cols, dtype=torch.long)] = torch.tensor(
        weights, dtype=torch.float64
    )
    return matrix
