"""The experiments of the paper registered as ``"entropic_am"`` in :data:`assocmem.registry.PAPERS` (its citation is declared there, once)."""
