"""Snakemake script: prepare one data set (see assocmem.data)."""

from pathlib import Path

from assocmem import data
from assocmem.pipeline import logged

sm = snakemake  # noqa: F821  (injected by Snakemake)

with logged(sm.log[0]):
    out = Path(sm.output[0])
    # The data options come from the config; the rule's params hold only what the content depends on (the
    # mirror's checksums), so respelling the mirror path or toggling downloads rebuilds nothing.
    opts = sm.config["data"]
    if sm.rule == "prepare_images":
        common = dict(allow_download=opts["allow_download"], cache=Path(opts["cache"]))
        if sm.wildcards.dataset == "cifar10":
            tarball = opts.get("cifar10_tarball")
            meta = data.prepare_cifar10(Path(opts["mirror"]), out, tarball=tarball and Path(tarball), **common)
        else:
            meta = data.prepare_idx_dataset(sm.wildcards.dataset, Path(opts["mirror"]), out, **common)
    elif sm.rule == "prepare_word_association":
        meta = data.prepare_word_association(sm.wildcards.source, Path(opts["mirror"]), out)
    elif sm.rule == "prepare_miyashita":
        meta = data.prepare_miyashita(out, **sm.params.miyashita)
    else:
        raise ValueError(f"prepare_data.py does not handle rule {sm.rule!r}")
    print(meta)
