"""Embeddings and neighbours on a generated catalog: SQL path vs direct encode, warm rebuild,
hnswlib recall@10 against exact search, query rate and build time.

    python benchmarks/bench_embeddings.py --items 50000

Appends a record to benchmarks/results/embeddings.json.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
from results_file import append_record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=5_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="recsql-bench-"))
    os.environ.update(RECSQL_WAREHOUSE=str(work), HF_HUB_OFFLINE="1")
    os.environ.pop("RECSQL_CACHE", None)

    from recsql import embeddings
    from recsql.ann import ItemIndex, exact_neighbours
    from recsql.demo_data import generate_demo_data
    from recsql.functions import register_functions
    from recsql.text import normalise_text

    generate_demo_data(work / "raw", users=50, items=args.items, days=30)
    con = duckdb.connect()
    register_functions(con)
    con.execute(
        f"create table texts as select distinct concat_ws('. ', title, category, brand, description) as text"
        f" from '{work / 'raw' / 'items.parquet'}'"
    )
    texts = [row[0] for row in con.execute("select text from texts").fetchall()]
    transformer = embeddings.load_model()  # both paths start with the model loaded
    sql = (
        "create or replace table vectors as select text, recsql_embed(text) as embedding"
        " from (select text from texts order by length(text), text) as by_length"
    )

    started = time.perf_counter()
    con.execute(sql)
    cold_sql = time.perf_counter() - started
    cache = embeddings.default_cache()
    encoded_cold = cache.encoded

    unique = list(dict.fromkeys(normalise_text(t) for t in texts))
    started = time.perf_counter()
    transformer.encode(unique, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    direct = time.perf_counter() - started

    embeddings._CACHES.clear()  # a new process: the cache is read back from disk
    started = time.perf_counter()
    con.execute(sql)
    warm_sql = time.perf_counter() - started
    encoded_warm = embeddings.default_cache().encoded

    table = con.execute("select embedding from vectors").to_arrow_table()
    vectors = np.asarray(table.column(0).combine_chunks().flatten().to_numpy(), np.float32).reshape(
        -1, 384
    )
    ids = [str(i) for i in range(len(vectors))]
    started = time.perf_counter()
    index = ItemIndex.build_or_load("bench", ids, vectors, directory=work / "indexes")
    build = time.perf_counter() - started
    rng = np.random.default_rng(0)
    queries = vectors[rng.choice(len(vectors), size=min(args.queries, len(vectors)), replace=False)]
    started = time.perf_counter()
    labels, _ = index.search(queries, 10)
    query_seconds = time.perf_counter() - started
    exact, _ = exact_neighbours(vectors, queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(labels, exact, strict=True)])
    con.close()

    record = {
        "benchmark": "embeddings",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count()},
        "items": args.items,
        "unique_texts": len(unique),
        "texts_encoded_cold": encoded_cold,
        "texts_encoded_warm": encoded_warm,
        "cold_sql_seconds": round(cold_sql, 2),
        "cold_sql_texts_per_second": round(len(unique) / cold_sql, 1),
        "direct_encode_seconds": round(direct, 2),
        "direct_texts_per_second": round(len(unique) / direct, 1),
        "sql_rate_vs_direct": round(direct / cold_sql, 3),
        "warm_sql_seconds": round(warm_sql, 3),
        "warm_speedup_vs_cold": round(cold_sql / warm_sql, 1),
        "hnsw_params": {"M": 16, "ef_construction": 200, "ef": 100},
        "hnsw_build_seconds": round(build, 2),
        "hnsw_recall_at_10": round(float(recall), 4),
        "hnsw_queries_per_second": round(len(queries) / query_seconds),
        "peak_memory_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    append_record("embeddings", record)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
