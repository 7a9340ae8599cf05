"""assocmem: a reproducible replication of the dense associative memory literature.

Notation used throughout the core (Ramsauer et al. 2020; Krotov & Hopfield 2016):

- ``Xi``: the stored memories, a tensor of shape ``(N, d)``; row ``mu`` is memory ``xi_mu``.
- ``x``: a batch of states (queries), shape ``(B, d)``.
- ``beta``: inverse temperature of the separation function.
- ``sim(Xi, x)``: similarity of every state to every memory, shape ``(B, N)``.
- ``sep(beta * s)``: separation function over the memory axis (softmax for the modern Hopfield net).

The modern Hopfield update is ``x <- Xi^T sep(beta * sim(Xi, x))``.
"""

__version__ = "0.1.0"
