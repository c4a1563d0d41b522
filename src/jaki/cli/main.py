"""The ``jaki`` typer app: every command is registered here, each lives in its own module.

Commands are loaded lazily (:data:`COMMANDS`): ``jaki --help`` and ``jaki grooves`` must not pay for torch, SciPy
and gymnasium, so a command's module is imported only when that command runs or shows its own help. The listing of
``jaki --help`` reads each command's one-line summary from the table (click's ``short_help``); the command's
docstring stays its full help. A new command is one row of the table; its module may import what it needs.

User-input errors (:class:`jaki.errors.JakiInputError`) and a subcommand's bad or missing option values (click's
usage errors, which typer would draw as a multi-line box) are caught once, in :class:`JakiGroup`, and shown as one
``error: …`` line on stderr with exit code 2. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import warnings
from importlib import import_module
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup
from typer.exceptions import TyperException

from jaki.errors import JakiInputError

# name → ("module:attribute" of a command function or a typer app, the summary 'jaki --help' lists), in help order.
COMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("jaki.cli.generate:generate", "Continue a one-bar seed, tune it toward your targets, write MIDI."),
    "grooves": ("jaki.cli.grooves:grooves", "List the built-in seed grooves."),
    "analyze": ("jaki.cli.analyze:analyze", "Show each bar of a drum MIDI file as a grid with its features."),
    "features": ("jaki.cli.features:features", "What the four target features measure, and their bands."),
    "train": ("jaki.cli.model:train", "Train a continuation model on a dataset."),
    "evaluate": ("jaki.cli.model:evaluate", "Score a continuation model against the baselines."),
    "train-tuner": ("jaki.cli.tuner:train_tuner", "Pretrain the Double-DQN tuning agent."),
    "evaluate-tuner": ("jaki.cli.tuner:evaluate_tuner_command", "Compare the tuning methods on test seeds."),
    "train-groove": ("jaki.cli.groove:train_groove", "Train the groove model: velocity and timing of every hit."),
    "evaluate-groove": ("jaki.cli.groove:evaluate_groove", "Score the groove model against the feel baselines."),
    "dataset": ("jaki.cli.dataset:app", "Build loop datasets from drum MIDI and BFD3 palettes; inspect them."),
    "studio": ("jaki.cli.studio:studio", "Open the studio in your browser: click a beat, steer it, hear it."),
}


def load_command(name: str) -> typer.core.click.Command:
    """Import the command ``name`` of :data:`COMMANDS` and build its click command, as ``app.command()`` or
    ``app.add_typer()`` would have (a typer app becomes a group)."""
    target, summary = COMMANDS[name]
    module, attribute = target.split(":")
    function_or_app = getattr(import_module(module), attribute)
    holder = typer.Typer(add_completion=False)
    holder.callback()(jaki)
    if isinstance(function_or_app, typer.Typer):
        holder.add_typer(function_or_app, name=name)
    else:
        holder.command(name)(function_or_app)
    command = typer.main.get_command(holder).commands[name]
    command.short_help = summary
    hide_flag_types(command)
    return command


def hide_flag_types(command: typer.core.click.Command) -> None:
    """Drop the ``<bool>`` that typer's help shows after a flag (which takes no value), in ``command`` and every
    subcommand, its ``--help`` included. ``--help`` also gets the default False: typer passes a flag's None
    through pydantic, whose import alone is a third of 'jaki grooves'."""
    context = typer.Context(command)
    help_option = command.get_help_option(context)
    if help_option is not None and help_option.default is None:
        help_option.default = False
    for param in [*command.params, help_option]:
        if getattr(param, "is_flag", False):
            param.metavar = ""
    for subcommand in getattr(command, "commands", {}).values():
        hide_flag_types(subcommand)


class JakiGroup(TyperGroup):
    """The top-level group: lazy commands, and bad input mapped to one stderr line and exit code 2, everywhere."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        # Stand-ins that carry a name and a summary: enough for the listing and for "did you mean …?".
        for name, (_, summary) in COMMANDS.items():
            self.commands.setdefault(name, TyperCommand(name=name, short_help=summary, callback=None))
        hide_flag_types(self)

    def resolve_command(self, ctx: typer.Context, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name in COMMANDS:
            command = load_command(name)
        return name, command, rest

    def invoke(self, ctx: typer.Context) -> Any:
        # Library warnings (NumPy, torch) are held back until the command ends: shown after its result (or a bug's
        # traceback), dropped before a bad-input line, so that stderr on exit 2 is that one line.
        held: list[warnings.WarningMessage] = []
        try:
            with warnings.catch_warnings(record=True) as held:
                return super().invoke(ctx)
        except JakiInputError as error:
            held.clear()
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(code=2) from None
        except TyperException as error:  # click's UsageError / BadParameter, e.g. "--bars 0"
            held.clear()
            command = getattr(error, "ctx", None)
            hint = f" (see '{command.command_path} --help')" if command is not None else ""
            typer.echo(f"error: {error.format_message()}{hint}", err=True)
            raise typer.Exit(code=getattr(error, "exit_code", 2)) from None
        finally:
            for warning in held:
                warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)


app = typer.Typer(
    cls=JakiGroup,
    name="jaki",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def jaki() -> None:
    """Continue a one-bar drum pattern and tune it toward cymbal/drum density, syncopation and repetition."""
