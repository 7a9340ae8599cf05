"""The experiments of the paper registered as ``"drdam"`` in :data:`assocmem.registry.PAPERS` (its citation is declared there, once)."""
