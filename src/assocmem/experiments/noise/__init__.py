"""The experiments of the paper registered as ``"noise"`` in :data:`assocmem.registry.PAPERS` (its citation is declared there, once)."""
