"""The README and --help stay true: every command has help with an example and is documented."""

from __future__ import annotations

import re
from pathlib import Path

import click
from click.testing import CliRunner

from recsql.cli import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_command_has_help_with_an_example_and_appears_in_the_readme() -> None:
    runner = CliRunner()
    assert isinstance(cli, click.Group)
    assert cli.commands, "no commands registered"
    for name in cli.commands:
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Example" in result.output, f"recsql {name} --help has no example"
        assert f"recsql {name}" in README, f"README never shows `recsql {name}`"


def test_the_readme_shows_the_two_setup_commands_and_the_dbt_invocation() -> None:
    assert "make demo" in README and "make test" in README
    assert "dbt build --project-dir dbt_project --profiles-dir ." in README


def test_every_var_in_the_readme_table_exists_in_dbt_project() -> None:
    project = (Path(__file__).resolve().parents[1] / "dbt_project" / "dbt_project.yml").read_text()
    table = README.split("| var | default |", 1)[1].split("\n\n", 1)[0]
    table_vars = re.findall(
        r"`([a-z_]+)`", "\n".join(line.split("|")[1] for line in table.splitlines()[2:])
    )
    assert table_vars
    for var in table_vars:
        assert re.search(rf"^  {var}:", project, flags=re.MULTILINE), var
