"""The experiments of the paper registered as ``"mhn"`` in :data:`assocmem.registry.PAPERS` (its citation is declared there, once)."""
