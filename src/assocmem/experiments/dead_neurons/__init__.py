"""The experiments of the paper registered as ``"dead_neurons"`` in :data:`assocmem.registry.PAPERS` (its citation is declared there, once)."""
