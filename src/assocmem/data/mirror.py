"""Finding, verifying and safely writing data files.

Every input file is looked up first in the offline *mirror* folder (which holds a ``SHA256SUMS``
file in the format written by ``sha256sum``) and verified against it. A file missing from the mirror
may be downloaded from its original address when the caller allows it (configuration key
``data.allow_download: true``); a download is verified against a known checksum before it is used.

Everything written by this package goes through :func:`atomic_write`, so a job that is killed
part-way never leaves a half-written file behind under the final name.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.request
from pathlib import Path
from typing import Any

import torch

from ..files import atomic_write, write_json

__all__ = [
    "DataError",
    "atomic_write",
    "default_cache",
    "load_tensors",
    "locate",
    "md5_file",
    "read_checksums",
    "save_tensors",
    "sha256_file",
    "write_metadata",
]

CHECKSUMS_NAME = "SHA256SUMS"
_CHUNK = 1 << 20


class DataError(RuntimeError):
    """A data file is missing, corrupt, or not in the expected format.

    The message always names the file and says what was expected.
    """


# --------------------------------------------------------------------------------------------
# Checksums
# --------------------------------------------------------------------------------------------


def _hash_file(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    return _hash_file(Path(path), "sha256")


def md5_file(path: str | os.PathLike[str]) -> str:
    """Hex MD5 of a file, read in 1 MiB chunks."""
    return _hash_file(Path(path), "md5")


def gunzip_md5(path: str | os.PathLike[str]) -> str:
    """Hex MD5 of the *decompressed* content of a gzip file (streaming).

    Raises :class:`DataError` when the file is not valid gzip or is truncated.
    """
    digest = hashlib.md5()
    try:
        with gzip.open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                digest.update(chunk)
    except (OSError, EOFError) as exc:  # BadGzipFile is an OSError
        raise DataError(f"{path}: cannot decompress it as gzip ({exc}); the file is corrupt or truncated") from exc
    return digest.hexdigest()


def read_checksums(mirror: str | os.PathLike[str]) -> dict[str, str]:
    """Parse ``mirror/SHA256SUMS`` into ``{relative path: lower-case hex SHA-256}``.

    Accepts the ``sha256sum`` output format (``HEX  path`` or ``HEX *path``); blank lines and lines
    starting with ``#`` are ignored. Raises :class:`DataError` if the file is absent or malformed.
    """
    path = Path(mirror) / CHECKSUMS_NAME
    if not path.is_file():
        raise DataError(
            f"{path}: not found; the mirror folder {Path(mirror)} must contain a {CHECKSUMS_NAME} file "
            "(sha256sum format) so its files can be verified"
        )
    sums: dict[str, str] = {}
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(maxsplit=1)
        hexdigest = parts[0].lower()
        if len(parts) != 2 or len(hexdigest) != 64 or any(c not in "0123456789abcdef" for c in hexdigest):
            raise DataError(f"{path}, line {lineno}: expected '<64 hex digits>  <relative path>', got {raw!r}")
        rel = parts[1].strip()
        if rel.startswith("*"):
            rel = rel[1:]
        sums[Path(rel).as_posix().removeprefix("./")] = hexdigest
    return sums


def _short(hexdigest: str) -> str:
    return hexdigest[:12] + "…"


# --------------------------------------------------------------------------------------------
# Atomic writing and tensor files
# --------------------------------------------------------------------------------------------


def save_tensors(obj: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """``torch.save`` a dict of tensors to ``path`` atomically.

    Saved through an open file handle so the archive's internal folder is always ``archive/``: the
    same tensors give the same bytes whatever the (temporary) file name.
    """
    import shutil

    try:
        with atomic_write(path) as tmp, open(tmp, "wb") as fh:
            torch.save(obj, fh)
    except (OSError, RuntimeError) as exc:  # torch reports a full disk as e.g. "unexpected pos 960 vs 854"
        folder = Path(path).resolve().parent
        free = shutil.disk_usage(folder).free if folder.exists() else None
        full = "the disk is full" if free is not None and free < (1 << 20) else "the disk may be full"
        raise DataError(f"{path}: could not be written ({exc}); {full} ({free} bytes free in {folder}); "
                        "nothing was written (no partial file is left). Free some space and run again.") from exc


def load_tensors(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a file written by :func:`save_tensors` (``weights_only=True``: no arbitrary code).

    Raises :class:`DataError` if the file is missing, unreadable or not a dict.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: not found; expected a prepared data file (run `python -m assocmem.data ...`)")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several unrelated types for a bad file
        raise DataError(f"{p}: cannot read it as a torch tensor file ({exc}); delete it and prepare it again") from exc
    if not isinstance(obj, dict):
        raise DataError(f"{p}: expected a dict of tensors, found {type(obj).__name__}")
    return obj


def write_metadata(meta: dict[str, Any], out: str | os.PathLike[str]) -> Path:
    """Write ``meta`` as indented JSON to ``Path(out).with_suffix('.json')`` atomically; return that path.

    For ``out = "x.csv.gz"`` this is ``"x.csv.json"`` (only the last suffix is replaced).
    """
    path = Path(out).with_suffix(".json")
    write_json(meta, path)
    return path


# --------------------------------------------------------------------------------------------
# Locating files: mirror first, then (optionally) a verified download
# --------------------------------------------------------------------------------------------


def default_cache() -> Path:
    """Download folder used when none is given: ``$XDG_CACHE_HOME/assocmem`` (or ``~/.cache/assocmem``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "assocmem"


def _fetch(url: str, dest: Path) -> None:
    """Download ``url`` into ``dest`` with a tqdm progress bar (tests replace this function)."""
    from tqdm import tqdm

    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (fixed https/http URLs)
        total = int(response.headers.get("Content-Length") or 0) or None
        with open(dest, "wb") as fh, tqdm(total=total, unit="B", unit_scale=True, desc=dest.name.lstrip(".")) as bar:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                fh.write(chunk)
                bar.update(len(chunk))


def _verify(path: Path, label: str, sha256: str | None, md5: str | None, content_md5: str | None,
            remedy: str = "Re-copy it from its source (the mirror's README.md says where).") -> None:
    """Check the given checksums of ``path``; ``label`` names the file in error messages, ``remedy`` says what to
    do about a mismatch."""
    checks = (
        ("SHA-256", sha256, sha256_file),
        ("MD5", md5, md5_file),
        ("MD5 of the decompressed content", content_md5, gunzip_md5),
    )
    for what, expected, compute in checks:
        if expected is None:
            continue
        actual = compute(path)
        if actual != expected.lower():
            raise DataError(
                f"{label}: {what} is {_short(actual)}, expected {expected.lower()}; "
                f"the file is corrupt or truncated. {remedy}"
            )


def locate(
    relpath: str,
    mirror: str | os.PathLike[str] | None,
    *,
    allow_download: bool = False,
    url: str | None = None,
    sha256: str | None = None,
    md5: str | None = None,
    content_md5: str | None = None,
    cache: str | os.PathLike[str] | None = None,
) -> Path:
    """Return a verified local path for the data file ``relpath`` (e.g. ``"mnist/train-labels-idx1-ubyte.gz"``).

    1. If ``mirror/relpath`` exists, it is verified against the entry for ``relpath`` in
       ``mirror/SHA256SUMS`` (a missing entry or a mismatch is an error) and returned.
    2. Otherwise, if ``allow_download`` and a ``url`` is given, the file is looked up in
       ``cache/relpath`` (default :func:`default_cache`); if absent or failing verification it is
       downloaded there atomically. It is verified against every checksum given: ``sha256`` and/or
       ``md5`` of the file itself, and/or ``content_md5``, the MD5 of its gunzipped content (for
       originals whose compressed bytes are not pinned). At least one is required.
    3. Otherwise :class:`DataError` explains that the file is missing from the mirror and how to
       enable downloading (configuration key ``data.allow_download: true``).
    """
    relpath = Path(relpath).as_posix()
    if mirror is not None:
        candidate = Path(mirror) / relpath
        if candidate.is_file():
            sums = read_checksums(mirror)
            if relpath not in sums:
                raise DataError(
                    f"{relpath}: present in the mirror {Path(mirror)} but has no entry in its {CHECKSUMS_NAME}; "
                    "expected one so the file can be verified"
                )
            _verify(candidate, relpath, sums[relpath], None, None)
            return candidate

    if allow_download and url:
        if sha256 is None and md5 is None and content_md5 is None:
            raise DataError(f"{relpath}: refusing to download {url} without a checksum (sha256, md5 or content_md5)")
        dest = Path(cache) if cache is not None else default_cache()
        dest = dest / relpath
        if dest.is_file():
            try:
                _verify(dest, str(dest), sha256, md5, content_md5)
                return dest
            except DataError:
                pass  # a stale or partial copy from elsewhere: download it again
        with atomic_write(dest) as tmp:
            try:
                _fetch(url, tmp)
            except OSError as exc:
                raise DataError(f"{relpath}: download from {url} failed ({exc})") from exc
            _verify(tmp, f"{relpath} (downloaded from {url})", sha256, md5, content_md5,
                    remedy="The download was discarded; try again later, or put a verified copy in the mirror.")
        return dest

    if mirror is not None and not Path(mirror).is_dir():
        raise DataError(f"the mirror folder {Path(mirror)} does not exist (looking for {relpath}); set the "
                        "configuration key `data.mirror` (or `--mirror`) to the folder that holds SHA256SUMS")
    where = f"the mirror folder {Path(mirror)}" if mirror is not None else "the mirror (no mirror folder was given)"
    if url:
        hint = (
            f"To download it from {url} instead, set the configuration key `data.allow_download: true` (in a "
            "file given to Snakemake with --configfile; `python -m assocmem.data` takes --allow-download)."
        )
    else:
        hint = "There is no download address for it; put a copy in the mirror (`data.allow_download` cannot help)."
    raise DataError(f"{relpath}: missing from {where}. {hint}")
