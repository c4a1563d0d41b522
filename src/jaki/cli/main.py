"""The ``jaki`` typer app: every command is registered here, each lives in its own module.

User-input errors (:class:`jaki.errors.JakiInputError`) and a subcommand's bad or missing option values (click's
usage errors, which typer would draw as a multi-line box) are caught once, in :class:`JakiGroup`, and shown as one
``error: …`` line on stderr with exit code 2. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from jaki.cli import analyze, dataset, generate
from jaki.cli import groove as groove_commands
from jaki.cli import model as model_commands
from jaki.cli import tuner as tuner_commands
from jaki.errors import JakiInputError


class JakiGroup(TyperGroup):
    """A command group that maps bad input to one stderr line and exit code 2, for every subcommand."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except JakiInputError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(code=2) from None
        except TyperException as error:  # click's UsageError / BadParameter, e.g. "--bars 0"
            command = getattr(error, "ctx", None)
            hint = f" (see '{command.command_path} --help')" if command is not None else ""
            typer.echo(f"error: {error.format_message()}{hint}", err=True)
            raise typer.Exit(code=getattr(error, "exit_code", 2)) from None


app = typer.Typer(
    cls=JakiGroup,
    name="jaki",
    help="Continue a one-bar drum pattern and tune it toward cymbal/drum density, syncopation and repetition.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

app.add_typer(dataset.app, name="dataset")
app.command()(generate.generate)
app.command()(generate.grooves)
app.command()(analyze.analyze)
app.command()(model_commands.train)
app.command()(model_commands.evaluate)
app.command("train-tuner")(tuner_commands.train_tuner)
app.command("evaluate-tuner")(tuner_commands.evaluate_tuner_command)
app.command("train-groove")(groove_commands.train_groove)
app.command("evaluate-groove")(groove_commands.evaluate_groove)
