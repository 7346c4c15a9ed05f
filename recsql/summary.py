"""What a ``dbt build`` made: row counts, the quarantine by reason, candidate recall.

``make demo`` prints this after the build so a user sees at once whether their data went
through, and what was set aside and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

MAIN_TABLES = (
    "stg_interactions",
    "int_interactions_clean",
    "int_interactions_rejected",
    "int_items_clean",
    "int_snapshots",
    "int_labels",
    "int_item_popularity",
    "int_user_aggregates",
    "int_item_embeddings",
    "similar_items",
    "fct_candidates",
)


@dataclass(frozen=True)
class BuildSummary:
    row_counts: dict[str, int]
    rejected_by_reason: list[tuple[str, int]]
    snapshots: list[tuple[str, str, str, str | None]]
    candidate_recall: list[tuple[str, str, float, float]]


def existing_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("select table_name from information_schema.tables").fetchall()
    return {name for (name,) in rows}


def summarise_build(db: Path) -> BuildSummary:
    """Read the built warehouse (read-only) and collect the figures worth printing."""
    with duckdb.connect(str(db), read_only=True) as con:
        present = existing_tables(con)
        counts = {
            table: con.execute(f'select count(*) from "{table}"').fetchall()[0][0]
            for table in MAIN_TABLES
            if table in present
        }
        reasons = (
            con.execute(
                "select reason, count(*) from int_interactions_rejected"
                " group by reason order by count(*) desc, reason"
            ).fetchall()
            if "int_interactions_rejected" in present
            else []
        )
        snapshots = (
            con.execute(
                "select snapshot, split, strftime(cutoff_ts, '%Y-%m-%d %H:%M'),"
                " strftime(label_end_ts, '%Y-%m-%d %H:%M') from int_snapshots order by cutoff_ts"
            ).fetchall()
            if "int_snapshots" in present
            else []
        )
        recall = (
            con.execute(
                "select snapshot, generator, recall, candidates_per_user from candidate_recall"
                " where split = 'test' order by generator = 'union' desc, recall desc"
            ).fetchall()
            if "candidate_recall" in present
            else []
        )
    return BuildSummary(counts, reasons, snapshots, recall)


def format_summary(summary: BuildSummary) -> str:
    lines = ["Tables built:"]
    lines += [f"  {table:<28}{rows:>12,}" for table, rows in summary.row_counts.items()]
    raw = summary.row_counts.get("stg_interactions")
    rejected = sum(count for _, count in summary.rejected_by_reason)
    if raw:
        lines.append(f"Quarantined {rejected:,} of {raw:,} raw events ({rejected / raw:.2%}):")
        lines += [f"  {reason:<28}{count:>12,}" for reason, count in summary.rejected_by_reason]
    if summary.snapshots:
        lines.append("Snapshots (features strictly before the cutoff, labels in [cutoff, end)):")
        lines += [
            f"  {name:<10}{split:<7}cutoff {cutoff}   labels until {end or '-'}"
            for name, split, cutoff, end in summary.snapshots
        ]
    if summary.candidate_recall:
        lines.append("Candidate recall on the test snapshot (share of next items proposed):")
        lines += [
            f"  {generator:<20}recall {recall:6.1%}   {per_user:7.1f} candidates/user"
            for _, generator, recall, per_user in summary.candidate_recall
        ]
    return "\n".join(lines)
