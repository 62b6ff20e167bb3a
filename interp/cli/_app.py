"""The ``interp`` typer app and what every command shares: consoles, one-line errors, options.

``app`` (with its ``--version``/``--debug`` callback), ``user_errors`` and ``fail`` (bad input as
one red line, exit status 2), ``multi_value`` (several values after one flag), ``parse_params``
(``--param key=value``) and the option enums several commands take (``DType``, ``Selector``).

Example:
    >>> from interp.cli._app import app, multi_value, user_errors   # doctest: +SKIP
"""

from __future__ import annotations

import contextvars
import functools
import re
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Annotated, Any, ClassVar, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand

import interp
from interp.args import parse_value

F = TypeVar("F", bound=Callable[..., Any])

#: What interp raises for bad input; shown as one line, exit status 2.
USER_ERRORS: tuple[type[Exception], ...] = (ValueError, FileNotFoundError, FileExistsError, ImportError)

console = Console()
err_console = Console(stderr=True)

APP_EXAMPLE = (
    "[bold]Example[/]: build a counting vector on the model organism's text backbone, layers 0 and 1:\n\n"
    "  interp extract --model organism --concept counting --layers 0 1 --out vectors/counting\n\n"
    "then sweep it, draw the figures, or run the whole pipeline at once:\n\n"
    "  interp sweep --vector vectors/counting --tasks Count --layers 0 1 --strengths -1 1 --out runs/counting\n\n"
    "  interp figures runs/counting --out runs/counting/figures\n\n"
    "  interp demo"
)

app = typer.Typer(
    name="interp",
    epilog=APP_EXAMPLE,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
)


# -- shared machinery for every command ---------------------------------------------------------
# Set by the app's callback, which runs first on every invocation.
_DEBUG: contextvars.ContextVar[bool] = contextvars.ContextVar("interp_cli_debug", default=False)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` as one red line on stderr and return the ``typer.Exit`` to raise.

    Example:
        >>> raise fail("--out is a file")   # doctest: +SKIP
    """
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)
    return typer.Exit(code)


def user_errors(fn: F) -> F:
    """Turn interp's refusals of bad input into one red line and exit status 2.

    ``interp --debug`` re-raises instead, so the traceback shows. Unexpected exceptions give one
    line and exit status 1 (or the traceback under ``--debug``).

    Example:
        >>> @app.command(epilog="Example: interp sweep ...")   # doctest: +SKIP
        ... @user_errors
        ... def sweep(...): ...
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.BadParameter):
            raise
        except USER_ERRORS as err:
            if _DEBUG.get():
                raise
            raise fail(str(err)) from None
        except Exception as err:
            if _DEBUG.get():
                raise
            raise fail(
                f"unexpected {type(err).__name__}: {err} (run `interp --debug ...` for the traceback)", 1
            ) from None

    return wrapper  # type: ignore[return-value]


_NUMBER = re.compile(r"-\d+(\.\d*)?([eE][-+]?\d+)?")


def _spread(args: Sequence[str], names: Sequence[str]) -> list[str]:
    """``--layers 0 1 2`` -> ``--layers 0 --layers 1 --layers 2`` for each option in ``names``."""
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        out.append(arg)
        i += 1
        if arg == "--":
            out.extend(args[i:])
            break
        if arg in names and i < len(args):
            out.append(args[i])
            i += 1
            while i < len(args) and (not args[i].startswith("-") or _NUMBER.fullmatch(args[i])):
                out.extend([arg, args[i]])
                i += 1
    return out


def multi_value(*names: str) -> type[TyperCommand]:
    """A command class whose options ``names`` take several values after one flag.

    Click options take a fixed number of values; this spreads ``--layers 0 1`` into
    ``--layers 0 --layers 1`` before parsing, so a ``list[int]`` option reads both.

    Example:
        >>> @app.command(cls=multi_value("--layers", "--strengths"))   # doctest: +SKIP
        ... def sweep(layers: list[int] = typer.Option(None)): ...
    """

    class MultiValueCommand(TyperCommand):
        multi_value_options: ClassVar[tuple[str, ...]] = names

        def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
            return super().parse_args(ctx, _spread(args, self.multi_value_options))

    return MultiValueCommand


def parse_params(pairs: Sequence[str] | None) -> dict[str, Any]:
    """``["n_components=5", "normalize=true"]`` -> ``{"n_components": 5, "normalize": True}``.

    Values are read as JSON (numbers, lists, quoted strings), ``true``/``false``/``none`` in any
    case, or else kept as plain strings.

    Example:
        >>> parse_params(["n_components=5", "saes=organism"])
        {'n_components': 5, 'saes': 'organism'}
    """
    params: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ValueError(f"--param expects key=value with a parameter name as key, got {pair!r}")
        if key in params:
            raise ValueError(f"--param {key} is given twice")
        params[key] = parse_value(raw)
    return params


# -- the app ------------------------------------------------------------------------------------
def _version(value: bool) -> None:
    if value:
        console.print(f"interp {interp.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print interp's version and exit."),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks instead of one-line errors.")
    ] = False,
) -> None:
    """Look inside multimodal LLMs and steer them with vectors built from text.

    Vectors are built from sentences alone on an MLLM's text-only backbone (arXiv 2505.14071).

    Layer l is the output of decoder layer l (HF hidden_states entry l+1).
    """
    _DEBUG.set(debug)


# -- options several commands take ------------------------------------------------------------
class DType(str, Enum):
    auto = "auto"
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


class Remote(str, Enum):
    """Where ``--remote`` runs the model: ``ndif`` (NDIF, ``remote=True``) or ``local`` (nnsight's
    local dry run of the remote path, ``remote="local"``)."""

    ndif = "ndif"
    local = "local"


#: The help of ``--remote``, the same for every command that loads a model.
REMOTE_HELP = (
    "Run the model remotely: 'ndif' on NDIF (needs an API key; the weights stay on the server), "
    "'local' as nnsight's local dry run of the remote path."
)


def remote_value(remote: Remote | None) -> bool | str:
    """What ``remote=`` the loaders get for ``--remote``: False, True (ndif) or ``"local"``.

    Example:
        >>> remote_value(Remote.ndif), remote_value(None)
        (True, False)
    """
    if remote is None:
        return False
    return True if remote is Remote.ndif else "local"


class Selector(str, Enum):
    image = "image"
    text = "text"
    both = "both"
    last = "last"
    all = "all"


# -- options several commands declare, once ------------------------------------------------------
#: ``--model``: one MLLM (None: the first model a plugin ships, ``interp.models.sources.default_model``).
ModelOption = Annotated[str | None, typer.Option(
    "--model", "-m", help="The MLLM: hub id, local directory, or a model a plugin ships ('organism', "
    "'organism-llava'). Default: the first model a plugin ships.")]
#: ``--benchmark`` (None: the model's own benchmark, from its model source).
BenchmarkOption = Annotated[str | None, typer.Option(
    "--benchmark", "-b", help="Where the items come from: cvbench, whatsup_a, whatsup_b, blink_object_localization, "
    "clevr_count, vsr, or a plugin's ('organism'). Default: the model's own benchmark.")]
BenchmarkPathOption = Annotated[str | None, typer.Option(
    "--benchmark-path", help="A local copy of the benchmark (parquet, JSONL or image folder).")]
BatchSizeOption = Annotated[int, typer.Option("--batch-size", min=1, help="Items per forward pass.")]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of generated items and random directions.")]
DTypeOption = Annotated[DType, typer.Option("--dtype", help="Parameter dtype of the MLLM.")]
DeviceMapOption = Annotated[str | None, typer.Option("--device-map", help="Passed to transformers, e.g. auto or cuda:0.")]
RemoteOption = Annotated[Remote | None, typer.Option("--remote", help=REMOTE_HELP)]
AllowTransferOption = Annotated[bool, typer.Option("--allow-transfer", help=(
    "Use vectors built on another model than --model and its text backbone (a deliberate transfer experiment)."))]


__all__ = [
    "APP_EXAMPLE",
    "REMOTE_HELP",
    "USER_ERRORS",
    "AllowTransferOption",
    "BatchSizeOption",
    "BenchmarkOption",
    "BenchmarkPathOption",
    "DType",
    "DTypeOption",
    "DeviceMapOption",
    "ModelOption",
    "Remote",
    "RemoteOption",
    "SeedOption",
    "Selector",
    "app",
    "console",
    "err_console",
    "fail",
    "multi_value",
    "parse_params",
    "remote_value",
    "user_errors",
]
