"""Documentation cannot fall behind the code (after datasette's tests/test_docs.py).

A new command, option, rule function or protocol field fails here until it is
documented in docs/.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from hepatrial.cli import main
from hepatrial.core.criteria.check import FUNCTIONS
from hepatrial.core.protocol import Protocol

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def read(name: str) -> str:
    path = ROOT / name
    assert path.exists(), f"{name} is missing"
    return path.read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: tuple[str, ...] = ("hepatrial",)):
    for name, command in sorted(group.commands.items()):
        path = prefix + (name,)
        yield " ".join(path), command
        if isinstance(command, click.Group):
            yield from _commands(command, path)


COMMANDS = list(_commands(main))


def _sections(markdown: str) -> dict[str, str]:
    """Heading text (backticks removed) -> the text up to the next heading of any level."""
    out: dict[str, str] = {}
    parts = re.split(r"^(#{1,6} .*)$", markdown, flags=re.M)
    for heading, body in zip(parts[1::2], parts[2::2]):
        out[heading.lstrip("#").strip().replace("`", "")] = body
    return out


def _options(command: click.Command) -> list[str]:
    """Every option spelling of ``command`` except the help option every command has."""
    return [
        opt
        for param in command.params
        if isinstance(param, click.Option) and param.name != "help"
        for opt in param.opts + param.secondary_opts
    ]


def test_the_walk_finds_every_command():
    assert [name for name, _ in COMMANDS] == [
        "hepatrial analyze", "hepatrial analyze tte", "hepatrial audit", "hepatrial audit verify", "hepatrial backup", "hepatrial demo-trial", "hepatrial import-forms", "hepatrial manage", "hepatrial prescreen", "hepatrial prescreen run", "hepatrial prescreen synth", "hepatrial protocol", "hepatrial protocol check", "hepatrial protocol show",
        "hepatrial randomization", "hepatrial randomization import", "hepatrial randomization make-list",
        "hepatrial randomization verify", "hepatrial randomization verify-file", "hepatrial restore",
        "hepatrial safety", "hepatrial safety check",
        "hepatrial schema", "hepatrial scores", "hepatrial screen", "hepatrial serve", "hepatrial staff", "hepatrial staff add", "hepatrial staff reset-two-factor", "hepatrial staff role", "hepatrial staff unlock", "hepatrial token",
    ]  # fmt: skip


@pytest.mark.parametrize("name, command", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_command_is_documented(name, command):
    cli_md = read("docs/cli.md")
    assert f"`{name}`" in cli_md or name in _sections(cli_md), f"{name} is not in docs/cli.md"


@pytest.mark.parametrize(
    "name, command",
    [(n, c) for n, c in COMMANDS if not isinstance(c, click.Group)],
    ids=[n for n, c in COMMANDS if not isinstance(c, click.Group)],
)
def test_every_option_is_documented_under_its_command(name, command):
    sections = _sections(read("docs/cli.md"))
    assert name in sections, f"docs/cli.md has no heading for {name}"
    undocumented = [opt for opt in _options(command) if opt not in sections[name]]
    assert undocumented == [], f"{name}: options not in its section of docs/cli.md"


def test_the_global_options_are_documented():
    cli_md = read("docs/cli.md")
    for opt in _options(main) + ["--help", "-h"]:
        assert f"`{opt}`" in cli_md, opt


def test_every_exit_code_of_screen_is_documented():
    cli_md = read("docs/cli.md")
    from hepatrial.cli import EXIT_BAD_INPUT, EXIT_BY_VERDICT

    for verdict, code in {**EXIT_BY_VERDICT, "bad input": EXIT_BAD_INPUT}.items():
        assert re.search(rf"^\| {code} \|", cli_md, flags=re.M), f"exit code {code} ({verdict})"


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_every_rule_function_is_documented(function):
    assert f"`{function}(" in read("docs/rule-language.md"), function


@pytest.mark.parametrize("field", sorted(Protocol.model_fields))
def test_every_protocol_field_is_documented(field):
    sections = _sections(read("docs/protocol-format.md"))
    assert any(re.search(rf"(^|[ ,]){re.escape(field)}($|[ ,])", heading) for heading in sections), field


def test_the_readme_says_how_to_run():
    readme = read("README.md")
    assert "uv run pytest" in readme
    assert "uv run hepatrial" in readme
