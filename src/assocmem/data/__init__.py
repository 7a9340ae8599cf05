"""Offline data layer: find, verify and convert the data sets into small, documented files.

Inputs come from an offline *mirror* folder (with a ``SHA256SUMS`` file; the pipeline's default is
``../shared/data``, configuration key ``data.mirror``) and are verified before use. A file missing
from the mirror is downloaded from its original address only when ``data.allow_download: true``, and
verified against a known checksum. Every output is written atomically, and every prepared file ``F``
has a JSON metadata file ``F.with_suffix('.json')`` next to it (``mnist.pt`` -> ``mnist.json``,
``usf.csv.gz`` -> ``usf.csv.json``) recording the sources, their checksums and the fidelity.

Command line: ``python -m assocmem.data {mnist,fashion_mnist,cifar10,usf,eat,miyashita} --out FILE``.

Prepared file formats
---------------------
MNIST / Fashion-MNIST (:func:`prepare_idx_dataset`), a ``torch.save`` dict (load with
:func:`load_images`):

    ``train_images`` uint8 (60000, 28, 28), ``train_labels`` int64 (60000,),
    ``test_images`` uint8 (10000, 28, 28), ``test_labels`` int64 (10000,); labels 0-9, original order.
    Metadata ``fidelity``: ``"exact"`` (MNIST is also checked against the official MD5 of the
    uncompressed IDX files).

CIFAR-10 (:func:`prepare_cifar10`), a ``torch.save`` dict:

    ``train_images`` uint8 (50000, 32, 32, 3) (HWC, RGB), ``train_labels`` int64 (50000,),
    ``test_images`` uint8 (10000, 32, 32, 3), ``test_labels`` int64 (10000,).
    From the JPEG mirror: sorted by class (airplane, automobile, bird, cat, deer, dog, frog, horse,
    ship, truck = labels 0-9), within-class order kept; ``fidelity`` =
    ``"JPEG re-encoding (lossy, mean abs error ~5-7/255)"``. From the official python tarball: the
    original order and pixels; ``fidelity`` = ``"exact"``.

Word association, USF and EAT (:func:`prepare_word_association`), a gzipped CSV (load with
:func:`load_graph`):

    header ``source,target,weight``; lower-cased, stripped words; ``weight`` = forward strength
    P(target | cue) in (0, 1] (USF: ``FSG``; EAT: ``R1.Strength``); non-words (e.g. ``?``),
    self-loops and non-positive weights dropped; duplicate pairs merged by summing; sorted by
    (source, target). Details in :mod:`assocmem.data.word_association`.

Miyashita stimuli (:func:`prepare_miyashita`), a ``torch.save`` dict (load with :func:`load_tensors`):

    ``patterns`` float32 (p, n), i.i.d. U[0, 1); ``order`` int64 (p,), the learned presentation order
    (``order[k]`` = stimulus shown at position ``k``); ``position`` int64 (p,), its inverse.
    Defaults p = 97, n = 1000, seed 0; bit-identical for a given seed.

Every data problem raises :class:`DataError` with a message naming the file and what was expected.
"""

from .images import (
    CIFAR10_CLASSES,
    as_patterns,
    load_images,
    prepare_cifar10,
    prepare_idx_dataset,
    read_idx,
)
from .miyashita import make_miyashita, prepare_miyashita, sequence_distance
from .mirror import (
    DataError,
    atomic_write,
    load_tensors,
    locate,
    md5_file,
    read_checksums,
    save_tensors,
    sha256_file,
    write_metadata,
)
from .word_association import adjacency, connected_subgraph, load_graph, prepare_word_association

__all__ = [
    "CIFAR10_CLASSES",
    "DataError",
    "adjacency",
    "as_patterns",
    "atomic_write",
    "connected_subgraph",
    "load_graph",
    "load_images",
    "load_tensors",
    "locate",
    "make_miyashita",
    "md5_file",
    "prepare_cifar10",
    "prepare_idx_dataset",
    "prepare_miyashita",
    "prepare_word_association",
    "read_checksums",
    "read_idx",
    "save_tensors",
    "sequence_distance",
    "sha256_file",
    "write_metadata",
]
