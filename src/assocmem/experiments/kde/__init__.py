"""The experiments of the paper registered as ``"kde"`` in :data:`assocmem.registry.PAPERS` (its citation is declared there, once)."""
