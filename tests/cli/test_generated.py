"""docs/commands.md and completions/ are regenerated and compared: stale files fail."""

from __future__ import annotations

import pytest
import typer

from meshctl.cli import docgen


@pytest.mark.parametrize(
    ("what", "script"), [("docs", "gen-docs"), ("completions", "gen-completions")]
)
def test_generated_files_are_up_to_date(what, script):
    stale = docgen.stale_files(docgen.expected_files(what))
    names = ", ".join(str(p.relative_to(docgen.ROOT)) for p in stale)
    assert not stale, f"{names} out of date: run scripts/{script}"


def test_check_reports_a_stale_file_and_the_script_to_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(docgen, "DOCS_FILE", tmp_path / "commands.md")
    monkeypatch.setattr(docgen, "ROOT", tmp_path)
    assert docgen.main(["docs", "--check"]) == 1
    assert capsys.readouterr().err == "stale: commands.md; run scripts/gen-docs\n"
    assert docgen.main(["docs"]) == 0
    assert docgen.main(["docs", "--check"]) == 0
    assert docgen.main(["nonsense"]) == 2


def test_reference_walks_every_group_and_command():
    app = typer.Typer()
    group = typer.Typer(help="Things.")
    app.add_typer(group, name="things")

    @group.command("make")
    def make(name: str = typer.Argument(help="What | to make.")) -> None:
        """Make a thing."""

    @app.command()
    def other(flag: bool = typer.Option(False, help="A flag.")) -> None:
        """Another command."""

    text = docgen.command_reference(app)
    assert "## `meshctl things make`\n\nMake a thing.\n" in text
    assert "| `make` | Make a thing. |" in text
    assert "What \\| to make." in text  # pipes escaped inside tables
    assert "| `--flag / --no-flag` | A flag. [default: no-flag] |" in text
    assert text.index("## `meshctl other`") < text.index("## `meshctl things`")


def test_completion_scripts_call_back_into_meshctl():
    scripts = docgen.completion_scripts()
    assert set(scripts) == {"meshctl.bash", "_meshctl", "meshctl.fish"}
    assert all("_MESHCTL_COMPLETE=complete_" in text for text in scripts.values())
    assert scripts["_meshctl"].startswith("#compdef meshctl")
