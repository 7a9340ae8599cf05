"""Tests of the offline data layer (assocmem.data).

Mirror-based tests read the offline mirror from ``$ASSOCMEM_DATA_MIRROR`` (default: ``shared/data``
next to the repository) and are skipped when it is absent. Nothing here touches the network: the
download branch is exercised by replacing ``assocmem.data.mirror._fetch``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pickle
import shutil
import struct
import tarfile
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from assocmem.data import (
    CIFAR10_CLASSES,
    DataError,
    adjacency,
    as_patterns,
    atomic_write,
    connected_subgraph,
    load_graph,
    load_images,
    load_tensors,
    locate,
    make_miyashita,
    md5_file,
    prepare_cifar10,
    prepare_idx_dataset,
    prepare_miyashita,
    prepare_word_association,
    read_checksums,
    read_idx,
    save_tensors,
    sequence_distance,
    sha256_file,
)
from assocmem.data import images as images_mod
from assocmem.data import mirror as mirror_mod
from assocmem.data.__main__ import main as cli_main

MIRROR = Path(os.environ.get("ASSOCMEM_DATA_MIRROR", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
HAVE_MIRROR = (MIRROR / "SHA256SUMS").is_file()
NO_MIRROR = f"offline data mirror not found at {MIRROR} (set ASSOCMEM_DATA_MIRROR to its folder)"
needs_mirror = pytest.mark.skipif(not HAVE_MIRROR, reason=NO_MIRROR)

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
LABELS_REL = "mnist/t10k-labels-idx1-ubyte.gz"


def _idx_bytes(array: np.ndarray, code: int) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _make_mirror(root: Path, files: dict[str, bytes], sums: dict[str, str] | None = None) -> Path:
    """A mirror folder holding ``files`` and a SHA256SUMS (their true checksums unless ``sums`` given)."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    sums = {rel: _sha(data) for rel, data in files.items()} if sums is None else sums
    (root / "SHA256SUMS").write_text("".join(f"{h}  {rel}\n" for rel, h in sums.items()))
    return root


# ============================================================================================
# mirror.py: checksums, locate, atomic writes
# ============================================================================================


def test_read_checksums_formats(tmp_path: Path) -> None:
    a, b = "a" * 64, "B" * 64
    (tmp_path / "SHA256SUMS").write_text(f"# comment\n\n{a}  x/y.gz\n{b} *./z.bin\n")
    assert read_checksums(tmp_path) == {"x/y.gz": a, "z.bin": "b" * 64}
    (tmp_path / "SHA256SUMS").write_text("nothex  x\n")
    with pytest.raises(DataError, match="line 1"):
        read_checksums(tmp_path)
    with pytest.raises(DataError, match="SHA256SUMS"):
        read_checksums(tmp_path / "nowhere")


def test_hashes_stream(tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 17)  # more than one read chunk
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert md5_file(path) == hashlib.md5(data).hexdigest()


@needs_mirror
def test_every_mirror_file_matches_sha256sums() -> None:
    sums = read_checksums(MIRROR)
    on_disk = {
        p.relative_to(MIRROR).as_posix()
        for p in MIRROR.rglob("*")
        if p.is_file() and p.name not in ("SHA256SUMS", "README.md")
    }
    assert on_disk == set(sums), "every mirror file has exactly one SHA256SUMS entry"
    for rel, expected in sums.items():
        assert sha256_file(MIRROR / rel) == expected, rel
        assert locate(rel, MIRROR) == MIRROR / rel


@needs_mirror
@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupted_mirror_copy_is_rejected(tmp_path: Path, damage: str) -> None:
    data = bytearray((MIRROR / LABELS_REL).read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
    else:
        data = data[: len(data) - 100]
    sums = read_checksums(MIRROR)
    bad = _make_mirror(tmp_path / "mirror", {LABELS_REL: bytes(data)}, sums)
    for rel in sums:  # the other MNIST files intact, so prepare_idx_dataset reaches the damaged one
        if rel.startswith("mnist/") and rel != LABELS_REL:
            (bad / rel).symlink_to(MIRROR / rel)
    with pytest.raises(DataError) as err:
        locate(LABELS_REL, bad)
    message = str(err.value)
    assert LABELS_REL in message and sums[LABELS_REL] in message and "corrupt or truncated" in message
    with pytest.raises(DataError, match=LABELS_REL):
        prepare_idx_dataset("mnist", bad, tmp_path / "out.pt")
    assert not (tmp_path / "out.pt").exists()


def test_mirror_file_without_checksum_entry(tmp_path: Path) -> None:
    mirror = _make_mirror(tmp_path, {"a/b.bin": b"x"}, sums={})
    with pytest.raises(DataError, match="no entry"):
        locate("a/b.bin", mirror)


def test_missing_file_without_download_explains(tmp_path: Path) -> None:
    mirror = _make_mirror(tmp_path / "m", {})
    with pytest.raises(DataError) as err:
        locate("mnist/x.gz", mirror, url="https://example.org/x.gz", sha256="0" * 64)
    message = str(err.value)
    assert "mnist/x.gz" in message and str(mirror) in message and "data.allow_download: true" in message
    with pytest.raises(DataError, match="allow_download"):
        prepare_idx_dataset("mnist", mirror, tmp_path / "mnist.pt")
    with pytest.raises(DataError, match="allow_download"):
        prepare_cifar10(mirror, tmp_path / "cifar.pt")


def _fake_fetch(payload: bytes, calls: list[str]):
    def fetch(url: str, dest: Path) -> None:
        calls.append(url)
        dest.write_bytes(payload)

    return fetch


def test_download_branch_verifies_and_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = b"hello data" * 100
    calls: list[str] = []
    monkeypatch.setattr(mirror_mod, "_fetch", _fake_fetch(payload, calls))
    cache = tmp_path / "cache"
    kw = dict(allow_download=True, url="https://example.org/f.bin", cache=cache)
    path = locate("d/f.bin", tmp_path / "empty-mirror", sha256=_sha(payload), **kw)
    assert path == cache / "d" / "f.bin" and path.read_bytes() == payload
    # A second call finds the verified copy in the cache and does not fetch again.
    assert locate("d/f.bin", None, md5=hashlib.md5(payload).hexdigest(), **kw) == path
    assert len(calls) == 1
    # content_md5 checks the decompressed bytes of a gzip download.
    monkeypatch.setattr(mirror_mod, "_fetch", _fake_fetch(gzip.compress(payload), calls))
    gz = locate("d/f.gz", None, content_md5=hashlib.md5(payload).hexdigest(), **kw)
    assert gzip.decompress(gz.read_bytes()) == payload


def test_download_with_bad_bytes_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mirror_mod, "_fetch", _fake_fetch(b"tampered", []))
    cache = tmp_path / "cache"
    expected = _sha(b"original")
    with pytest.raises(DataError) as err:
        locate("d/f.bin", None, allow_download=True, url="https://example.org/f.bin", sha256=expected, cache=cache)
    assert "d/f.bin" in str(err.value) and expected in str(err.value)
    assert not any(p.is_file() for p in cache.rglob("*")), "no partial or temporary file left"
    with pytest.raises(DataError, match="checksum"):
        locate("d/f.bin", None, allow_download=True, url="https://example.org/f.bin", cache=cache)


def test_failed_fetch_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(url: str, dest: Path) -> None:
        dest.write_bytes(b"half")
        raise ConnectionResetError("connection reset")

    monkeypatch.setattr(mirror_mod, "_fetch", broken)
    with pytest.raises(DataError, match="download .* failed"):
        locate("f.bin", None, allow_download=True, url="https://e.org/f", md5="0" * 32, cache=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_atomic_write(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.bin"
    with atomic_write(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_bytes(b"first")
    assert target.read_bytes() == b"first"
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(target) as tmp:
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt  # like a killed job
    assert target.read_bytes() == b"first", "old file kept"
    assert [p.name for p in target.parent.iterdir()] == ["out.bin"], "no temporary file left"
    with pytest.raises(RuntimeError):
        with atomic_write(tmp_path / "new.bin") as tmp:
            tmp.write_bytes(b"x")
            raise RuntimeError("boom")
    assert not (tmp_path / "new.bin").exists()


def test_save_and_load_tensors(tmp_path: Path) -> None:
    obj = {"a": torch.arange(5), "b": torch.ones(2, 3, dtype=torch.float64)}
    save_tensors(obj, tmp_path / "x.pt")
    back = load_tensors(tmp_path / "x.pt")
    assert back.keys() == obj.keys() and all(torch.equal(back[k], obj[k]) for k in obj)
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(DataError, match="junk.pt"):
        load_tensors(tmp_path / "junk.pt")
    with pytest.raises(DataError, match="not found"):
        load_tensors(tmp_path / "absent.pt")


# ============================================================================================
# images.py: IDX, MNIST, Fashion-MNIST, CIFAR-10
# ============================================================================================


@settings(max_examples=25, deadline=None)
@given(
    shape=st.lists(st.integers(0, 5), min_size=1, max_size=4),
    kind=st.sampled_from([(0x08, "u1"), (0x09, "i1"), (0x0B, "i2"), (0x0C, "i4"), (0x0D, "f4"), (0x0E, "f8")]),
    compress=st.booleans(),
)
def test_read_idx_round_trip(tmp_path_factory: pytest.TempPathFactory, shape, kind, compress: bool) -> None:
    code, dtype = kind
    rng = np.random.default_rng(0)
    array = (rng.standard_normal(shape) * 100).astype(dtype)
    data = _idx_bytes(array, code)
    path = tmp_path_factory.mktemp("idx") / "a.idx"
    path.write_bytes(gzip.compress(data) if compress else data)
    assert np.array_equal(read_idx(path).numpy(), array)


def test_read_idx_rejects_bad_files(tmp_path: Path) -> None:
    good = _idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4), 0x08)
    cases = {
        "magic.idx": (b"\x01\x00" + good[2:], "magic"),
        "code.idx": (good[:2] + b"\x07" + good[3:], "magic"),
        "short.idx": (good[:-1], "truncated"),
        "long.idx": (good + b"\x00", "trailing"),
        "header.idx": (good[:6], "header"),
        "cut.gz": (gzip.compress(good)[:-10], "gzip"),
    }
    for name, (data, words) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DataError, match=words) as err:
            read_idx(tmp_path / name)
        assert name in str(err.value)


@needs_mirror
def test_truncated_real_idx(tmp_path: Path) -> None:
    raw = gzip.decompress((MIRROR / LABELS_REL).read_bytes())
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(raw[:-123]))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: IDX payload is 9877 bytes, expected 10000"):
        read_idx(path)


@pytest.fixture(scope="module")
def mnist(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    if not HAVE_MIRROR:
        pytest.skip(NO_MIRROR)
    out = tmp_path_factory.mktemp("mnist") / "mnist.pt"
    return out, prepare_idx_dataset("mnist", MIRROR, out)


def test_prepared_mnist(mnist: tuple[Path, dict]) -> None:
    out, meta = mnist
    data = load_images(out)
    assert data["train_images"].shape == (60000, 28, 28) and data["train_images"].dtype == torch.uint8
    assert data["test_images"].shape == (10000, 28, 28) and data["test_images"].dtype == torch.uint8
    assert data["train_labels"].dtype == torch.int64 and data["test_labels"].dtype == torch.int64
    assert torch.bincount(data["train_labels"]).tolist() == MNIST_TRAIN_COUNTS
    assert torch.bincount(data["test_labels"]).tolist() == MNIST_TEST_COUNTS
    assert data["train_labels"][:3].tolist() == [5, 0, 4] and data["test_labels"][:3].tolist() == [7, 2, 1]
    assert meta["fidelity"] == "exact" and meta["label_counts"]["train"] == MNIST_TRAIN_COUNTS
    assert json.loads(out.with_suffix(".json").read_text()) == meta


@needs_mirror
def test_mnist_uncompressed_md5_are_official(mnist: tuple[Path, dict]) -> None:
    _, meta = mnist
    official = images_mod.MNIST_CONTENT_MD5
    assert official["train-images-idx3-ubyte"] == "6bbc9ace898e44ae57da46a324031adb"
    for key, fname in images_mod.IDX_FILES.items():
        raw = gzip.decompress((MIRROR / f"mnist/{fname}.gz").read_bytes())
        assert hashlib.md5(raw).hexdigest() == official[fname] == meta["sources"][key]["content_md5"]
        assert meta["sources"][key]["origin"] == "mirror"


@needs_mirror
def test_mnist_download_branch_checks_decompressed_md5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With MNIST absent from the mirror, 'downloads' (copies of the mirror's re-gzipped files) verify."""
    fetched: list[str] = []

    def fetch(url: str, dest: Path) -> None:
        fetched.append(url)
        shutil.copyfile(MIRROR / "mnist" / url.rsplit("/", 1)[1], dest)

    monkeypatch.setattr(mirror_mod, "_fetch", fetch)
    empty = _make_mirror(tmp_path / "mirror", {})
    meta = prepare_idx_dataset("mnist", empty, tmp_path / "m.pt", allow_download=True, cache=tmp_path / "cache")
    assert len(fetched) == 4 and all(u.startswith("https://ossci-datasets.s3.amazonaws.com/mnist/") for u in fetched)
    assert meta["sources"]["train_labels"]["origin"].startswith("https://")
    assert (tmp_path / "cache" / "mnist" / "train-labels-idx1-ubyte.gz").is_file()


@needs_mirror
def test_prepared_fashion_mnist(tmp_path: Path) -> None:
    out = tmp_path / "fashion.pt"
    meta = prepare_idx_dataset("fashion_mnist", MIRROR, out)
    data = load_images(out)
    assert data["train_images"].shape == (60000, 28, 28) and data["test_images"].shape == (10000, 28, 28)
    assert torch.bincount(data["train_labels"]).tolist() == [6000] * 10
    assert torch.bincount(data["test_labels"]).tolist() == [1000] * 10
    assert meta["name"] == "fashion_mnist" and meta["fidelity"] == "exact"


def test_as_patterns() -> None:
    images = torch.tensor([[[0, 255], [51, 102]]], dtype=torch.uint8).repeat(3, 1, 1)
    patterns = as_patterns(images)
    assert patterns.shape == (3, 4) and patterns.dtype == torch.float32
    assert torch.allclose(patterns[0], torch.tensor([0.0, 1.0, 0.2, 0.4]))
    assert as_patterns(images, dtype=torch.float64).dtype == torch.float64
    assert as_patterns(torch.rand(2, 4, 4, 3)).shape == (2, 48)


@needs_mirror
def test_prepared_cifar10_from_jpeg_mirror(tmp_path: Path) -> None:
    """Decodes all 60,000 JPEGs (about 10-20 s on 2 cores)."""
    out = tmp_path / "cifar10.pt"
    meta = prepare_cifar10(MIRROR, out)
    data = load_images(out)
    assert data["train_images"].shape == (50000, 32, 32, 3) and data["train_images"].dtype == torch.uint8
    assert data["test_images"].shape == (10000, 32, 32, 3) and data["test_images"].dtype == torch.uint8
    assert data["train_labels"].tolist() == [c for c in range(10) for _ in range(5000)]
    assert data["test_labels"].tolist() == [c for c in range(10) for _ in range(1000)]
    assert meta["fidelity"] == "JPEG re-encoding (lossy, mean abs error ~5-7/255)"
    assert meta["classes"] == list(CIFAR10_CLASSES)
    assert json.loads(out.with_suffix(".json").read_text())["fidelity"] == meta["fidelity"]
    # Natural images: plausible mean, not blank; classes differ (e.g. ship images are bluer than frogs).
    mean = data["train_images"].float().mean().item()
    assert 100 < mean < 140
    by_class = data["train_images"].float().reshape(10, 5000, -1, 3).mean(dim=(1, 2))
    assert by_class[8, 2] - by_class[8, 0] > by_class[6, 2] - by_class[6, 0]


def _fake_cifar_tarball(path: Path, per_batch: int = 4) -> dict[str, np.ndarray]:
    """A tarball laid out like cifar-10-python.tar.gz with ``per_batch`` random images per batch."""
    rng = np.random.default_rng(1)
    arrays = {}
    with tarfile.open(path, "w:gz") as tf:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]:
            data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
            labels = rng.integers(0, 10, size=per_batch).tolist()
            arrays[name] = (data, np.array(labels))
            payload = pickle.dumps({b"data": data, b"labels": labels, b"batch_label": b"x"}, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload))
    return arrays


def test_cifar10_from_official_tarball(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tarball = tmp_path / "cifar-10-python.tar.gz"
    arrays = _fake_cifar_tarball(tarball)
    with pytest.raises(DataError, match="expected c58f30108f718f92721af3b95e74349a"):
        prepare_cifar10(None, tmp_path / "c.pt", tarball=tarball)
    monkeypatch.setattr(images_mod, "CIFAR10_TARBALL_MD5", md5_file(tarball))
    meta = prepare_cifar10(None, tmp_path / "c.pt", tarball=tarball)
    data = load_images(tmp_path / "c.pt")
    assert meta["fidelity"] == "exact"
    assert data["train_images"].shape == (20, 32, 32, 3) and data["test_images"].shape == (4, 32, 32, 3)
    first, labels = arrays["data_batch_1"]
    # Stored as 1024 red, 1024 green, 1024 blue values per row; prepared as HWC.
    assert np.array_equal(data["train_images"][0].numpy(), first[0].reshape(3, 32, 32).transpose(1, 2, 0))
    assert data["train_labels"][:4].tolist() == labels.tolist()
    assert data["test_labels"].tolist() == arrays["test_batch"][1].tolist()


def test_cifar10_downloads_official_tarball_when_mirror_lacks_jpegs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tarball = tmp_path / "fake.tar.gz"
    _fake_cifar_tarball(tarball, per_batch=2)
    monkeypatch.setattr(images_mod, "CIFAR10_TARBALL_MD5", md5_file(tarball))
    fetched: list[str] = []

    def fetch(url: str, dest: Path) -> None:
        fetched.append(url)
        shutil.copyfile(tarball, dest)

    monkeypatch.setattr(mirror_mod, "_fetch", fetch)
    empty = _make_mirror(tmp_path / "mirror", {})
    meta = prepare_cifar10(empty, tmp_path / "c.pt", allow_download=True, cache=tmp_path / "cache")
    assert fetched == ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]
    assert meta["fidelity"] == "exact" and meta["sources"]["archive"]["origin"] == fetched[0]
    assert load_images(tmp_path / "c.pt")["train_images"].shape == (10, 32, 32, 3)


def test_cifar10_tarball_refuses_foreign_pickles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Evil:
        def __reduce__(self):
            return (os.getcwd, ())

    tarball = tmp_path / "evil.tar.gz"
    with tarfile.open(tarball, "w:gz") as tf:
        payload = pickle.dumps(Evil(), protocol=2)
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        info.size = len(payload)
        tf.addfile(info, io.BytesIO(payload))
    monkeypatch.setattr(images_mod, "CIFAR10_TARBALL_MD5", md5_file(tarball))
    with pytest.raises(DataError, match="refusing to load posix.getcwd|refusing to load"):
        prepare_cifar10(None, tmp_path / "c.pt", tarball=tarball)


# ============================================================================================
# word_association.py
# ============================================================================================


def test_word_association_cleaning(tmp_path: Path) -> None:
    rows = [
        ("cue", "response", "R1", "n", "R1.Strength"),
        ("Dog", " cat ", "5", "10", "0.5"),
        ("dog", "CAT", "2", "10", "0.2"),  # duplicate after normalisation: weights summed
        ("dog", "Dog", "1", "10", "0.1"),  # self-loop
        ("dog", "?", "1", "10", "0.1"),  # non-response
        ("dog", "", "1", "10", "0.1"),  # empty
        ("void", "null", "1", "10", "0.1"),  # a real word that pandas would read as NA
        ("cat", "na", "1", "4", "0.25"),
        ("cat", "ice cream", "1", "4", "0.0"),  # non-positive weight
    ]
    text = "".join(",".join(r) + "\n" for r in rows)
    mirror = _make_mirror(tmp_path / "m", {"word_association/eat.csv.gz": gzip.compress(text.encode())})
    out = tmp_path / "eat.csv.gz"
    meta = prepare_word_association("eat", mirror, out)
    lines = gzip.decompress(out.read_bytes()).decode().splitlines()
    assert lines == ["source,target,weight", "cat,na,0.25", "dog,cat,0.7", "void,null,0.1"]
    assert meta["dropped"] == {
        "rows_read": 8, "not_a_word": 2, "self_loops": 1, "non_positive_weight": 1, "duplicates_merged": 1,
    }  # fmt: skip
    assert meta["n_nodes"] == 5 and meta["n_edges"] == 3 and meta["n_cues"] == 3
    graph = load_graph(out)
    assert graph["void"]["null"]["weight"] == 0.1 and "na" in graph
    assert json.loads((tmp_path / "eat.csv.json").read_text()) == meta
    with pytest.raises(DataError, match="usf_free_association.csv.gz: missing"):
        prepare_word_association("usf", mirror, tmp_path / "usf.csv.gz")


def test_load_graph_rejects_bad_files(tmp_path: Path) -> None:
    for name, text, words in [
        ("header.csv.gz", "a,b,c\n", "header"),
        ("weight.csv.gz", "source,target,weight\nx,y,1.5\n", "outside"),
        ("nan.csv.gz", "source,target,weight\nx,y,abc\n", "not a number"),
    ]:
        (tmp_path / name).write_bytes(gzip.compress(text.encode()))
        with pytest.raises(DataError, match=words):
            load_graph(tmp_path / name)


@pytest.fixture(scope="module")
def usf(tmp_path_factory: pytest.TempPathFactory) -> tuple[nx.DiGraph, dict]:
    if not HAVE_MIRROR:
        pytest.skip(NO_MIRROR)
    out = tmp_path_factory.mktemp("usf") / "usf.csv.gz"
    meta = prepare_word_association("usf", MIRROR, out)
    return load_graph(out), meta


@pytest.fixture(scope="module")
def eat(tmp_path_factory: pytest.TempPathFactory) -> tuple[nx.DiGraph, dict]:
    if not HAVE_MIRROR:
        pytest.skip(NO_MIRROR)
    out = tmp_path_factory.mktemp("eat") / "eat.csv.gz"
    meta = prepare_word_association("eat", MIRROR, out)
    return load_graph(out), meta


def _check_graph(graph: nx.DiGraph, meta: dict) -> None:
    assert graph.number_of_nodes() == meta["n_nodes"] and graph.number_of_edges() == meta["n_edges"]
    weights = np.array([w for _, _, w in graph.edges(data="weight")])
    assert weights.min() > 0 and weights.max() <= 1
    assert nx.number_of_selfloops(graph) == 0
    assert all(w == w.strip().lower() and w for w in graph.nodes)
    # Out-strengths are probabilities of responses to one cue: they cannot sum to much more than 1.
    out_strength = [sum(w for _, _, w in graph.out_edges(c, data="weight")) for c in graph if graph.out_degree(c)]
    assert max(out_strength) < 1.1


def test_usf_graph(usf: tuple[nx.DiGraph, dict]) -> None:
    graph, meta = usf
    _check_graph(graph, meta)
    assert meta["n_cues"] == 5018 and 10000 < meta["n_nodes"] < 11000 and 70000 < meta["n_edges"] < 72176
    assert graph["dog"]["cat"]["weight"] > 0.5  # the classic strong association


def test_eat_graph(eat: tuple[nx.DiGraph, dict]) -> None:
    graph, meta = eat
    _check_graph(graph, meta)
    assert meta["n_cues"] == 8190 and 20000 < meta["n_nodes"] < 25000 and 300000 < meta["n_edges"] < 325042
    assert "null" in graph and "nan" in graph, "words pandas would read as NA are kept"


def test_connected_subgraph_on_usf(usf: tuple[nx.DiGraph, dict]) -> None:
    graph, _ = usf
    sub = connected_subgraph(graph, 50, seed=3)
    assert sub.number_of_nodes() == 50 and nx.is_weakly_connected(sub)
    assert list(sub.nodes) == list(connected_subgraph(graph, 50, seed=3).nodes), "deterministic"
    assert set(sub.nodes) != set(connected_subgraph(graph, 50, seed=4).nodes)
    assert all(sub[u][v]["weight"] == graph[u][v]["weight"] for u, v in sub.edges)
    assert sub.number_of_edges() == graph.subgraph(sub.nodes).number_of_edges(), "induced subgraph"
    dog = connected_subgraph(graph, 20, seed_word=" Dog ")
    assert next(iter(dog.nodes)) == "dog" and nx.is_weakly_connected(dog)
    # Strongest links of dog in either direction: hound -> dog 0.795, puppy -> dog 0.752, dog -> cat 0.667.
    assert list(dog.nodes)[1:4] == ["hound", "puppy", "cat"], "strongest neighbours first, direction ignored"
    a = adjacency(graph, list(dog.nodes))
    assert torch.equal(a, adjacency(dog))
    assert a[0, 3] == graph["dog"]["cat"]["weight"] and a[1, 0] == graph["hound"]["dog"]["weight"]
    with pytest.raises(ValueError, match="not in the graph"):
        connected_subgraph(graph, 5, seed_word="notawordatall")
    with pytest.raises(ValueError, match="only"):
        connected_subgraph(graph, graph.number_of_nodes() + 1)


def test_connected_subgraph_order_and_errors() -> None:
    graph = nx.DiGraph()
    graph.add_weighted_edges_from(
        [("a", "b", 0.1), ("c", "a", 0.5), ("a", "d", 0.5), ("b", "e", 0.9), ("d", "f", 0.2), ("x", "y", 0.3)]
    )
    # From a: neighbours c (0.5, in-edge) and d (0.5) tie -> by word; then b (0.1); then from c nothing,
    # from d: f; then from b: e.
    assert list(connected_subgraph(graph, 6, seed_word="a").nodes) == ["a", "c", "d", "b", "f", "e"]
    assert list(connected_subgraph(graph, 3, seed_word="a").nodes) == ["a", "c", "d"]
    assert set(connected_subgraph(graph, 2, seed=0).nodes) <= set("abcdef"), "seed from the largest component"
    with pytest.raises(ValueError, match="only 2 words"):
        connected_subgraph(graph, 3, seed_word="x")
    with pytest.raises(ValueError):
        connected_subgraph(graph, 0, seed_word="a")


def test_adjacency() -> None:
    graph = nx.DiGraph()
    graph.add_weighted_edges_from([("a", "b", 0.25), ("b", "a", 0.5), ("b", "c", 1.0)])
    a = adjacency(graph)
    assert a.dtype == torch.float64
    assert a.tolist() == [[0, 0.25, 0], [0.5, 0, 1.0], [0, 0, 0]]
    assert adjacency(graph, ["c", "b"]).tolist() == [[0, 0], [1.0, 0]]
    with pytest.raises(ValueError):
        adjacency(graph, ["a", "zzz"])


# ============================================================================================
# miyashita.py
# ============================================================================================


def test_miyashita_patterns() -> None:
    data = make_miyashita()
    assert data["patterns"].shape == (97, 1000) and data["patterns"].dtype == torch.float32
    assert data["order"].dtype == torch.int64 and data["position"].dtype == torch.int64
    assert 0 <= data["patterns"].min() and data["patterns"].max() < 1
    assert abs(data["patterns"].mean().item() - 0.5) < 0.01
    assert torch.equal(torch.sort(data["order"]).values, torch.arange(97))
    assert torch.equal(data["position"][data["order"]], torch.arange(97))
    assert torch.equal(data["order"][data["position"]], torch.arange(97))
    again = make_miyashita(seed=0)
    assert all(torch.equal(data[k], again[k]) for k in data), "bit-identical for the same seed"
    other = make_miyashita(seed=1)
    assert not torch.equal(data["patterns"], other["patterns"]) and not torch.equal(data["order"], other["order"])
    assert make_miyashita(5, 7, seed=2)["patterns"].shape == (5, 7)


def test_sequence_distance() -> None:
    position = torch.tensor([2, 0, 4, 1, 3])  # stimulus i sits at position[i]
    path = sequence_distance(position, cyclic=False)
    cyc = sequence_distance(position, cyclic=True)
    assert path.shape == (5, 5) and path.dtype == torch.int64
    assert path[1, 2] == 4 and cyc[1, 2] == 1  # positions 0 and 4: ends of the path, neighbours on the cycle
    assert path[0, 3] == 1 and cyc[0, 3] == 1
    assert torch.equal(path, path.T) and torch.equal(cyc, cyc.T)
    assert torch.all(path.diagonal() == 0) and cyc.max() == 2 and path.max() == 4
    p = make_miyashita(97, 3)["position"]
    assert sequence_distance(p, cyclic=True).max() == 48
    ring = torch.tensor([[0, 1, 2, 1], [1, 0, 1, 2], [2, 1, 0, 1], [1, 2, 1, 0]])
    assert torch.equal(sequence_distance(torch.arange(4), cyclic=True), ring)


def test_prepare_miyashita_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    meta = prepare_miyashita(tmp_path / "m.pt", n_stimuli=10, n_neurons=20, seed=5)
    loaded = load_tensors(tmp_path / "m.pt")
    assert all(torch.equal(loaded[k], v) for k, v in make_miyashita(10, 20, seed=5).items())
    assert meta["seed"] == 5 and json.loads((tmp_path / "m.json").read_text()) == meta
    argv = ["miyashita", "--out", str(tmp_path / "cli.pt"), "--n-stimuli", "10", "--n-neurons", "20", "--seed", "5"]
    assert cli_main(argv) == 0
    assert "wrote" in capsys.readouterr().out
    assert (tmp_path / "cli.pt").read_bytes() == (tmp_path / "m.pt").read_bytes()


def test_cli_reports_data_errors_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mirror = _make_mirror(tmp_path / "m", {})
    assert cli_main(["usf", "--out", str(tmp_path / "u.csv.gz"), "--mirror", str(mirror)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: word_association/usf_free_association.csv.gz: missing") and "Traceback" not in err
