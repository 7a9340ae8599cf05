"""Snakemake script: CDAM image retrieval on other image sets and larger P (beyond the paper)."""

from pathlib import Path

from assocmem.experiments import cdam_image_retrieval_beyond as exp
from assocmem.pipeline import logged

sm = snakemake  # noqa: F821  (injected by Snakemake)

with logged(sm.log[0]):
    data_dirs = {Path(p).parent for p in sm.input.data}
    if len(data_dirs) != 1:
        raise ValueError(f"expected every prepared image set in one folder, got {sorted(data_dirs)}")
    meta = exp.run_target(sm.config, data_dirs.pop(), Path(sm.output.json).with_suffix(""), sm.threads)
    print(f"{meta['target']}: {meta['verdict']}")
