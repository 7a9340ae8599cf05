"""The experiments of the paper registered as ``"khm"`` in :data:`assocmem.registry.PAPERS` (its citation is declared there, once)."""
