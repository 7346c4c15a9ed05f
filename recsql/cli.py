"""The ``recsql`` command line: a thin shell that parses, calls library code, prints."""

from __future__ import annotations

from pathlib import Path

import click

from recsql import paths


def db_option(function):
    """``--db``: the DuckDB file, defaulting to the one the dbt profile builds."""
    return click.option(
        "--db",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="DuckDB file. Default: $RECSQL_DB, else warehouse/recsql.duckdb (as in profiles.yml).",
    )(function)


def resolve_db(db: Path | None) -> Path:
    return db if db is not None else paths.db_path()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="recsql")
def cli() -> None:
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

    path = resolve_db(db)
    if not path.exists():
        raise click.ClickException(
            f"{path} does not exist: run `dbt build --project-dir dbt_project --profiles-dir .` first"
        )
    click.echo(summaries.format_summary(summaries.summarise_build(path)))
