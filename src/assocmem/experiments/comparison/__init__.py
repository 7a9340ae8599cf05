"""The experiments of the paper registered as ``"comparison"`` in :data:`assocmem.registry.PAPERS` (the project's own
side-by-side comparison of every memory on one retrieval task; issue 18)."""
