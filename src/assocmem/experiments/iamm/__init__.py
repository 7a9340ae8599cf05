"""The experiments of the paper registered as ``"iamm"`` in :data:`assocmem.registry.PAPERS` (its citation is declared there, once)."""
