"""Memory graphs: the graph zoo of the CDAM experiments as adjacency matrices, and the two things computed from one.

``A[mu, nu]`` is the weight of the edge ``mu -> nu`` (float64 tensors, ``(p, p)``); an undirected graph has a
symmetric ``A``. Constructors that need networkx import it inside; everything they return is a tensor.
"""

from __future__ import annotations

import numpy as np
import torch


# ----------------------------------------------------------------------------- constructors


def cycle_graph(p: int, directed: bool = False, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Adjacency ``(p, p)`` of the cycle ``0 -> 1 -> ... -> p-1 -> 0`` (both directions unless ``directed``)."""
    if p < 3:
        raise ValueError(f"a cycle needs at least 3 nodes; got p={p}")
    idx = torch.arange(p)
    A = torch.zeros(p, p, dtype=dtype)
    A[idx, (idx + 1) % p] = 1.0
    if not directed:
        A[(idx + 1) % p, idx] = 1.0
    return A


def from_networkx(G, nodes=None) -> torch.Tensor:
    """Unweighted float64 adjacency of a networkx graph, rows and columns in the order of ``nodes`` (default: the
    graph's own node order)."""
    import networkx as nx

    return torch.tensor(nx.to_numpy_array(G, nodelist=list(G) if nodes is None else nodes, weight=None),
                        dtype=torch.float64)


def karate_club() -> torch.Tensor:
    """Zachary's karate club (34 nodes, 78 edges), nodes numbered as in networkx."""
    import networkx as nx

    G = nx.karate_club_graph()
    return from_networkx(G, sorted(G))


def karate_factions() -> np.ndarray:
    """The club each karate-club member joined after the split: 1 for the officer's, 0 for Mr. Hi's."""
    import networkx as nx

    G = nx.karate_club_graph()
    return np.array([int(G.nodes[i]["club"] == "Officer") for i in range(G.number_of_nodes())])


def tutte() -> torch.Tensor:
    """The Tutte graph (46 nodes, cubic: a centre, node 0, joined to three 15-node fragments), numbered as in
    networkx."""
    import networkx as nx

    G = nx.tutte_graph()
    return from_networkx(G, sorted(G))


def tutte_fragments() -> np.ndarray:
    """Fragment label (0, 1, 2) of every node of :func:`tutte`, -1 for the centre.

    The centre is node 0 (degree 3, one edge into each fragment). Without it each 15-node fragment
    hangs on the rest by exactly two edges, so it is a component left after removing some pair of edges.
    """
    import itertools

    import networkx as nx

    G = nx.tutte_graph()
    rest = G.copy()
    rest.remove_node(0)
    frags: list[frozenset] = []
    for e1, e2 in itertools.combinations(list(rest.edges()), 2):
        cut = rest.copy()
        cut.remove_edges_from([e1, e2])
        for comp in nx.connected_components(cut):
            if len(comp) == 15 and frozenset(comp) not in frags:
                frags.append(frozenset(comp))
        if len(frags) == 3:
            break
    if len(frags) != 3 or len(set().union(*frags)) != 45:
        raise RuntimeError("could not find the Tutte graph's three fragments")
    labels = np.full(G.number_of_nodes(), -1)
    for c, comp in enumerate(sorted(frags, key=min)):
        labels[sorted(comp)] = c
    return labels


def erdos_renyi(p: int, edge_prob: float, seed: int) -> torch.Tensor:
    """A connected ``G(p, edge_prob)`` graph: the first connected draw with networkx seeds ``seed * 1000 + t``,
    ``t = 0, 1, ...`` (at most 1000 tries)."""
    import networkx as nx

    for t in range(1000):
        G = nx.gnp_random_graph(p, edge_prob, seed=seed * 1000 + t)
        if nx.is_connected(G):
            return from_networkx(G, sorted(G))
    raise RuntimeError("no connected Erdos-Renyi graph in 1000 tries; raise edge_prob")


def watts_strogatz(p: int, k: int, rewire: float, seed: int) -> torch.Tensor:
    """A connected Watts-Strogatz small world: a ring of ``p`` nodes, each joined to its ``k`` nearest neighbours,
    edges rewired with probability ``rewire`` (networkx's ``connected_watts_strogatz_graph``, ``seed``)."""
    import networkx as nx

    G = nx.connected_watts_strogatz_graph(p, k, rewire, seed=seed)
    return from_networkx(G, sorted(G))


def automaton(n_states: int, next_state) -> torch.Tensor:
    """Raw adjacency of an automaton in CDAM: ``n_states`` state nodes with self-loops, then one composite node per
    transition, in the order of ``next_state`` (length ``T``), with one edge to the state it leads to;
    ``(n_states + T, n_states + T)``, float64."""
    next_state = torch.as_tensor(next_state, dtype=torch.long).reshape(-1)
    p = n_states + len(next_state)
    A = torch.zeros(p, p, dtype=torch.float64)
    A[range(n_states), range(n_states)] = 1.0
    A[n_states + torch.arange(len(next_state)), next_state] = 1.0
    return A


# ----------------------------------------------------------------------------- derived matrices


def normalized_adjacency(A: torch.Tensor) -> torch.Tensor:
    """``D^-1/2 A D^-1/2`` with ``D`` the row sums; rows (and columns) of zero-degree nodes stay 0."""
    d = A.sum(dim=-1)
    inv = torch.where(d > 0, d.clamp_min(torch.finfo(A.dtype).tiny).rsqrt(), torch.zeros_like(d))
    return inv[..., :, None] * A * inv[..., None, :]


def graph_distance(A: torch.Tensor) -> torch.Tensor:
    """Hop distance ``(p, p)`` of the undirected graph underlying ``A`` (BFS); ``-1`` where unreachable."""
    p = A.shape[0]
    adj = ((A != 0) | (A.T != 0)).to(torch.float32)
    dist = torch.full((p, p), -1, dtype=torch.long)
    reached = torch.eye(p, dtype=torch.bool)
    dist[reached] = 0
    frontier = reached.clone()
    d = 0
    while bool(frontier.any()):
        d += 1
        nxt = ((frontier.to(torch.float32) @ adj) > 0) & ~reached
        dist[nxt] = d
        reached |= nxt
        frontier = nxt
    return dist
