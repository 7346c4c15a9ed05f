"""The embedding cache with the real all-MiniLM-L6-v2 model: right vectors, encoded once."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recsql import embeddings
from recsql.embeddings import EmbeddingCache, embed_texts

TEXTS = ["Alpenhof Greek Yoghurt 500g", "Natural yogurt, thick and creamy", "Dog food with chicken"]


@pytest.fixture(scope="module")
def model_id() -> str:
    embeddings.load_model()  # once per module; later calls reuse it
    return embeddings.configured_model()[0]


def cache_in(directory: Path, model_id: str) -> EmbeddingCache:
    return EmbeddingCache(directory, model_id)


def test_vectors_are_384_wide_and_unit_length(tmp_path, model_id) -> None:
    vectors = embed_texts(TEXTS, cache=cache_in(tmp_path, model_id))
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_close_titles_are_nearer_than_unrelated_ones(tmp_path, model_id) -> None:
    yoghurt, yogurt, dog_food = embed_texts(TEXTS, cache=cache_in(tmp_path, model_id))
    assert yoghurt @ yogurt > yoghurt @ dog_food + 0.2


def test_a_cached_vector_is_the_models_vector_and_a_second_call_encodes_nothing(
    tmp_path, model_id
) -> None:
    first = cache_in(tmp_path, model_id)
    fresh = embed_texts(TEXTS, cache=first)
    assert first.encoded == 3
    reloaded = cache_in(tmp_path, model_id)  # a new process would start like this
    cached = embed_texts(TEXTS, cache=reloaded)
    assert reloaded.encoded == 0 and reloaded.hits == 3
    direct = embeddings.encode([embeddings.normalise_text(t) for t in TEXTS])
    assert np.min(np.sum(cached * direct, axis=1)) > 0.9999
    assert np.min(np.sum(cached * fresh, axis=1)) > 0.9999


def test_equal_texts_up_to_width_space_and_case_share_one_entry(tmp_path, model_id) -> None:
    cache = cache_in(tmp_path, model_id)
    vectors = embed_texts(["Ｇｒｅｅｋ  YOGHURT\u00a0", "greek yoghurt"], cache=cache)
    assert cache.encoded == 1
    np.testing.assert_array_equal(vectors[0], vectors[1])


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_corrupt_cache_file_is_reported_and_rebuilt(tmp_path, model_id, damage) -> None:
    embed_texts(TEXTS, cache=cache_in(tmp_path, model_id))
    (shard,) = list(tmp_path.rglob("shard-*.npz"))
    data = bytearray(shard.read_bytes())
    if damage == "truncate":
        shard.write_bytes(bytes(data[: len(data) // 2]))
    else:  # flip bytes inside the vectors, keeping the file readable
        middle = len(data) // 2
        data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
        shard.write_bytes(bytes(data))
    cache = cache_in(tmp_path, model_id)
    with pytest.warns(RuntimeWarning, match="corrupt"):
        vectors = embed_texts(TEXTS, cache=cache)
    assert cache.encoded == 3 and cache.corrupt_files == [shard]
    assert shard.with_suffix(".corrupt").exists()
    reference = embed_texts(TEXTS, cache=cache_in(tmp_path / "clean", model_id))
    assert np.min(np.sum(vectors * reference, axis=1)) > 0.9999


def test_another_model_id_never_reuses_vectors(tmp_path, model_id) -> None:
    embed_texts(TEXTS, cache=cache_in(tmp_path, model_id))
    other = cache_in(tmp_path, "someone/another-model")
    # even a shard copied into the other model's folder is not served
    other.directory.mkdir(parents=True)
    for shard in tmp_path.rglob("shard-*.npz"):
        (other.directory / shard.name).write_bytes(shard.read_bytes())
    _, found = other.lookup([embeddings.text_key(embeddings.normalise_text(t)) for t in TEXTS])
    assert not found.any() and other.hits == 0


def _embed_in_child(directory: str, model_id: str, texts: list[str]) -> None:
    embed_texts(texts, cache=EmbeddingCache(Path(directory), model_id))


def test_concurrent_builds_leave_a_whole_cache(tmp_path, model_id) -> None:
    texts = [f"product number {i} in aisle {i % 7}" for i in range(40)]
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_embed_in_child, args=(str(tmp_path), model_id, part))
        for part in (texts[:30], texts[10:])
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=240)
        assert worker.exitcode == 0
    cache = cache_in(tmp_path, model_id)
    vectors = embed_texts(texts, cache=cache)
    assert cache.encoded == 0 and cache.corrupt_files == []
    direct = embeddings.encode([embeddings.normalise_text(t) for t in texts])
    assert np.min(np.sum(vectors * direct, axis=1)) > 0.9999


def test_a_warm_call_never_imports_torch(tmp_path, model_id) -> None:
    embed_texts(TEXTS, cache=cache_in(tmp_path, model_id))
    script = (
        "import sys; from pathlib import Path; from recsql.embeddings import EmbeddingCache, embed_texts\n"
        f"cache = EmbeddingCache(Path({str(tmp_path)!r}), {model_id!r})\n"
        f"embed_texts({TEXTS!r}, cache=cache)\n"
        "assert cache.encoded == 0, cache.encoded\n"
        "assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
