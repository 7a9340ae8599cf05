"""The experiments of the paper registered as ``"cdam"`` in :data:`assocmem.registry.PAPERS` (its citation is declared there, once)."""
