"""The experiments of the paper registered as ``"dia"`` in :data:`assocmem.registry.PAPERS` (its citation is declared there, once)."""
