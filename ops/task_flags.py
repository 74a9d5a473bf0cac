"""invoke's own flag parsing held to the project's contract: a bad flag is one `error:` line and exit 2.

invoke reports an unknown flag or a flag without its value itself, with exit 1, and a repeatable flag given
without a value silently means "none given" (`invoke train --config` would train every config). tasks.py calls
`refuse_bad_flags()` when invoke imports it, which is after invoke parsed its own core flags and before it
parses the task's: the two parsing steps that follow are wrapped so that their refusals take the one path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from invoke import Exit
from invoke.exceptions import ParseError
from invoke.program import Program

from trainer.errors import EXIT_BAD_INPUT


def refuse_bad_flags() -> None:
    """Wrap Program.parse_tasks and Program.parse_cleanup once."""
    if getattr(Program.parse_tasks, "refuses_bad_flags", False):
        return
    Program.parse_tasks = _refusing(Program.parse_tasks, check_values=True)
    Program.parse_cleanup = _refusing(Program.parse_cleanup, check_values=False)


def _refusing(step: Callable[[Program], None], *, check_values: bool) -> Callable[[Program], None]:
    def parse(program: Program) -> None:
        try:
            step(program)
            if check_values:
                _refuse_empty_lists(program.core.unparsed, program.tasks)
        except ParseError as err:
            raise Exit(f"error: {_plain(err)}", code=EXIT_BAD_INPUT) from err
        except ValueError as err:
            # A flag whose default is a number, given something else: invoke's cast raised.
            problem = _bad_number(program.core.unparsed, program.parser.contexts.values())
            if problem is None:
                raise
            raise Exit(f"error: {problem}", code=EXIT_BAD_INPUT) from err

    parse.refuses_bad_flags = True  # type: ignore[attr-defined]
    return parse


def _plain(err: ParseError) -> str:
    """invoke's message with its Argument reprs (`<Argument: model (m)>`) spelt as the flag the user typed."""
    text = str(err)
    if text.startswith("Flag <Argument: "):
        name = text.removeprefix("Flag <Argument: ").split(" ", 1)[0].split(">", 1)[0]
        return f"--{name.replace('_', '-')}: needs a value"
    if text.startswith("No idea what '"):
        return f"{text.removeprefix('No idea what ').split(' is!')[0]}: no such flag or task (see invoke --list)"
    return text


def _refuse_empty_lists(tokens: Sequence[str], tasks: Iterable[Any]) -> None:
    """A repeatable flag followed by nothing, or by another flag, got no value: refuse it like any other."""
    repeatable = _flags(tasks, list)
    for position, token in enumerate(tokens):
        if token in repeatable:
            following = tokens[position + 1] if position + 1 < len(tokens) else ""
            if not following or following.startswith("-"):
                raise ParseError(f"--{repeatable[token].name.replace('_', '-')}: needs a value")


def _bad_number(tokens: Sequence[str], contexts: Iterable[Any]) -> str | None:
    """The first `--flag value` whose flag takes a whole number and whose value is not one."""
    numeric = _flags(contexts, int)
    for position, token in enumerate(tokens):
        flag, _, value = token.partition("=")
        if flag in numeric:
            value = value or (tokens[position + 1] if position + 1 < len(tokens) else "")
            try:
                int(value)
            except ValueError:
                return f"--{numeric[flag].name.replace('_', '-')}: {value!r} is not a whole number"
    return None


def _flags(contexts: Iterable[Any], kind: type) -> dict[str, Any]:
    """Every spelling (`--config`, `-c`) of the flags of `kind` in `contexts`, to its Argument."""
    found = {}
    for context in contexts:
        for flag, argument in context.flags.items():
            if argument.kind is kind:
                found[flag] = argument
                found.update({f"-{name}": argument for name in argument.names if len(name) == 1})
    return found
