"""The experiments of the paper registered as ``"predictive_coding"`` in :data:`assocmem.registry.PAPERS` (its citation is declared there, once)."""
