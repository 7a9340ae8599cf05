"""The experiments of the paper registered as ``"sparse_recovery"`` in :data:`assocmem.registry.PAPERS` (its citation is declared there, once)."""
