"""The ``interp`` command: textual steering vectors from the shell (typer + rich).

Every command only calls interp's public API. Bad input is refused by that API with a
ValueError (or FileNotFoundError, FileExistsError, or an ImportError naming the extra to
install); ``@user_errors`` turns those into one red line on stderr and exit status 2, and
anything unexpected into one line and exit status 1; ``interp --debug COMMAND ...`` shows the
full traceback instead.

Adding a command (``sweep``, ``evaluate``, ``analyze``, ``figures``, ``demo``): write a
function decorated with ``@app.command(epilog=...)`` (an example in the epilog) and
``@user_errors``; import what it needs beyond ``import interp`` (nnsight, transformers, the
evaluation and analysis packages) inside it, so ``interp --help`` stays as fast as
``import interp``; parse method parameters with ``parse_params``; and pass
``cls=multi_value("--layers", ...)`` for options that take several values after one flag.

Example:
    $ interp extract --model organism --concept counting --method meanshift --layers 0 1 --out vectors/counting
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import re
from collections.abc import Callable, Iterator, Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperCommand

import interp

F = TypeVar("F", bound=Callable[..., Any])

#: What interp raises for bad input; shown as one line, exit status 2.
USER_ERRORS: tuple[type[Exception], ...] = (ValueError, FileNotFoundError, FileExistsError, ImportError)

console = Console()
err_console = Console(stderr=True)

APP_EXAMPLE = (
    "[bold]Example[/]: build a counting vector on the model organism's text backbone, layers 0 and 1:\n\n"
    "  interp extract --model organism --concept counting --layers 0 1 --out vectors/counting"
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


def _parse_value(raw: str) -> Any:
    low = raw.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


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
        params[key] = _parse_value(raw)
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


# -- extract ------------------------------------------------------------------------------------
class Source(str, Enum):
    auto = "auto"
    default = "default"
    organism = "organism"


class DType(str, Enum):
    auto = "auto"
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


class Backend(str, Enum):
    nnsight = "nnsight"
    transformer_lens = "transformer_lens"


EXTRACT_EXAMPLE = (
    "[bold]Examples[/]:\n\n"
    "  interp extract --model organism --concept counting --layers 0 1 --out vectors/counting\n\n"
    "  interp extract --model organism --concept my_concept.jsonl --method probe "
    "--param n_components=5 --out vectors/mine"
)


def _check_out(out: Path, overwrite: bool) -> None:
    from interp.vectors import CONFIG_FILE, TENSORS_FILE

    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file: expected a directory for {TENSORS_FILE} and {CONFIG_FILE}")
    if not overwrite and ((out / CONFIG_FILE).exists() or (out / TENSORS_FILE).exists()):
        raise ValueError(f"{out} already holds a saved vector: pass --overwrite to replace it")


def _check_method(method: str, params: dict[str, Any]) -> None:
    """Build the method once, so unknown names and bad parameters fail before any model loads."""
    from interp.vectors import get_method

    try:
        get_method(method, **params)
    except TypeError as err:
        raise ValueError(f"bad --param for method {method!r}: {err}") from None


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """Hide transformers' weight-loading bars when stderr is not a terminal (logs, CI, tests)."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    if not err_console.is_terminal:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _load_backbone(model: str, backbone: str | None, dtype: DType, device_map: str | None) -> Any:
    import torch

    kwargs: dict[str, Any] = {"device_map": device_map}
    if dtype is not DType.auto:
        kwargs["dtype"] = getattr(torch, dtype.value)
    if backbone is not None:
        return interp.load_text_backbone(backbone, **kwargs)
    return interp.load_text_backbone(mllm=model, **kwargs)


def _summary(vector: interp.SteeringVector, out: Path) -> None:
    meta = vector.meta
    from interp.vectors import PAIR_METHODS

    unit = "pairs" if meta.method in PAIR_METHODS else "sentences"
    console.print(
        f"[bold]{escape(meta.method)}[/] vector for [bold]{escape(meta.concept)}[/] from "
        f"{escape(meta.source_model)} ({meta.corpus_size} {unit}, d_model {meta.d_model}), "
        f"saved to {escape(str(out))}",
        soft_wrap=True,
    )
    table = Table()
    table.add_column("layer", justify="right")
    table.add_column("norm", justify="right")
    # Per-layer scalars a method records (probe: held-out accuracies) become columns.
    per_layer = {
        key: value
        for key, value in meta.extra.items()
        if isinstance(value, dict)
        and value
        and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value.values())
    }
    for key in per_layer:
        table.add_column(key.replace("_", " "), justify="right")
    norms = vector.norms()
    for layer in vector.layers:
        cells = [f"{per_layer[key][str(layer)]:.3f}" if str(layer) in per_layer[key] else "-" for key in per_layer]
        table.add_row(str(layer), f"{norms[layer]:.4g}", *cells)
    console.print(table)


@app.command(cls=multi_value("--layers", "-l"), epilog=EXTRACT_EXAMPLE)
@user_errors
def extract(
    concept: Annotated[
        str,
        typer.Option(
            "--concept", "-c",
            help="A taxonomy name (counting, spatial_relationship, ...) or the path of your own JSONL corpus.",
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory to write vector.safetensors and vector.json into.")
    ],
    model: Annotated[
        str,
        typer.Option(
            "--model", "-m",
            help="The MLLM (hub id, local directory or 'organism'); its paired text backbone computes the vector.",
        ),
    ] = "organism",
    backbone: Annotated[
        str | None,
        typer.Option("--backbone", help="Compute on this text backbone instead of the one paired with --model."),
    ] = None,
    method: Annotated[
        str, typer.Option("--method", help="A registered vector method: meanshift, probe, sae, diffmean.")
    ] = "meanshift",
    layers: Annotated[
        list[int] | None,
        typer.Option("--layers", "-l", help="Layers (0-based, output of decoder layer l), e.g. --layers 0 1. Default: all."),
    ] = None,
    source: Annotated[
        Source,
        typer.Option(
            "--source",
            help="Where taxonomy names are looked up; auto = organism for --model organism, else default.",
        ),
    ] = Source.auto,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="A method parameter as key=value (repeat it), e.g. --param n_components=5."),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a vector already saved at --out.")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Sentences per forward pass.")] = 16,
    backend: Annotated[Backend, typer.Option("--backend", help="Where activations come from.")] = Backend.nnsight,
    dtype: Annotated[DType, typer.Option("--dtype", help="Parameter dtype of the backbone.")] = DType.auto,
    device_map: Annotated[
        str | None, typer.Option("--device-map", help="Passed to transformers, e.g. auto or cuda:0.")
    ] = None,
) -> None:
    """Compute a textual steering vector for a concept and save it.

    The vector is computed from sentences alone on the MLLM's text-only backbone.

    Load it back with interp.SteeringVector.load(DIR).
    """
    params = parse_params(param)
    _check_out(out, overwrite)
    _check_method(method, params)
    if source is Source.auto:
        source = Source.organism if (backbone or model) == "organism" else Source.default
    with err_console.status(f"loading the text backbone of {backbone or model}..."), _quiet_loading():
        text_model = _load_backbone(model, backbone, dtype, device_map)
    vector = interp.compute(
        text_model,
        concept,
        method,
        layers=layers or None,
        source=source.value,
        batch_size=batch_size,
        backend=backend.value,
        progress=err_console.is_terminal,
        **params,
    )
    saved = vector.save(out, overwrite=overwrite)
    _summary(vector, saved)


__all__ = ["app", "fail", "multi_value", "parse_params", "user_errors"]
