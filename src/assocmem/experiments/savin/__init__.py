"""The experiments of the paper registered as ``"savin"`` in :data:`assocmem.registry.PAPERS` (its citation is declared there, once)."""
