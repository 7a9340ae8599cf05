"""assocmem: a reproducible replication of the dense associative memory literature.

Notation glossary for the whole core. Every module uses these names; where a paper writes it differently, the
module's docstring says how its paper's symbols map onto these.

===================  ==========================================================================================
symbol               meaning
===================  ==========================================================================================
``Xi``               stored memories, **one per row**: shape ``(..., N, d)`` (``N`` memories of dimension ``d``;
                     leading dimensions are independent memory sets). Papers that store memories as columns are
                     transposed. CDAM (``cdam``) writes ``(p, n)``: ``p`` memories of ``n`` units, the same
                     layout under Burns's letters; the KHM (``kernelized``) writes ``M`` memories of dimension
                     ``d`` (``(..., M, d)``).
``x``, ``sigma``     a batch of states or queries, one per row: ``(B, d)`` (``sigma`` in CDAM).
``beta``             inverse temperature of the separation function (a scalar or one value per state).
``sim(Xi, x)``       similarity of every state to every memory, ``(B, N)``: dot product or negative squared
                     Euclidean distance (``similarity``).
``sep``              separation function over the memory axis: softmax, sparsemax, 1.5-entmax (``separation``).
``Phi``, ``D_Phi``   a learned feature map and its dimension (kernelized Hopfield model, U-Hop+).
``M`` (graph)        CDAM's memory graph, ``(p, p)``; ``a``, ``h``: auto- and hetero-association strengths.
``W``                a weight matrix between neurons (classical memories: ``correlated_recall``,
                     ``constraint_network``, ``sparse_recovery``); there ``N`` counts **neurons**, not memories,
                     and ``M`` counts stored patterns, as in those papers.
===================  ==========================================================================================

The modern Hopfield update is ``x <- Xi^T sep(beta * sim(Xi, x))`` (``dynamics.update``).

The package also holds the registry of papers and targets (``registry``), the two stages of a target
(``stages``) and one command line for all of them (``python -m assocmem``).
"""

__version__ = "0.1.0"
