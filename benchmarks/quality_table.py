"""Print the README's quality table (markdown) from benchmarks/results/quality.json.

    python benchmarks/quality_table.py

The latest record of each subset and variant is shown: NDCG@10 with its 95 % interval for
recsql (mean over seeds) and every peer, the ratio to the best peer and the paired P(not
better).
"""

from __future__ import annotations

import json

from results_file import RESULTS


def main() -> None:
    records = json.loads((RESULTS / "quality.json").read_text())
    latest = {(r["subset"], r["variant"]): r for r in records}
    for (subset, variant), record in latest.items():
        methods = record["methods"]
        recsql = methods["recsql"]
        print(
            f"\n**{record['dataset']}, {subset}, {variant}** ({record['test_users']:,} test users;"
            f" recsql seeds {', '.join(f'{s:.4f}' for s in recsql['seeds'])}; ratio to the best"
            f" peer {record['ratio_vs_best_peer']:.3f}, P(not better) {record['p_not_better']:.3f})\n"
        )
        print("| method | NDCG@10 | 95 % CI | Recall@10 | HitRate@10 | NDCG@20 | coverage@10 |")
        print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
        for name, values in sorted(methods.items(), key=lambda item: -item[1]["ndcg_at_10"]):
            label = f"**{name}**" if name in ("recsql", record["best_peer"]) else name
            low, high = values["ci95"]
            print(
                f"| {label} | {values['ndcg_at_10']:.4f} | [{low:.4f}, {high:.4f}]"
                f" | {values['recall_at_10']:.4f} | {values['hit_rate_at_10']:.4f}"
                f" | {values['ndcg_at_20']:.4f} | {values['coverage_at_10']:.4f} |"
            )


if __name__ == "__main__":
    main()
