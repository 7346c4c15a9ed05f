"""The HTML report: one self-contained page (styles, script and SVG pictures inline, nothing
fetched when it is opened) that says whether the model should ship and why.

Sections follow the questions a person asks: do the data checks pass; is the ranker better than
every baseline, by how much and how sure; do the candidates contain what users buy next; what
does the model rely on; how are scores and first hits spread; what does it cover; whom does it
serve badly; is it getting better over versions; what do a few users see.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import jinja2

from recsql import evaluation, metrics, model_files, progress, report, warehouse
from recsql import report_data as data
from recsql import report_plots as plots

KS = metrics.KS
SHOWN_METRICS = ("ndcg", "recall")


def render(db: Path, *, user_count: int = 3, show_progress: bool = False) -> str:
    """The page for the latest registered model of ``db``."""
    with warehouse.connect(db, read_only=True) as con:
        warehouse.require_tables(con, db, "fct_candidates", "candidate_recall")
        model = model_files.load_registered_model(con)
        verdict = model.metadata.get("verdict") or {}
        context = {
            "db": str(db),
            "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "version": model.version,
            "created_at": model.metadata.get("created_at"),
            "verdict": verdict,
            "sections": [],
        }
        sections = context["sections"]
        progress.note("report: data checks", show_progress)
        sections.append(checks_section(con))
        progress.note("report: metrics, candidates, importance", show_progress)
        sections.append(metrics_section(con, model.version, verdict))
        sections.append(recall_section(con))
        sections.append(importance_section(con, model))
        progress.note("report: refitting the evaluated recipe for the test snapshot", show_progress)
        look = data.look_at_test_snapshot(con, model, verdict.get("best_baseline"))
        sections.append(scores_section(look))
        sections.append(coverage_section(con, model.version))
        sections.append(segments_section(look))
        sections.append(trend_section(con))
        sections.append(users_section(con, user_count))
    return PAGE.render(**context)


def section(title: str, anchor: str, intro: str, plots_: Sequence = (), body: str = "") -> dict:
    return {"title": title, "anchor": anchor, "intro": intro, "plots": list(plots_), "body": body}


def checks_section(con: duckdb.DuckDBPyConnection) -> dict:
    checks = data.data_checks(con)
    if checks is None:
        return section("Data checks", "checks", "This warehouse was built before the monitoring"
                       " models: run `dbt build` to get the checks.")  # fmt: skip
    groups: dict[tuple[str, str], list[data.Check]] = {}
    for check in checks:
        groups.setdefault((check.group, check.name), []).append(check)
    rows = []
    for (group, name), members in sorted(groups.items()):
        bad = [check for check in members if check.status != "pass"]
        status = "fail" if any(c.status == "fail" for c in bad) else ("warn" if bad else "pass")
        detail = "; ".join(f"{c.subject} {_number(c.value)}" for c in bad[:8]) or "all pass"
        if len(bad) > 8:
            detail += f"; and {len(bad) - 8} more"
        rows.append(
            f'<tr class="{status}"><td><span class="badge {status}">{status}</span></td>'
            f"<td>{html.escape(group)}</td><td>{html.escape(name)}</td>"
            f"<td>{len(members) - len(bad)} / {len(members)}</td><td>{html.escape(detail)}</td>"
            f"<td>{html.escape(members[0].rule)}</td></tr>"
        )
    table = (
        '<table class="checks"><thead><tr><th>status</th><th>group</th><th>check</th><th>passed</th>'
        "<th>not passed (subject value)</th><th>rule</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )
    drift = [c for c in checks if c.name == "feature_drift" and c.value is not None]
    drift.sort(key=lambda c: -c.value)
    pictures = []
    if drift:
        shown = drift[:20]
        pictures.append(plots.ranked_bars(
            "feature_drift", [c.subject for c in shown], [c.value for c in shown],
            xlabel="PSI, reference snapshot -> serve (largest 20 features)",
            colours=[plots.WARN_COLOUR if c.status != "pass" else plots.RANKER_COLOUR for c in shown],
            threshold=shown[0].threshold,
        ))  # fmt: skip
    # weeks with a fifth of a usual week's rows or less (the first, the last) say little
    quarantine = con.execute(
        "select week, reason, rate from monitor_quarantine where raw_rows >= 0.2 *"
        " (select median(raw_rows) from monitor_quarantine)"
        " and week <= (select max(cutoff_ts) from int_snapshots) order by week"
    ).fetchall() if warehouse.table_exists(con, "monitor_quarantine") else []  # fmt: skip
    if quarantine:
        weeks = sorted({week for week, _, _ in quarantine})
        rates: dict[str, dict] = {}
        for week, reason, rate in quarantine:
            rates.setdefault(reason, {})[week] = rate
        pictures.append(plots.lines(
            "quarantine_rate", weeks,
            {reason: [by_week.get(week, 0.0) for week in weeks] for reason, by_week in sorted(rates.items())},
            ylabel="share of the week's raw rows",
        ))  # fmt: skip
    return section(
        "Data checks",
        "checks",
        "From monitor_checks (dbt build): feature drift between the latest labelled snapshot and"
        " serve, balance of the training data, quarantine jumps. Thresholds are vars in"
        " dbt_project.yml.",
        pictures,
        table,
    )


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def metrics_section(con: duckdb.DuckDBPyConnection, version: str, verdict: dict) -> dict:
    rows = con.execute(
        "select model_version, snapshot, method, metric, k, value, ci95_low, ci95_high"
        " from model_metrics where model_version = ?",
        [version],
    ).fetchall()
    values = {
        (method, metric, k): (value, low, high)
        for _, _, method, metric, k, value, low, high in rows
    }
    methods = sorted({method for method, _, _ in values},
                     key=lambda m: -values.get((m, "ndcg", 10), (0.0,))[0])  # fmt: skip
    picture = plots.methods_vs_k("methods_vs_baselines", values, SHOWN_METRICS, methods, KS)
    sentence = html.escape(_verdict_sentence(verdict))
    body = f"<p class=verdict>{sentence}</p><pre>{html.escape(report.metrics_table(rows))}</pre>"
    return section(
        "Ranker vs every baseline",
        "metrics",
        "The test snapshot, over every test user with labels (end to end, not within the"
        " candidates); bars are means, whiskers 95 % bootstrap intervals over users.",
        [picture],
        body,
    )


def _verdict_sentence(verdict: dict) -> str:
    if not verdict:
        return "No verdict recorded for this model."
    return evaluation.Verdict(
        verdict["best_baseline"], verdict["ranker"], verdict["baseline"], verdict["p_not_better"]
    ).sentence()


def recall_section(con: duckdb.DuckDBPyConnection) -> dict:
    rows = con.execute(
        "select snapshot, generator, recall from candidate_recall order by snapshot, generator"
    ).fetchall()
    snapshots = sorted({snapshot for snapshot, _, _ in rows}, key=lambda s: (s != "test", s))
    recall = {(snapshot, generator): value for snapshot, generator, value in rows}
    generators = sorted({generator for _, generator, _ in rows},
                        key=lambda g: -recall.get(("test", g), recall.get((snapshots[0], g), 0)))  # fmt: skip
    picture = plots.grouped_bars(
        "candidate_recall", generators,
        {snapshot: [recall.get((snapshot, g), 0.0) for g in generators] for snapshot in snapshots},
        xlabel="share of the items users took next that the candidates contain", highlight="union",
    )  # fmt: skip
    return section(
        "Candidate recall",
        "recall",
        "Per generator and for their union, per labelled snapshot: the ceiling of any ranker.",
        [picture],
    )


def importance_section(con: duckdb.DuckDBPyConnection, model: model_files.LoadedModel) -> dict:
    rows = con.execute(
        "select feature_name, coalesce(family, 'other'), gain from feature_importance"
        " where model_version = ? order by gain desc limit 20",
        [model.version],
    ).fetchall()
    total = (
        con.execute(
            "select sum(gain) from feature_importance where model_version = ?", [model.version]
        ).fetchall()[0][0]
        or 1.0
    )
    pictures = [plots.ranked_bars(
        "feature_importance", [name for name, _, _ in rows], [gain / total for _, _, gain in rows],
        xlabel="share of the total gain (top 20 features)",
        colours=[plots.FAMILY_COLOURS.get(family, "#7f7f7f") for _, family, _ in rows],
        legend={family: colour for family, colour in plots.FAMILY_COLOURS.items()
                if family in {f for _, f, _ in rows}},
    )]  # fmt: skip
    intro = "Gain of the saved model, by feature family."
    if warehouse.table_exists(con, "recommendations"):
        users = report.chosen_users(con, 3)
        explained = data.contributions(con, model, users)
        if explained:
            pictures.append(plots.contributions("contributions", explained))
            intro += (
                " Below: for a few users, the features that moved the ranker's score of their top"
                " items most (the same attribution `recsql score` turns into reasons)."
            )
    return section("What the model relies on", "importance", intro, pictures)


def scores_section(look: data.TestLook | None) -> dict:
    if look is None:
        return section("Scores and first hits", "scores", "No labelled test rows to look at.")
    picture = plots.score_and_first_hit(
        "scores_and_first_hit", look.hit_scores, look.other_scores, look.first_hits,
        evaluation.DEPTH,
    )  # fmt: skip
    return section(
        "Scores and first hits",
        "scores",
        "The evaluated recipe (fitted on the train snapshots only) on the test snapshot: how its"
        " scores separate the items users took next, and where each user's first one lands.",
        [picture],
    )


def coverage_section(con: duckdb.DuckDBPyConnection, version: str) -> dict:
    rows = con.execute(
        "select method, metric, k, value from model_metrics where model_version = ?"
        " and metric in ('coverage', 'novelty')",
        [version],
    ).fetchall()
    values = {(method, metric, k): (value, None, None) for method, metric, k, value in rows}
    methods = sorted({method for method, _, _, _ in rows},
                     key=lambda m: (m != "ranker", -values.get((m, "coverage", 10), (0,))[0]))  # fmt: skip
    picture = plots.methods_vs_k(
        "coverage_novelty", values, ("coverage", "novelty"), methods, KS, intervals=False
    )
    return section(
        "Coverage and novelty",
        "coverage",
        "Coverage: distinct items shown in the top K over the catalogue. Novelty: mean"
        " -log2 of a shown item's share of events (higher = less popular items).",
        [picture],
    )


def segments_section(look: data.TestLook | None) -> dict:
    if look is None or not look.segments:
        return section("Quality by segment", "segments", "No labelled test users to cut.")
    picture = plots.segments(
        "segments", look.segments, f"{data.SEGMENT_METRIC}@{data.SEGMENT_K} (mean per user)"
    )
    return section(
        "Quality by segment",
        "segments",
        "Test users cut three ways (users in brackets); the ranker beside the best baseline"
        " when that is a generator.",
        [picture],
    )


def trend_section(con: duckdb.DuckDBPyConnection) -> dict:
    rows = con.execute(
        "select registry.model_version, registry.metadata from model_registry as registry"
        " order by registry.created_at desc, registry.model_version desc limit ?",
        [data.TREND_VERSIONS],
    ).fetchall()[::-1]
    versions, ranker, baseline = [], [], []
    for version, _ in rows:
        found = con.execute(
            "select method, value, ci95_low, ci95_high from model_metrics where model_version = ?"
            " and metric = ? and k = ?",
            [version, evaluation.VERDICT_METRIC, evaluation.VERDICT_K],
        ).fetchall()
        by_method = {method: (value, low, high) for method, value, low, high in found}
        if "ranker" not in by_method:
            continue
        versions.append(version)
        ranker.append(by_method["ranker"])
        others = [value for method, (value, _, _) in by_method.items() if method != "ranker"]
        baseline.append(max(others) if others else None)
    picture = plots.trend(
        "model_trend", versions, ranker, baseline,
        f"{evaluation.VERDICT_METRIC}@{evaluation.VERDICT_K}",
    )  # fmt: skip
    return section(
        "Trend over model versions",
        "trend",
        f"The last {len(versions)} versions in model_registry (each on its own test snapshot).",
        [picture],
    )


def users_section(con: duckdb.DuckDBPyConnection, user_count: int) -> dict:
    if not warehouse.table_exists(con, "recommendations"):
        return section("A few users", "users", "No recommendations yet: run `recsql score`.")
    parts = []
    for user in report.chosen_users(con, user_count):
        history = "".join(
            f"<li>{html.escape(day)} {html.escape(title or '')}</li>"
            for day, title in report.user_history(con, user)
        )
        top = "".join(
            f"<li>{html.escape(title or '')} <span class=reason>{html.escape(reason or '')}</span></li>"
            for _, title, reason in report.user_top(con, user)
        )
        parts.append(
            f'<div class="user"><h3>User {html.escape(user)}</h3><div class="cols">'
            f"<div><h4>recent history</h4><ul>{history}</ul></div>"
            f"<div><h4>top 5 now</h4><ol>{top}</ol></div></div></div>"
        )
    return section(
        "A few users", "users", "Their latest events beside what they are shown now, with the"
        " reason `recsql score` gave.", body="".join(parts),
    )  # fmt: skip


PAGE = jinja2.Environment(autoescape=True).from_string(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>recsql report: model {{ version }}</title>
<style>
  body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2733;
         margin: 0; background: #f6f7f9; }
  header, main { max-width: 920px; margin: 0 auto; padding: 0 24px; }
  header { padding-top: 20px; }
  h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 0 0 6px; }
  h3 { font-size: 15px; margin: 8px 0 4px; } h4 { margin: 4px 0; font-size: 13px; color: #555; }
  nav a { margin-right: 12px; color: #1f5f9f; text-decoration: none; font-size: 13px; }
  section { background: #fff; border: 1px solid #e2e6ea; border-radius: 6px; padding: 14px 18px;
            margin: 14px 0; }
  .meta { color: #5b6875; font-size: 12px; } .intro { color: #3d4a57; margin: 0 0 8px; }
  .verdict { font-weight: 600; }
  figure { margin: 8px 0; } figure svg { display: block; }
  pre { font-size: 11px; overflow-x: auto; background: #f6f7f9; padding: 8px; }
  table.checks { border-collapse: collapse; width: 100%; font-size: 12px; }
  table.checks td, table.checks th { border-bottom: 1px solid #e2e6ea; padding: 4px 6px;
                                     text-align: left; vertical-align: top; }
  .badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff;
           font-weight: 600; font-size: 11px; text-transform: uppercase; }
  .badge.pass { background: #2e7d32; } .badge.warn { background: #c62828; }
  .badge.fail { background: #7f0000; }
  tr.pass.hidden { display: none; }
  .cols { display: flex; gap: 24px; } .cols > div { flex: 1; }
  .reason { color: #5b6875; font-size: 12px; }
  button { font: inherit; font-size: 12px; margin: 4px 0 8px; }
</style>
</head>
<body>
<header>
  <h1>recsql report</h1>
  <p class="meta">model {{ version }} (trained {{ created_at }}) · warehouse {{ db }} · made {{ generated_at }}</p>
  <nav>{% for s in sections %}<a href="#{{ s.anchor }}">{{ s.title }}</a>{% endfor %}</nav>
</header>
<main id="report">
{% for s in sections %}
<section id="{{ s.anchor }}">
  <h2>{{ s.title }}</h2>
  <p class="intro">{{ s.intro }}</p>
  {% if s.anchor == "checks" %}<button type="button" id="toggle-passed">hide passed checks</button>{% endif %}
  {{ s.body | safe }}
  {% for p in s.plots %}
  <figure data-plot="{{ p.name }}" data-width="{{ '%.1f' % p.width_px }}" data-height="{{ '%.1f' % p.height_px }}">{{ p.svg | safe }}</figure>
  {% endfor %}
</section>
{% endfor %}
</main>
<script>
  // hide or show the checks that passed, so the ones that did not stand out
  (function () {
    var button = document.getElementById("toggle-passed");
    if (!button) { return; }
    button.addEventListener("click", function () {
      var rows = document.querySelectorAll("table.checks tr.pass");
      var hide = button.textContent.indexOf("hide") === 0;
      rows.forEach(function (row) { row.classList.toggle("hidden", hide); });
      button.textContent = (hide ? "show" : "hide") + " passed checks";
    });
  })();
</script>
</body>
</html>
"""
)
