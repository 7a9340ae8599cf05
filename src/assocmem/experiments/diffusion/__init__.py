"""The experiments of the paper registered as ``"diffusion"`` in :data:`assocmem.registry.PAPERS` (its citation is declared there, once)."""
