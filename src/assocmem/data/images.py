"""Image data sets: MNIST, Fashion-MNIST (IDX files) and CIFAR-10 (JPEG mirror or official tarball).

Prepared files are ``torch.save`` dicts (see :mod:`assocmem.data` for the exact format) with a JSON
metadata file next to them recording the sources, their checksums and the fidelity of the pixels.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from .mirror import (
    DataError,
    load_tensors,
    locate,
    md5_file,
    save_tensors,
    sha256_file,
    write_metadata,
)

__all__ = [
    "CIFAR10_CLASSES",
    "as_patterns",
    "load_images",
    "prepare_cifar10",
    "prepare_idx_dataset",
    "read_idx",
]

# --------------------------------------------------------------------------------------------
# Known sources
# --------------------------------------------------------------------------------------------

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

IDX_URLS = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/{name}.gz",
    "fashion_mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/{name}.gz",
}

#: Official MD5 of the *uncompressed* MNIST IDX files (the mirror's gzip files are re-compressed).
MNIST_CONTENT_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}

#: Official MD5 of the Fashion-MNIST *gzip* files as downloaded (the mirror's Debian copies differ).
FASHION_MNIST_GZ_MD5 = {
    "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
}

IDX_COUNTS = {"train": 60000, "test": 10000}

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
CIFAR10_JPG_RELPATH = "cifar10/cifar10-jpg.tar.gz"
CIFAR10_TARBALL_RELPATH = "cifar10/cifar-10-python.tar.gz"
CIFAR10_TARBALL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_TARBALL_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_COUNTS = {"train": 5000, "test": 1000}  # images per class in the JPEG mirror
FIDELITY_EXACT = "exact"
FIDELITY_JPEG = "JPEG re-encoding (lossy, mean abs error ~5-7/255)"

# --------------------------------------------------------------------------------------------
# IDX
# --------------------------------------------------------------------------------------------

_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_maybe_gzip(path: Path) -> bytes:
    with open(path, "rb") as fh:
        magic = fh.read(2)
    try:
        if magic == b"\x1f\x8b":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot decompress it as gzip ({exc}); the file is corrupt or truncated") from exc


def read_idx(path: str | os.PathLike[str]) -> torch.Tensor:
    """Read an IDX file (gzipped or plain, detected from its first bytes) into a tensor.

    Checks the magic number (two zero bytes, a known dtype code, 1-4 dimensions) and that the payload
    holds exactly ``prod(dims)`` items; anything else raises :class:`DataError` naming the file.
    Multi-byte values are big-endian on disk and returned in native byte order.
    """
    return _parse_idx(_read_maybe_gzip(Path(path)), str(path))


def _parse_idx(data: bytes, p: str) -> torch.Tensor:
    """Parse the bytes of an IDX file; ``p`` names the file in error messages."""
    if len(data) < 4:
        raise DataError(f"{p}: {len(data)} bytes, expected an IDX header of at least 4 bytes")
    zero, code, ndim = int.from_bytes(data[0:2], "big"), data[2], data[3]
    if zero != 0 or code not in _IDX_DTYPES or not 1 <= ndim <= 4:
        raise DataError(
            f"{p}: bad IDX magic number 0x{data[:4].hex()}; expected 0x0000, a dtype code in "
            f"{{{', '.join(f'0x{c:02x}' for c in _IDX_DTYPES)}}} and 1-4 dimensions"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{p}: truncated IDX header ({len(data)} bytes, expected {header})")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header
    if actual != expected:
        state = "truncated" if actual < expected else "has trailing bytes"
        raise DataError(
            f"{p}: IDX payload is {actual} bytes, expected {expected} for shape {dims} of {dtype.name}; "
            f"the file {state}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return torch.from_numpy(array.astype(dtype.newbyteorder("="), copy=True))


def prepare_idx_dataset(
    name: str,
    mirror: str | os.PathLike[str] | None,
    out: str | os.PathLike[str],
    *,
    allow_download: bool = False,
    cache: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Prepare MNIST or Fashion-MNIST (``name`` in ``{"mnist", "fashion_mnist"}``) into ``out``.

    Reads the four IDX files via :func:`~assocmem.data.mirror.locate` (mirror first; downloads only
    if ``allow_download``), checks shapes, label range and -- for MNIST -- the official MD5 of the
    decompressed files, then writes ``out`` (``train_images`` uint8 (60000, 28, 28), ``train_labels``
    int64, ``test_images`` uint8 (10000, 28, 28), ``test_labels`` int64) and ``out.with_suffix('.json')``.
    Returns the metadata dict.
    """
    if name not in IDX_URLS:
        raise ValueError(f"unknown IDX data set {name!r}; choose one of {sorted(IDX_URLS)}")
    out = Path(out)
    tensors: dict[str, torch.Tensor] = {}
    sources: dict[str, dict[str, str]] = {}
    for key, fname in IDX_FILES.items():
        rel = f"{name}/{fname}.gz"
        url = IDX_URLS[name].format(name=fname)
        if name == "mnist":
            path = locate(
                rel, mirror, allow_download=allow_download, url=url,
                content_md5=MNIST_CONTENT_MD5[fname], cache=cache,
            )  # fmt: skip
        else:
            path = locate(
                rel, mirror, allow_download=allow_download, url=url, md5=FASHION_MNIST_GZ_MD5[fname], cache=cache
            )
        raw = _read_maybe_gzip(path)
        content_md5 = hashlib.md5(raw).hexdigest()
        if name == "mnist" and content_md5 != MNIST_CONTENT_MD5[fname]:
            raise DataError(
                f"{rel}: MD5 of the decompressed content is {content_md5[:12]}…, expected "
                f"{MNIST_CONTENT_MD5[fname]} (official MNIST); the file is not the original data"
            )
        tensor = _parse_idx(raw, rel)
        split, kind = key.split("_")
        count = IDX_COUNTS[split]
        want = (count, 28, 28) if kind == "images" else (count,)
        if tuple(tensor.shape) != want or tensor.dtype != torch.uint8:
            raise DataError(f"{rel}: shape {tuple(tensor.shape)} {tensor.dtype}, expected {want} uint8")
        if kind == "labels":
            if int(tensor.max()) > 9:
                raise DataError(f"{rel}: label {int(tensor.max())} found, expected labels 0-9")
            tensor = tensor.to(torch.int64)
        tensors[key] = tensor
        sources[key] = {
            "file": rel,
            "sha256": sha256_file(path),
            "md5": md5_file(path),
            "content_md5": content_md5,
            "origin": _origin(path, mirror, url),
        }
    save_tensors(tensors, out)
    meta = {
        "name": name,
        "format": "torch.save dict of tensors",
        "fidelity": FIDELITY_EXACT,
        "sources": sources,
        "tensors": _describe(tensors),
        "label_counts": {
            split: torch.bincount(tensors[f"{split}_labels"], minlength=10).tolist() for split in IDX_COUNTS
        },
    }
    write_metadata(meta, out)
    return meta


# --------------------------------------------------------------------------------------------
# CIFAR-10
# --------------------------------------------------------------------------------------------


def _decode_jpeg(data: bytes, member: str) -> np.ndarray:
    from PIL import Image

    try:
        im = Image.open(io.BytesIO(data), formats=("JPEG",))
        if im.mode != "RGB":
            im = im.convert("RGB")
        array = np.frombuffer(im.tobytes(), dtype=np.uint8).reshape(im.height, im.width, 3)
    except Exception as exc:  # PIL raises many types for damaged images
        raise DataError(f"{CIFAR10_JPG_RELPATH}: {member} is not a readable JPEG ({exc})") from exc
    if array.shape != (32, 32, 3):
        raise DataError(f"{CIFAR10_JPG_RELPATH}: {member} has shape {array.shape}, expected (32, 32, 3)")
    return array


def _cifar10_from_jpeg(path: Path) -> dict[str, torch.Tensor]:
    """Decode the JPEG mirror tarball, streaming; images go to their (split, class, index) slot."""
    class_index = {c: i for i, c in enumerate(CIFAR10_CLASSES)}
    per_class = CIFAR10_COUNTS
    images = {s: np.zeros((10 * n, 32, 32, 3), dtype=np.uint8) for s, n in per_class.items()}
    seen = {s: np.zeros(10 * n, dtype=bool) for s, n in per_class.items()}
    try:
        with tarfile.open(path, mode="r|gz") as tf:
            for member in tf:
                if not member.isfile():
                    continue
                parts = member.name.split("/")
                if len(parts) != 4 or parts[0] != "cifar10-jpg" or not parts[3].endswith(".jpg"):
                    raise DataError(
                        f"{CIFAR10_JPG_RELPATH}: unexpected member {member.name!r}; "
                        "expected cifar10-jpg/{train,test}/<class>/NNNN.jpg"
                    )
                _, split, cls, fname = parts
                stem = fname[: -len(".jpg")]
                if split not in per_class or cls not in class_index or not stem.isdigit():
                    raise DataError(f"{CIFAR10_JPG_RELPATH}: unexpected member {member.name!r}")
                index = int(stem)
                if index >= per_class[split]:
                    raise DataError(
                        f"{CIFAR10_JPG_RELPATH}: {member.name} has index {index}, expected < {per_class[split]}"
                    )
                slot = class_index[cls] * per_class[split] + index
                if seen[split][slot]:
                    raise DataError(f"{CIFAR10_JPG_RELPATH}: {member.name} appears twice")
                fh = tf.extractfile(member)
                assert fh is not None
                images[split][slot] = _decode_jpeg(fh.read(), member.name)
                seen[split][slot] = True
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{CIFAR10_JPG_RELPATH}: cannot read it as a .tar.gz ({exc}); corrupt or truncated") from exc
    for split, flags in seen.items():
        if not flags.all():
            missing = int((~flags).sum())
            raise DataError(
                f"{CIFAR10_JPG_RELPATH}: {missing} {split} images missing; expected {per_class[split]} per class"
            )
    out: dict[str, torch.Tensor] = {}
    for split, n in per_class.items():
        out[f"{split}_images"] = torch.from_numpy(images[split])
        out[f"{split}_labels"] = torch.arange(10, dtype=torch.int64).repeat_interleave(n)
    return out


class _BatchUnpickler(pickle.Unpickler):
    """Unpickler for the CIFAR-10 python batches that only rebuilds numpy arrays and plain types."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR-10 batch")
        return super().find_class(module, name)


def _load_batch(fh: BinaryIO, member: str, label: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = _BatchUnpickler(fh, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except Exception as exc:
        raise DataError(f"{label}: {member} is not a CIFAR-10 python batch ({exc})") from exc
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
        raise DataError(f"{label}: {member} has data {data.shape} and labels {labels.shape}, expected (k, 3072), (k,)")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{label}: {member} has labels outside 0-9")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _cifar10_from_tarball(path: Path, label: str) -> dict[str, torch.Tensor]:
    """Read ``cifar-10-batches-py/{data_batch_1..5,test_batch}`` from the official tarball, streaming."""
    wanted = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    batches: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        with tarfile.open(path, mode="r|gz") as tf:
            for member in tf:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in wanted:
                    fh = tf.extractfile(member)
                    assert fh is not None
                    batches[base] = _load_batch(fh, member.name, label)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{label}: cannot read it as a .tar.gz ({exc}); corrupt or truncated") from exc
    missing = [b for b in wanted if b not in batches]
    if missing:
        raise DataError(f"{label}: batches {missing} missing; expected cifar-10-batches-py/{{{','.join(wanted)}}}")
    train = [batches[b] for b in wanted[:5]]
    return {
        "train_images": torch.from_numpy(np.ascontiguousarray(np.concatenate([d for d, _ in train]))),
        "train_labels": torch.from_numpy(np.concatenate([lab for _, lab in train])),
        "test_images": torch.from_numpy(np.ascontiguousarray(batches["test_batch"][0])),
        "test_labels": torch.from_numpy(batches["test_batch"][1]),
    }


def prepare_cifar10(
    mirror: str | os.PathLike[str] | None,
    out: str | os.PathLike[str],
    *,
    tarball: str | os.PathLike[str] | None = None,
    allow_download: bool = False,
    cache: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Prepare CIFAR-10 into ``out``: ``{train,test}_images`` uint8 (N, 32, 32, 3), ``{train,test}_labels`` int64.

    Source, in order of preference:

    - ``tarball`` given: the official python tarball at that path (MD5 verified; exact pixels);
    - the JPEG mirror ``cifar10/cifar10-jpg.tar.gz`` (SHA-256 verified; *lossy* JPEG re-encoding),
      ordered by class (:data:`CIFAR10_CLASSES`), within-class file order kept, train then test;
    - if the JPEG mirror is missing and ``allow_download``: the official tarball, downloaded to
      ``cache`` and MD5 verified.

    Tar files are read sequentially without extracting to disk. The metadata (returned and written
    to ``out.with_suffix('.json')``) records the source and ``fidelity``.
    """
    out = Path(out)
    jpeg_in_mirror = mirror is not None and (Path(mirror) / CIFAR10_JPG_RELPATH).is_file()
    if tarball is not None:
        path = Path(tarball)
        if not path.is_file():
            raise DataError(f"{path}: CIFAR-10 tarball not found; expected the official cifar-10-python.tar.gz")
        digest = md5_file(path)
        if digest != CIFAR10_TARBALL_MD5:
            raise DataError(
                f"{path}: MD5 is {digest[:12]}…, expected {CIFAR10_TARBALL_MD5} (official cifar-10-python.tar.gz); "
                "the file is corrupt, truncated or a different release"
            )
        use_tarball, origin = True, str(path)
    elif jpeg_in_mirror or not allow_download:
        # Without the JPEG mirror the error message says how to download the official tarball.
        path = locate(CIFAR10_JPG_RELPATH, mirror, url=CIFAR10_TARBALL_URL)
        use_tarball, origin = False, "mirror"
    else:
        path = locate(
            CIFAR10_TARBALL_RELPATH, None, allow_download=True, url=CIFAR10_TARBALL_URL,
            md5=CIFAR10_TARBALL_MD5, cache=cache,
        )  # fmt: skip
        use_tarball, origin = True, CIFAR10_TARBALL_URL
    if use_tarball:
        tensors = _cifar10_from_tarball(path, str(path))
        relname, fidelity = CIFAR10_TARBALL_RELPATH, FIDELITY_EXACT
    else:
        tensors = _cifar10_from_jpeg(path)
        relname, fidelity = CIFAR10_JPG_RELPATH, FIDELITY_JPEG
    save_tensors(tensors, out)
    meta: dict[str, Any] = {
        "name": "cifar10",
        "format": "torch.save dict of tensors",
        "fidelity": fidelity,
        "classes": list(CIFAR10_CLASSES),
        "sources": {"archive": {"file": relname, "sha256": sha256_file(path), "md5": md5_file(path), "origin": origin}},
        "tensors": _describe(tensors),
        "label_counts": {
            split: torch.bincount(tensors[f"{split}_labels"], minlength=10).tolist() for split in ("train", "test")
        },
    }
    if not use_tarball:
        from PIL import __version__ as pil_version
        from PIL import features

        meta["decoder"] = f"Pillow {pil_version}, libjpeg {features.version('jpg')}"
        meta["order"] = "by class, then file index within the class (original global order not recoverable)"
    write_metadata(meta, out)
    return meta


# --------------------------------------------------------------------------------------------
# Using prepared files
# --------------------------------------------------------------------------------------------

_IMAGE_KEYS = ("train_images", "train_labels", "test_images", "test_labels")


def load_images(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Load a prepared image file; checks that the four expected tensors are present."""
    data = load_tensors(path)
    missing = [k for k in _IMAGE_KEYS if k not in data]
    if missing:
        raise DataError(f"{path}: missing tensors {missing}; expected {list(_IMAGE_KEYS)}")
    for split in ("train", "test"):
        if data[f"{split}_images"].shape[0] != data[f"{split}_labels"].shape[0]:
            raise DataError(f"{path}: {split}_images and {split}_labels have different lengths")
    return data


def as_patterns(images: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Flatten images ``(N, ...)`` to patterns ``(N, d)``; uint8 is scaled by 1/255 to [0, 1].

    Floating inputs are assumed to be in [0, 1] already and are only reshaped and cast.
    """
    flat = images.reshape(images.shape[0], -1)
    if images.dtype == torch.uint8:
        return flat.to(dtype) / 255.0
    if not images.is_floating_point():
        raise TypeError(f"expected uint8 or floating images, got {images.dtype}")
    return flat.to(dtype)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _origin(path: Path, mirror: str | os.PathLike[str] | None, url: str) -> str:
    if mirror is not None and Path(path).resolve().is_relative_to(Path(mirror).resolve()):
        return "mirror"
    return url


def _describe(tensors: dict[str, torch.Tensor]) -> dict[str, dict[str, Any]]:
    return {k: {"shape": list(v.shape), "dtype": str(v.dtype).removeprefix("torch.")} for k, v in tensors.items()}
