"""Command line: prepare one data set without Snakemake.

Examples::

    python -m assocmem.data mnist --out resources/data/mnist.pt --mirror ../shared/data
    python -m assocmem.data cifar10 --out resources/data/cifar10.pt --cifar10-tarball cifar-10-python.tar.gz
    python -m assocmem.data usf --out resources/data/usf.csv.gz
    python -m assocmem.data miyashita --out resources/data/miyashita.pt --n-stimuli 97 --n-neurons 1000 --seed 0

The mirror defaults to ``$ASSOCMEM_DATA_MIRROR``, else ``../shared/data`` (the pipeline's default,
relative to the working directory). Data problems exit with status 1 and the message, no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .images import prepare_cifar10, prepare_idx_dataset
from .miyashita import prepare_miyashita
from .mirror import DataError
from .word_association import prepare_word_association

DATASETS = ("mnist", "fashion_mnist", "cifar10", "usf", "eat", "miyashita")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m assocmem.data", description="Prepare one data set.")
    parser.add_argument("dataset", choices=DATASETS)
    parser.add_argument("--out", type=Path, required=True, help="output file (metadata goes to OUT with .json)")
    parser.add_argument(
        "--mirror",
        type=Path,
        default=Path(os.environ.get("ASSOCMEM_DATA_MIRROR", "../shared/data")),
        help="offline mirror folder with SHA256SUMS (default: $ASSOCMEM_DATA_MIRROR or ../shared/data)",
    )
    parser.add_argument("--allow-download", action="store_true", help="download originals missing from the mirror")
    parser.add_argument("--cache", type=Path, default=None, help="download folder (default ~/.cache/assocmem)")
    parser.add_argument("--cifar10-tarball", type=Path, default=None, help="official cifar-10-python.tar.gz")
    parser.add_argument("--n-stimuli", type=int, default=97, help="miyashita: number of stimuli")
    parser.add_argument("--n-neurons", type=int, default=1000, help="miyashita: pattern dimension")
    parser.add_argument("--seed", type=int, default=0, help="miyashita: seed")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    try:
        if args.dataset in ("mnist", "fashion_mnist"):
            meta = prepare_idx_dataset(
                args.dataset, args.mirror, args.out, allow_download=args.allow_download, cache=args.cache
            )
        elif args.dataset == "cifar10":
            meta = prepare_cifar10(
                args.mirror, args.out, tarball=args.cifar10_tarball, allow_download=args.allow_download,
                cache=args.cache,
            )  # fmt: skip
        elif args.dataset in ("usf", "eat"):
            meta = prepare_word_association(args.dataset, args.mirror, args.out)
        else:
            meta = prepare_miyashita(args.out, n_stimuli=args.n_stimuli, n_neurons=args.n_neurons, seed=args.seed)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - start
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({size / 1e6:.1f} MB) and {args.out.with_suffix('.json')} in {elapsed:.1f} s")
    if "fidelity" in meta:
        print(f"fidelity: {meta['fidelity']}")
    if "n_edges" in meta:
        print(f"{meta['n_nodes']} words, {meta['n_cues']} cues, {meta['n_edges']} edges")
    return 0


if __name__ == "__main__":
    sys.exit(main())
