"""The experiments of the paper registered as ``"sequential_learning"`` in :data:`assocmem.registry.PAPERS` (its citation is declared there, once)."""
