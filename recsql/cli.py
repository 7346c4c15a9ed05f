"""The ``recsql`` command line: a thin shell that parses, calls library code, prints.

One error style for every command: ``RecsqlGroup`` turns any failure into one line on stderr
(exit 1) through ``errors.one_line``; ``recsql --debug <command>`` shows the traceback instead.
A command that opens the DuckDB file takes ``@db_option`` (``--db`` and ``--wait``) and calls
``warehouse_file(db)`` first, which waits for another process's lock and refuses a missing
file, a file that is not DuckDB or an unusable memory limit before any work.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from recsql import errors, paths, profile, warehouse


class RecsqlGroup(click.Group):
    """A click group whose commands fail with one line, not a traceback (unless --debug)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:
            if ctx.params.get("debug"):
                raise
            raise click.ClickException(errors.one_line(error)) from error


class RefusedValue(click.BadParameter):
    """A refused option value (exit 2), shown as one ``Error:`` line without the usage block:
    the message already lists what the option may name."""

    def show(self, file=None) -> None:
        click.echo(f"Error: {self.format_message()}", file=file, err=True)


def _set_lock_wait(ctx: click.Context, param: click.Parameter, value: float) -> float:
    warehouse.LOCK_WAIT.set(value)
    return value


def db_option(function):
    """``--db``: the DuckDB file, defaulting to the one the dbt profile builds; ``--wait``: how
    long to wait while another process holds it (not passed to the command)."""
    function = click.option(
        "--wait",
        type=click.FloatRange(min=0),
        default=warehouse.DEFAULT_LOCK_WAIT,
        show_default=True,
        envvar="RECSQL_WAIT",
        expose_value=False,
        callback=_set_lock_wait,
        help="Seconds to wait while another process (a build, a score) holds the DuckDB file "
        "before giving up. Also $RECSQL_WAIT.",
    )(function)
    return click.option(
        "--db",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="DuckDB file. Default: $RECSQL_DB, else the path of the dbt profile's target "
        "(profiles.yml, as dbt finds it), else warehouse/recsql.duckdb.",
    )(function)


def warehouse_file(db: Path | None, *, read_only: bool = True) -> Path:
    """The DuckDB file a command works on, checked before any work: it exists, is a DuckDB
    database, the memory limit is usable, and no other process holds it (after ``--wait``)."""
    path = resolve_db(db)
    _require_file(path)
    warehouse.wait_until_available(path, read_only=read_only)
    return path


def resolve_db(db: Path | None) -> Path:
    if db is not None:
        return db
    try:
        return paths.db_path()
    except profile.ProfileError as error:
        raise click.ClickException(str(error)) from error


@click.group(cls=RecsqlGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="recsql")
@click.option("--debug", is_flag=True, help="Show the full traceback when a command fails.")
def cli(debug: bool) -> None:
    """recsql: recommendations as tables in your DuckDB warehouse.

    \b
    The usual loop:
      recsql demo-data         # or point dbt vars at your own files
      dbt build --project-dir dbt_project --profiles-dir .
      recsql train             # LightGBM ranker + metrics vs baselines
      recsql score             # top-N per user into the recommendations table
      recsql export            # Parquet copies for BI tools
    """


@cli.command()
@db_option
def summary(db: Path | None) -> None:
    """Print what `dbt build` made: row counts, quarantine reasons, candidate recall.

    \b
    Example:  recsql summary --db warehouse/recsql.duckdb
    """
    from recsql import summary as summaries

    path = warehouse_file(db)
    click.echo(summaries.format_summary(summaries.summarise_build(path)))


@cli.command("demo-data")
@click.option(
    "--users", default=10_000, show_default=True, type=click.IntRange(min=1), help="Shoppers."
)
@click.option(
    "--items", default=4_000, show_default=True, type=click.IntRange(min=10), help="Catalog size."
)
@click.option(
    "--days", default=365, show_default=True, type=click.IntRange(min=14), help="Days of history."
)
@click.option("--orders-per-user", default=10.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Mean orders per user over the period (scales the log).")  # fmt: skip
@click.option("--seed", default=42, show_default=True, help="Same seed, same files.")
@click.option(
    "--format", "fmt", type=click.Choice(["parquet", "csv"]), default="parquet", show_default=True
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the files. Default: warehouse/raw (where dbt looks).")  # fmt: skip
def demo_data(
    users: int, items: int, days: int, orders_per_user: float, seed: int, fmt: str, out: Path | None
) -> None:
    """Write a seeded demo shop (interactions, items, users) with realistic dirt.

    \b
    Example:  recsql demo-data --users 2000 --items 800 --format csv
    """
    from recsql.demo_data import generate_demo_data

    target = out or paths.raw_dir()
    try:
        summary = generate_demo_data(
            target,
            users=users,
            items=items,
            days=days,
            orders_per_user=orders_per_user,
            seed=seed,
            fmt=fmt,
        )
    except (OSError, ValueError) as error:
        raise click.ClickException(f"cannot write demo data to {target}: {error}") from error
    for name, rows in summary.rows.items():
        click.echo(f"{summary.files[name]}: {rows:,} rows")
    click.echo(
        "dirt injected: " + ", ".join(f"{kind} {count:,}" for kind, count in summary.dirt.items())
    )


def _load_params(config: Path | None, overrides: dict) -> dict:
    params = {}
    if config is not None:
        try:
            params = json.loads(config.read_text())
        except json.JSONDecodeError as error:
            raise click.BadParameter(
                f"{config} is not valid JSON: {error}", param_hint="--config"
            ) from error
        if not isinstance(params, dict):
            raise click.BadParameter(
                f"{config} must hold a JSON object of LightGBM parameters", param_hint="--config"
            )
    params.update({key: value for key, value in overrides.items() if value is not None})
    return params


@cli.command()
@db_option
@click.option(
    "--rounds",
    default=500,
    show_default=True,
    help="Most boosting rounds (early stopping may stop sooner).",
)
@click.option(
    "--early-stopping",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many rounds without gain on the held-out (latest) train snapshot"
    " [default: 100].",
)
@click.option(
    "--learning-rate",
    type=float,
    default=None,
    help="LightGBM learning_rate [default: 0.03]. 0.06 trains in about half the time and ranked"
    " new items worse on a real log (README, Training).",
)
@click.option("--num-leaves", type=int, default=None, help="LightGBM num_leaves [default: 31].")
@click.option(
    "--objective",
    type=click.Choice(["binary", "lambdarank", "rank_xendcg"]),
    default=None,
    help="LightGBM objective [default: binary]: pointwise log-loss held up better than"
    " lambdarank on real logs with few positives per user; every objective is judged by"
    " NDCG@10 per (snapshot, user).",
)
@click.option(
    "--validation-fraction",
    default=0.15,
    show_default=True,
    help="Share of train users held out for early stopping when there is only one train"
    " snapshot (with several, the latest one chooses the rounds).",
)
@click.option(
    "--negatives-per-query",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="Negatives each fit learns from per (snapshot, user), drawn at random; every positive"
    " stays, and the rows that choose the rounds and judge the ranker stay whole. 0 keeps all"
    " the build kept: rolled-back train snapshots carry var train_negatives_per_query (50).",
)
@click.option(
    "--max-learning-rows",
    type=click.IntRange(min=0),
    default=2_000_000,
    show_default=True,
    help="Rows each fit learns from, at most: past it, a fit learns from a random share of the"
    " queries (whole, with all their sampled rows), so training time stops growing with the"
    " log. The rows that choose the rounds and judge the ranker stay whole. 0: no limit.",
)
@click.option("--seed", default=42, show_default=True, help="Seed for LightGBM and the user split.")
@click.option("--config", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="JSON file of LightGBM parameters (options above win).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def train(
    db,
    rounds,
    early_stopping,
    learning_rate,
    num_leaves,
    objective,
    validation_fraction,
    negatives_per_query,
    max_learning_rows,
    seed,
    config,
    as_json,
) -> None:
    """Fit a LightGBM ranker on fct_candidates and measure it.

    Chooses the number of rounds on the latest train snapshot (early stopping on a time-later
    window), refits on every train snapshot and ranks the test snapshot end-to-end against the
    baselines (recent popularity, each generator then popularity) into model_metrics, with 95 %
    bootstrap intervals. Says plainly whether the ranker beats the best baseline (paired
    bootstrap); `recsql score` serves the winner. The saved model (warehouse/models/<version>/)
    is refit once more with the test window, the most recent one.

    \b
    Example:  recsql train --rounds 300 --learning-rate 0.1
    """
    from recsql import training

    params = _load_params(
        config, {"learning_rate": learning_rate, "num_leaves": num_leaves, "objective": objective}
    )
    path = warehouse_file(db)
    warned = _warned_checks(path, quiet=as_json)
    try:
        result = training.train_ranker(
            path, params=params, rounds=rounds,
            early_stopping=early_stopping or training.EARLY_STOPPING,
            validation_fraction=validation_fraction, seed=seed, show_progress=not as_json,
            negatives_per_query=negatives_per_query or None,
            max_learning_rows=max_learning_rows or None,
        )  # fmt: skip
    except (training.TrainingError, LookupError) as error:
        raise click.ClickException(str(error)) from error
    if as_json:
        click.echo(json.dumps({
            "model_version": result.model_version, "model_dir": str(result.model_dir),
            "best_iteration": result.best_iteration, "rounds_capped": result.rounds_capped,
            "train_rows": result.train_rows, "learning_rows": result.learning_rows,
            "query_share": result.query_share,
            "train_users": result.train_users, "positives": result.positives,
            "verdict": result.verdict.as_dict() if result.verdict else None,
            "warned_checks": None if warned is None else [check.__dict__ for check in warned],
            "metrics": [dict(zip(("model_version", "snapshot", "method", "metric", "k", "value",
                                  "ci95_low", "ci95_high"), row, strict=True))
                        for row in result.metrics],
        }, indent=2))  # fmt: skip
        return
    click.echo(
        f"model {result.model_version}: {result.train_rows:,} rows, {result.train_users:,} users,"
        f" best iteration {result.best_iteration} -> {result.model_dir}"
    )
    if result.rounds_capped:
        click.echo(
            f"the rounds ran out (--rounds {rounds}) while NDCG@10 on the held-out snapshot was"
            " still rising: a larger --rounds may rank better (training time grows with it)"
        )
    from recsql import report

    click.echo(report.metrics_table(result.metrics))
    if result.verdict:
        click.echo(result.verdict.sentence())


def _warned_checks(path: Path, *, quiet: bool) -> list | None:
    """The data checks of the last dbt build that did not pass (table monitor_checks), printed
    before training so a warning is read before the model it concerns is trusted."""
    from recsql import report_data

    warned = report_data.warned_checks(path)
    if quiet or warned is None:
        return warned
    if not warned:
        click.echo("data checks (monitor_checks): all pass")
        return warned
    click.echo(
        f"data checks that did not pass ({len(warned)}, from monitor_checks; thresholds are dbt vars):"
    )
    for check in warned[:20]:
        click.echo(f"  {check.line()}")
    if len(warned) > 20:
        click.echo(f"  ... and {len(warned) - 20} more: `recsql report` shows them all")
    return warned


@cli.command()
@db_option
@click.option(
    "--top-k",
    default=20,
    show_default=True,
    type=click.IntRange(min=1),
    help="Items kept per user.",
)
@click.option(
    "--model", "model_version", default=None, help="Model version to use. Default: the latest."
)
@click.option(
    "--table",
    default="recommendations",
    show_default=True,
    help="Output table (history goes to <table>_history): recommendations, a table an earlier "
    "score made, or a new name in an existing schema; never a table recsql did not make.",
)
@click.option(
    "--method",
    default="best",
    show_default=True,
    help="What ranks the lists: best (what won on the test snapshot in `recsql train`), ranker,"
    " or a baseline such as gen_repurchase or gen_ease (a generator, then popularity).",
)
@click.option(
    "--exclude-seen/--keep-seen",
    default=None,
    help="Leave out (or keep) items the user already had. Default: the build's policy"
    " (var exclude_seen; auto = exclude when re-buys are rare in the train labels).",
)
@click.option(
    "--max-per-category",
    type=click.IntRange(min=1),
    default=None,
    help="At most this many items of one category in a user's list (the next best fill in).",
)
@click.option(
    "--max-per-brand",
    type=click.IntRange(min=1),
    default=None,
    help="At most this many items of one brand in a user's list.",
)
def score(
    db, top_k, model_version, table, method, exclude_seen, max_per_category, max_per_brand
) -> None:
    """Score the serve snapshot and replace the recommendations table.

    Items the catalog marks not available (items_columns: {available: <column>}) are never
    candidates for serving.

    \b
    Example:  recsql score --top-k 10
              recsql score --method ranker --exclude-seen
              recsql score --max-per-category 3 --max-per-brand 2
    """
    from recsql import methods, outputs, scoring

    path = warehouse_file(db)
    try:
        run = scoring.score_serve_snapshot(
            path,
            top_k=top_k,
            model_version=model_version,
            table=table,
            method=method,
            exclude_seen=exclude_seen,
            caps=scoring.Caps(category=max_per_category, brand=max_per_brand),
        )
    except (warehouse.UnsafeName, outputs.NotAnOutputTable) as error:
        raise RefusedValue(str(error), param_hint="--table") from error
    except methods.UnknownMethod as error:
        raise RefusedValue(str(error), param_hint="--method") from error
    except (scoring.FeatureMismatch, LookupError) as error:
        raise click.ClickException(str(error)) from error
    seen = "excluded" if run.seen.exclude else "kept"
    click.echo(f"method {run.method}; items users already had: {seen} ({run.seen.why})")
    if run.short_users:
        click.echo(f"{run.short_users:,} users have fewer than {top_k} items to show")
    click.echo(
        f"{run.rows:,} recommendations for {run.users:,} users in {run.table} (model {run.model_version}, run {run.run_id})"
    )


@cli.command()
@db_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the Parquet files. Default: warehouse/exports.")  # fmt: skip
def export(db, out) -> None:
    """Write recommendations, similar_items and the metrics tables as Parquet for BI tools.

    A BI tool cannot open the DuckDB file while dbt or recsql writes it; the Parquet copies are
    replaced atomically, so a dashboard never reads half a file.

    \b
    Example:  recsql export --out /srv/bi/recsql
    """
    from recsql.export import export_tables

    path = warehouse_file(db)
    written = export_tables(path, out or paths.exports_dir())
    for table, file in written.items():
        click.echo(f"{table} -> {file}")


@cli.command("attach-spark")
@db_option
@click.option("--spark-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The spark target's table folders. Default: $RECSQL_WAREHOUSE/spark/recsql.")  # fmt: skip
def attach_spark(db, spark_dir) -> None:
    """Read a Spark build here: one DuckDB view per table the spark target wrote as Parquet.

    `recsql train`, `score` and `report` then work on the Spark tables as on a DuckDB build.
    Give the views a DuckDB file of their own (--db), not the one a DuckDB build made.

    \b
    Example:  recsql attach-spark --db warehouse/spark.duckdb && recsql train --db warehouse/spark.duckdb
    """
    from recsql import spark_tables

    path = resolve_db(db)
    try:
        names = spark_tables.attach_spark_tables(
            path, spark_dir or spark_tables.default_spark_dir()
        )
    except (FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"{len(names)} views in {path} over the Spark tables (fct_candidates, ...)")


@cli.command()
@db_option
@click.option("--users", "user_count", default=3, show_default=True, help="How many users to show.")
@click.option("--user", "user_ids", multiple=True, help="Show this user (repeatable).")
def show(db, user_count, user_ids) -> None:
    """Print the latest metrics (model vs baselines) and a few users' history beside their top 5.

    \b
    Example:  recsql show --users 5
    """
    from recsql import report

    path = warehouse_file(db)
    try:
        click.echo(report.show(path, user_count=user_count, user_ids=list(user_ids)))
    except LookupError as error:
        raise click.ClickException(str(error)) from error


@cli.command()
@db_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="HTML file to write. Default: $RECSQL_WAREHOUSE/report.html.")  # fmt: skip
@click.option("--users", "user_count", default=3, show_default=True, type=click.IntRange(min=0),
              help="How many users' top items to explain and show.")  # fmt: skip
def report(db, out, user_count) -> None:
    """Write one self-contained HTML page about the latest model and the data behind it.

    Ranker vs every baseline with intervals, candidate recall, feature importance and a few
    users' contributions, scores and first hits, coverage and novelty, quality by segment, the
    trend over model versions and the data checks of monitor_checks. Plots are inline SVG;
    the page fetches nothing when opened.

    \b
    Example:  recsql report --out /tmp/report.html && xdg-open /tmp/report.html
    """
    from recsql import report as reports

    path = warehouse_file(db)
    target = out or paths.warehouse_dir() / "report.html"
    try:
        written = reports.write_report(path, target, user_count=user_count, show_progress=True)
    except LookupError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"report -> {written} (open it in a browser: file://{written.resolve()})")


def _require_file(path: Path) -> None:
    if not path.exists():
        raise click.ClickException(
            f"{path} does not exist: run `dbt build --project-dir dbt_project --profiles-dir .` first"
        )


@cli.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Anything but this machine needs an API key.")  # fmt: skip
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--api-key", envvar="RECSQL_API_KEY", default=None,
              help="Clients send it as the X-API-Key header on /recommendations, /similar and"
              " /feedback. Also $RECSQL_API_KEY. Default: none (loopback only).")  # fmt: skip
@click.option("--rate-limit", default=1000.0, show_default=True, type=click.FloatRange(min=0),
              help="Requests per second per client address; 0 = no limit.")  # fmt: skip
@click.option("--burst", default=2000, show_default=True, type=click.IntRange(min=1),
              help="Requests a client may make at once before the rate applies.")  # fmt: skip
@click.option("--max-body-bytes", default=65536, show_default=True, type=click.IntRange(min=256),
              help="Largest POST /feedback body accepted (413 past it).")  # fmt: skip
@click.option("--table", default="recommendations", show_default=True,
              help="The recommendations table to serve (one `recsql score --table` wrote).")  # fmt: skip
@click.option("--poll-seconds", default=1.0, show_default=True, type=click.FloatRange(min=0.05),
              help="How often to look for a new run in the DuckDB file.")  # fmt: skip
@click.option("--rotate-seconds", default=10.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Feedback segments are sealed (readable by dbt) at least this often.")  # fmt: skip
@click.option("--feedback-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where feedback segments go. Default: $RECSQL_WAREHOUSE/feedback.")  # fmt: skip
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="One JSON log line per request on stderr.")  # fmt: skip
def serve(db, host, port, api_key, rate_limit, burst, max_body_bytes, table, poll_seconds,
          rotate_seconds, feedback_dir, access_log) -> None:  # fmt: skip
    """Serve recommendations, similar items and feedback over HTTP.

    Answers from an in-memory copy of the latest `recsql score` run and swaps in a new run
    when one is published, so it keeps answering while dbt build or recsql score write the
    DuckDB file. Feedback (POST /feedback) is fsynced to $RECSQL_WAREHOUSE/feedback before
    it is acknowledged; the next dbt build reads it (source feedback_events).

    \b
    Routes: GET /recommendations/{user_id}?k=  GET /similar/{item_id}?k=  POST /feedback
            GET /health  GET /ready  GET /metrics (Prometheus)
    Example:  RECSQL_API_KEY=s3cret recsql serve --port 8000
    """
    from recsql import feedback
    from recsql import serve as service

    path = resolve_db(db)
    _require_file(path)
    service.check_binding(host, api_key)
    settings = service.ServeSettings(
        db=path, feedback_dir=feedback_dir or feedback.feedback_dir(), table=table,
        api_key=api_key or None, rate_limit=rate_limit, rate_burst=burst,
        max_body_bytes=max_body_bytes, poll_seconds=poll_seconds, rotate_seconds=rotate_seconds,
        access_log=access_log,
    )  # fmt: skip
    click.echo(f"recsql serve: http://{host}:{port} (Ctrl-C stops)", err=True)
    service.run(settings, host=host, port=port)


@cli.command("demo-feedback")
@db_option
@click.option("--url", default=None,
              help="A running `recsql serve` (http://127.0.0.1:8000). Default: no server; the"
              " events go through the same checks straight into the feedback store.")  # fmt: skip
@click.option("--api-key", envvar="RECSQL_API_KEY", default=None,
              help="Sent as X-API-Key. Also $RECSQL_API_KEY.")  # fmt: skip
@click.option("--shoppers", default=500, show_default=True, type=click.IntRange(min=1),
              help="Visits to simulate (each sees one list).")  # fmt: skip
@click.option("--k", "k", default=10, show_default=True, type=click.IntRange(min=1),
              help="Items each shopper is shown.")  # fmt: skip
@click.option("--seed", default=7, show_default=True, help="Same seed, same shoppers.")
@click.option("--feedback-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Without --url: where segments go. Default: $RECSQL_WAREHOUSE/feedback.")  # fmt: skip
@click.option("--append-purchases-to", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Also add the simulated purchases to this Parquet interaction"
              " log (the demo's: warehouse/raw/interactions.parquet), as the shop's order system"
              " would, so the next dbt build learns from the visits.")  # fmt: skip
def demo_feedback(db, url, api_key, shoppers, k, seed, feedback_dir, append_purchases_to) -> None:
    """Simulate shoppers who see the served lists and click, add to cart or buy.

    Clicks fall with the position shown (the bias a later model must correct for); a few
    shoppers are new to the shop and see the cold-start list. The visits happen on the day
    after the data ends.

    \b
    Example:  recsql demo-feedback --url http://127.0.0.1:8000 --shoppers 1000
              recsql demo-feedback            # no server: straight into the store
              recsql demo-feedback --append-purchases-to warehouse/raw/interactions.parquet
    """
    from recsql import feedback_demo

    path = warehouse_file(db)
    result = feedback_demo.simulate(
        path, shoppers=shoppers, k=k, seed=seed, url=url, api_key=api_key,
        feedback_dir=feedback_dir, append_purchases_to=append_purchases_to,
    )  # fmt: skip
    counts = ", ".join(f"{name} {result.events[name]:,}" for name in
                       ("impression", "click", "add_to_cart", "purchase"))  # fmt: skip
    click.echo(f"{result.shoppers:,} shoppers (run {', '.join(sorted(result.runs))}): {counts}")
    if result.log is not None:
        click.echo(f"{len(result.purchases):,} purchases added to {result.log}")
