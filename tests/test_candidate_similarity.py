"""int_candidate_similarity (the sim_ features) against a row-by-row reference.

The model multiplies a user's candidate block with their vectors at once; the reference takes one
candidate at a time in float64. Users are built to hit every edge: no profile, no recent items, a
single recent item, a candidate that is itself the only recent item, lists of different lengths.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from tests.conftest import python_model

DIMENSIONS = 8


def load_model():
    return python_model("intermediate/content/int_candidate_similarity.py")


class FakeDbt:
    """What a dbt-duckdb Python model is handed: ref() gives DuckDB relations."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def config(self, **_: object) -> None:
        pass

    def ref(self, name: str) -> duckdb.DuckDBPyRelation:
        return self.con.table(name)


def unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.standard_normal((n, DIMENSIONS)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(5)
    items = unit_rows(rng, 30)
    users = []  # (candidate item rows, profile or None, recent item rows or None)
    users.append(([1, 2, 3], rng.standard_normal(DIMENSIONS), [4, 5, 6]))
    users.append(([7, 8], None, [9]))  # no profile, a single recent item
    users.append(([10], rng.standard_normal(DIMENSIONS), [10]))  # itself the only recent item
    users.append(([11, 12, 13, 14, 15, 16], rng.standard_normal(DIMENSIONS), None))  # no recent
    users.append(([2, 9, 17], rng.standard_normal(DIMENSIONS), [9, 2]))  # two of them recent
    users.extend(
        (
            list(rng.choice(30, size=rng.integers(1, 12), replace=False)),
            rng.standard_normal(DIMENSIONS) if rng.random() < 0.7 else None,
            list(rng.choice(30, size=rng.integers(1, 5), replace=False))
            if rng.random() < 0.8
            else None,
        )
        for _ in range(20)
    )
    profiles = np.array([p for _, p, _ in users if p is not None], dtype=np.float32)
    con = duckdb.connect()
    con.register("embeddings", pa.table({
        "item_row": np.arange(len(items)), "embedding": pa.array(list(items), pa.list_(pa.float32())),
    }))  # fmt: skip
    con.execute("create table int_item_embeddings as select * from embeddings")
    con.register("profiles", pa.table({
        "snapshot": ["s"] * len(profiles),
        "user_id": [f"u{i:02d}" for i, (_, p, _) in enumerate(users) if p is not None],
        "profile": pa.array(list(profiles), pa.list_(pa.float32())),
    }))  # fmt: skip
    con.execute("create table int_user_profiles as select * from profiles")
    profile_row, seen_profiles = [], 0
    for _, profile, _ in users:
        profile_row.append(seen_profiles if profile is not None else None)
        seen_profiles += profile is not None
    con.register("inputs", pa.table({
        "snapshot": ["s"] * len(users),
        "user_id": [f"u{i:02d}" for i in range(len(users))],
        "item_ids": [[f"i{r}" for r in c] for c, _, _ in users],
        "candidate_ids": [[candidate_id(u, r) for r in c] for u, (c, _, _) in enumerate(users)],
        "item_rows": pa.array([list(map(int, c)) for c, _, _ in users], pa.list_(pa.int64())),
        "profile_row": pa.array(profile_row, pa.int64()),
        "recent_item_ids": [[f"i{r}" for r in recent] if recent is not None else None
                            for _, _, recent in users],
        "recent_rows": pa.array([list(map(int, r)) if r is not None else None for _, _, r in users],
                                pa.list_(pa.int64())),
    }))  # fmt: skip
    con.execute("create table int_candidate_similarity_inputs as select * from inputs")
    return con, items, profiles, users, profile_row


def candidate_id(user: int, item: int) -> int:
    """int_candidates' row id of a test candidate: any number unique per user and item."""
    return 1000 * user + int(item)


def expected_rows(items, profiles, users, profile_row):
    """Each user's candidates in item order (vector row order), however their list came."""
    for index, (candidates, _, recent) in enumerate(users):
        for item in sorted(candidates):
            vector = items[item].astype(np.float64)
            profile = (
                float(vector @ profiles[profile_row[index]])
                if profile_row[index] is not None
                else None
            )
            others = [(position, r) for position, r in enumerate(recent or []) if r != item]
            sims = [float(vector @ items[r]) for _, r in others]
            best = others[int(np.argmax(sims))][1] if sims else None
            yield (
                f"u{index:02d}",
                f"i{item}",
                candidate_id(index, item),
                profile,
                max(sims) if sims else None,
                float(np.mean(sims)) if sims else None,
                f"i{best}" if best is not None else None,
            )


@pytest.mark.parametrize("users_per_batch", [2000, 3])
def test_similarity_matches_a_row_by_row_reference(case, users_per_batch, monkeypatch) -> None:
    """Whole, and in batches of 3 users (the model streams users through in batches)."""
    con, items, profiles, users, profile_row = case
    module = load_model()
    monkeypatch.setattr(module, "USERS_PER_BATCH", users_per_batch)
    table = module.model(FakeDbt(con), con).read_all()
    got = list(
        zip(
            *(
                table.column(name).to_pylist()
                for name in ("user_id", "item_id", "candidate_id", "sim_profile", "sim_recent_max",
                             "sim_recent_mean", "similar_to_item_id")
            ),
            strict=True,
        )
    )  # fmt: skip
    expected = list(expected_rows(items, profiles, users, profile_row))
    assert len(got) == len(expected) == sum(len(c) for c, _, _ in users)
    for row, want in zip(got, expected, strict=True):
        assert row[:3] == want[:3]
        for value, reference in zip(row[3:6], want[3:6], strict=True):
            assert (value is None) == (reference is None), (row, want)
            if value is not None:
                assert value == pytest.approx(reference, abs=1e-6), (row, want)
        assert row[6] == want[6], (row, want)
    # the edges the users were built for
    by_key = {(r[0], r[1]): r for r in got}
    assert by_key[("u01", "i7")][3] is None and by_key[("u01", "i7")][6] == "i9"
    assert by_key[("u02", "i10")][4] is None  # its only recent item is itself
    assert by_key[("u03", "i11")][4] is None and by_key[("u03", "i11")][3] is not None
    assert by_key[("u04", "i2")][6] == "i9" and by_key[("u04", "i9")][6] == "i2"


def test_the_rows_do_not_depend_on_the_order_of_a_users_list(case) -> None:
    """The inputs' candidate lists come from an unordered aggregate: reversed, the model gives
    the same table, rows and bits."""
    con, *_ = case
    module = load_model()
    before = module.model(FakeDbt(con), con).read_all()
    con.execute(
        "create or replace table reversed_inputs as select * replace ("
        " list_reverse(item_ids) as item_ids, list_reverse(candidate_ids) as candidate_ids,"
        " list_reverse(item_rows) as item_rows) from int_candidate_similarity_inputs"
    )
    changed = con.sql(
        "select count(*) from reversed_inputs join int_candidate_similarity_inputs as given"
        " using (user_id) where reversed_inputs.item_rows <> given.item_rows"
    ).fetchall()[0][0]
    assert changed > 10  # most users' lists now come in another order

    class Reversed(FakeDbt):
        def ref(self, name: str) -> duckdb.DuckDBPyRelation:
            return super().ref("reversed_inputs" if name.endswith("_inputs") else name)

    after = module.model(Reversed(con), con).read_all()
    assert after.equals(before)
