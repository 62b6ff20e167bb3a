"""The ``interp`` command: textual steering vectors from the shell (typer + rich).

Every command only calls interp's public API. Bad input is refused by that API with a
ValueError (or FileNotFoundError, FileExistsError, or an ImportError naming the extra to
install); ``@user_errors`` turns those into one red line on stderr and exit status 2, and
anything unexpected into one line and exit status 1; ``interp --debug COMMAND ...`` shows the
full traceback instead.

Commands: ``extract`` (a vector from text), ``sweep`` (layer x strength x selector, chosen on
train, reported on test), ``evaluate`` (score items, optionally steered), ``analyze`` (one
analysis of ``interp.analysis`` into a CSV table), ``figures`` (figures from a results folder's
CSV tables; no model runs) and ``demo`` (the whole pipeline, ``interp.demo.run_demo``). Output
formats are documented in docs/cli.md.

Adding a command: write a function decorated with ``@app.command(epilog=...)`` (an example in
the epilog) and ``@user_errors``; import what it needs beyond ``import interp`` (nnsight,
transformers, the evaluation and analysis packages) inside it, so ``interp --help`` stays as
fast as ``import interp``; parse method parameters with ``parse_params``; and pass
``cls=multi_value("--layers", ...)`` for options that take several values after one flag.

Example:
    $ interp extract --model organism --concept counting --method meanshift --layers 0 1 --out vectors/counting
    $ interp sweep --vector vectors/counting --tasks Count --layers 0 1 --strengths -1 1 --out runs/sweep
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperCommand

import interp
from interp.demo import DemoConfig

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
    auto = "auto"
    torch = "torch"
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
    backend: Annotated[Backend, typer.Option("--backend", help="Where activations come from: 'auto' is torch hooks on local weights, nnsight for a remote model.")] = Backend.auto,
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
        source = Source.organism if (backbone or model) in interp.organism.NAMES else Source.default
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


# -- shared by the commands that run an MLLM ----------------------------------------------------
class Selector(str, Enum):
    image = "image"
    text = "text"
    both = "both"
    last = "last"
    all = "all"


def _load_mllm(model: str, dtype: DType = DType.auto, device_map: str | None = None) -> Any:
    import torch

    kwargs: dict[str, Any] = {"device_map": device_map}
    if dtype is not DType.auto:
        kwargs["dtype"] = getattr(torch, dtype.value)
    with err_console.status(f"loading {model}..."), _quiet_loading():
        return interp.load_mllm(model, **kwargs)


def _load_vectors(directories: Sequence[Path] | None) -> dict[str, Any]:
    """Saved vectors by name: ``method/concept``, or the directory where two share that name."""
    from interp.vectors import SteeringVector

    loaded = [(d, SteeringVector.load(d)) for d in directories or ()]
    names = [f"{v.meta.method}/{v.meta.concept}" for _, v in loaded]
    out: dict[str, Any] = {}
    for (directory, v), name in zip(loaded, names):
        key = name if names.count(name) == 1 else str(directory)
        if key in out:
            raise ValueError(f"--vector {directory} is given twice")
        out[key] = v
    return out


def _positive(value: int | None, flag: str) -> int | None:
    if value is not None and value < 1:
        raise ValueError(f"{flag} must be a positive number of items, got {value}")
    return value


def _items(
    benchmark: str, path: str | None, split: str, tasks: Sequence[str] | None, n: int | None, seed: int = 0
) -> Any:
    """A benchmark split; ``n`` items per task (the organism generates ``n``; others keep the first ``n``)."""
    from interp.evaluation import load_benchmark

    if benchmark == "organism":
        options: dict[str, Any] = {"seed": seed} if n is None else {"seed": seed, "n_per_task": n}
        return load_benchmark("organism", path, split=split, tasks=tasks or None, **options)
    return load_benchmark(benchmark, path, split=split, tasks=tasks or None, limit=n)


def _check_benchmark(name: str) -> str:
    from interp.evaluation import list_benchmarks

    if name not in list_benchmarks():
        raise ValueError(f"unknown benchmark {name!r}: expected one of {list_benchmarks()}")
    return name


def _check_csv_out(out: Path) -> Path:
    if out.is_dir():
        raise ValueError(f"--out {out} is a directory: expected a .csv file to write")
    if out.suffix.lower() != ".csv":
        raise ValueError(f"--out {out} must end in .csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def _check_out_dir(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file: expected a directory")
    return out


def _print_table(table: Table) -> None:
    """Print a table at its natural width when the output is a file or pipe (rich assumes 80 columns)."""
    if console.is_terminal:
        console.print(table)
    else:
        Console(width=max(console.width, 400)).print(table)


def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "-"
        return f"{value:.{digits}g}" if abs(value) >= 1000 or (value != 0 and abs(value) < 1e-3) else f"{value:.{digits}f}"
    if hasattr(value, "item") and not isinstance(value, str):
        return _fmt(value.item(), digits)
    return str(value).encode("unicode_escape").decode("ascii") if isinstance(value, str) else str(value)


def _show_frame(df: Any, title: str | None = None, *, max_rows: int = 40, note: str | None = None) -> None:
    """Print a DataFrame as a rich table (the first ``max_rows`` rows)."""
    import pandas as pd

    table = Table(title=title, title_justify="left")
    for column in df.columns:
        numeric = pd.api.types.is_numeric_dtype(df[column]) and not pd.api.types.is_bool_dtype(df[column])
        table.add_column(str(column), justify="right" if numeric else "left")
    for row in df.head(max_rows).itertuples(index=False):
        table.add_row(*(escape(_fmt(x)) for x in row))
    _print_table(table)
    if len(df) > max_rows:
        console.print(f"({len(df) - max_rows} more rows{' in ' + escape(note) if note else ''})", soft_wrap=True)


def _points(low: float, value: float, high: float) -> str:
    return f"{100 * value:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]"


def _show_result_table(table: Any) -> None:
    """A sweep's test table: the chosen cell per vector, task and selector, gains in points."""
    if table is None or len(table) == 0:
        console.print("(no test results)")
        return
    out = Table(title="Chosen on train, reported on test (gains in points, paired bootstrap 95% CI)",
                title_justify="left")
    head = ["vector", "task", "selector", "cell", "unsteered", "steered", "gain [95% CI]", "p", "p (Holm)"]
    has_prompt, has_random = "prompt_accuracy" in table, "random_q95_gain" in table
    head += ["prompting"] * has_prompt + ["random q95", "beats random"] * has_random
    for name in head:
        out.add_column(name, justify="left" if name in ("vector", "task", "selector", "cell") else "right")
    for _, r in table.iterrows():
        cells = [
            str(r["vector"]), str(r["task"]), str(r["selector"]), f"L{int(r['layer'])} @ {float(r['strength']):+g}",
            f"{r['unsteered_accuracy']:.3f}", f"{r['accuracy']:.3f}", _points(r["gain_low"], r["gain"], r["gain_high"]),
            f"{r['p_value']:.3g}", f"{r['p_holm']:.3g}",
        ]
        if has_prompt:
            cells.append(_fmt(float(r["prompt_accuracy"])))
        if has_random:
            cells += [f"{100 * r['random_q95_gain']:+.1f}", str(bool(r["beats_random"]))]
        out.add_row(*(escape(c) for c in cells))
    _print_table(out)


# -- sweep --------------------------------------------------------------------------------------
SWEEP_EXAMPLE = (
    "[bold]Example[/]: a counting vector on the organism's Count items, layers 0-2, two strengths:\n\n"
    "  interp extract --concept counting --layers 0 1 2 --out vectors/counting\n\n"
    "  interp sweep --model organism --vector vectors/counting --benchmark organism --tasks Count "
    "--layers 0 1 2 --strengths -1 1 --selectors image text --out runs/counting\n\n"
    "Writes results.sqlite (rerun to resume), grid.csv, table.csv, table.md and config.json into --out."
)


def _targets(vectors: dict[str, Any], benchmark: str, tasks: Sequence[str] | None) -> dict[str, list[str]]:
    """Tasks per vector: ``--tasks`` for every vector, else the paper's pairing of concept and task."""
    if tasks:
        return {name: list(tasks) for name in vectors}
    from interp.prompts import CONCEPT_TASKS

    pairs = CONCEPT_TASKS.get(benchmark, {})
    out = {}
    for name, v in vectors.items():
        if v.meta.concept not in pairs:
            raise ValueError(
                f"vector {name!r}: concept {v.meta.concept!r} has no default task on {benchmark} "
                f"(defaults: {pairs or 'none'}): pass --tasks"
            )
        out[name] = pairs[v.meta.concept]
    return out


def _prompt_hints(model: str, vectors: dict[str, Any]) -> bool | dict[str, str]:
    """The prompting baseline: the organism's own words for its concepts, else the default hint."""
    if model not in interp.organism.NAMES:
        return True
    from interp.prompts import organism_hint

    return {c: organism_hint(c) for c in {v.meta.concept for v in vectors.values()}}


@app.command(cls=multi_value("--vector", "--tasks", "--layers", "--strengths", "--selectors"), epilog=SWEEP_EXAMPLE)
@user_errors
def sweep(
    vector: Annotated[
        list[Path], typer.Option("--vector", "-v", help="A saved vector directory (interp extract --out); several: --vector A B.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for results.sqlite and the CSV/markdown tables.")],
    layers: Annotated[list[int], typer.Option("--layers", "-l", help="Steered layers, e.g. --layers 0 1 2.")],
    strengths: Annotated[
        list[float], typer.Option("--strengths", "-s", help="Strength grid, e.g. --strengths -1 1 (relative to the residual norm unless --absolute).")
    ],
    model: Annotated[str, typer.Option("--model", "-m", help="The MLLM: hub id, local directory, 'organism' or 'organism-llava'.")] = "organism",
    benchmark: Annotated[str, typer.Option("--benchmark", "-b", help="organism, cvbench, whatsup_a, whatsup_b, blink_object_localization, clevr_count.")] = "organism",
    benchmark_path: Annotated[str | None, typer.Option("--benchmark-path", help="A local copy of the benchmark (parquet, JSONL or image folder).")] = None,
    tasks: Annotated[
        list[str] | None, typer.Option("--tasks", "-t", help="Tasks every vector is evaluated on. Default: the paper's pairing of concept and task.")
    ] = None,
    selectors: Annotated[list[Selector] | None, typer.Option("--selectors", help="Token selectors, e.g. --selectors image text. Default: image.")] = None,
    n_train: Annotated[int | None, typer.Option("--n-train", help="Train items per task (cell selection). Default: organism 60, else all.")] = None,
    n_test: Annotated[int | None, typer.Option("--n-test", help="Test items per task (reported). Default: organism 150, else all.")] = None,
    n_random: Annotated[int, typer.Option("--n-random", min=0, help="Random directions of the same norm per chosen cell.")] = 20,
    absolute: Annotated[bool, typer.Option("--absolute", help="Strengths multiply the vector as saved (default: relative to the residual norm).")] = False,
    faithful: Annotated[bool, typer.Option("--faithful", help="Also score unsteered and chosen cells on test the paper's way (generate and parse).")] = False,
    prompt_baseline: Annotated[bool, typer.Option("--prompt-baseline/--no-prompt-baseline", help="Score a prompting baseline on test.")] = True,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Items per forward pass.")] = 16,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the organism's items and the random directions.")] = 0,
    dtype: Annotated[DType, typer.Option("--dtype", help="Parameter dtype of the MLLM.")] = DType.auto,
    device_map: Annotated[str | None, typer.Option("--device-map", help="Passed to transformers, e.g. auto or cuda:0.")] = None,
) -> None:
    """Sweep saved vectors over layers x strengths x selectors: choose on train, report on test.

    The paper's protocol (arXiv 2505.14071) with a prompting baseline, random directions of
    the same norm, bootstrap CIs, exact McNemar p-values and Holm's correction.
    """
    from interp.evaluation import sweep as run_sweep

    _check_out_dir(out)
    _check_benchmark(benchmark)
    if n_train is None and benchmark == "organism":
        n_train = 60
    vectors = _load_vectors(vector)
    targets = _targets(vectors, benchmark, tasks)
    all_tasks = sorted({t for ts in targets.values() for t in ts})
    train = _items(benchmark, benchmark_path, "train", all_tasks, _positive(n_train, "--n-train"), seed)
    test = _items(benchmark, benchmark_path, "test", all_tasks, _positive(n_test, "--n-test"), seed)
    mllm = _load_mllm(model, dtype, device_map)
    for layer in layers:
        mllm.check_layer(layer)
    out.mkdir(parents=True, exist_ok=True)
    res = run_sweep(
        mllm, vectors, layers, strengths, [s.value for s in selectors or [Selector.image]], train, test,
        store=out / "results.sqlite", targets=targets, relative=not absolute, n_random=n_random,
        prompt_baseline=_prompt_hints(model, vectors) if prompt_baseline else False, batch_size=batch_size,
        faithful=faithful, seed=seed, progress=err_console.is_terminal,
    )
    res.grid.to_csv(out / "grid.csv", index=False)
    res.table.to_csv(out / "table.csv", index=False)
    (out / "table.md").write_text(res.to_markdown() + "\n")
    (out / "config.json").write_text(json.dumps(
        {**res.config, "benchmark": benchmark, "benchmark_path": benchmark_path, "model_name": model,
         "vector_dirs": {name: str(d) for name, d in zip(vectors, vector)}},
        indent=2, default=str) + "\n")
    _show_result_table(res.table)
    console.print(f"{len(res.grid)} train cells and {len(res.table)} test rows written to {escape(str(out))}", soft_wrap=True)


# -- evaluate -----------------------------------------------------------------------------------
class ScoreMethod(str, Enum):
    logits = "logits"
    generate = "generate"


EVALUATE_EXAMPLE = (
    "[bold]Examples[/]:\n\n"
    "  interp evaluate --model organism --benchmark organism --tasks Count Relation --n-items 50 --out runs/plain.csv\n\n"
    "  interp evaluate --vector vectors/counting --layer 1 --strength 4 --selector image --tasks Count --out runs/steered.csv"
)


@app.command(cls=multi_value("--tasks"), epilog=EVALUATE_EXAMPLE)
@user_errors
def evaluate(
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV file: one row per item (and condition).")],
    model: Annotated[str, typer.Option("--model", "-m", help="The MLLM: hub id, local directory, 'organism' or 'organism-llava'.")] = "organism",
    benchmark: Annotated[str, typer.Option("--benchmark", "-b", help="organism, cvbench, whatsup_a, whatsup_b, blink_object_localization, clevr_count.")] = "organism",
    benchmark_path: Annotated[str | None, typer.Option("--benchmark-path", help="A local copy of the benchmark.")] = None,
    split: Annotated[str, typer.Option("--split", help="test, train, val or all.")] = "test",
    tasks: Annotated[list[str] | None, typer.Option("--tasks", "-t", help="Keep these tasks (default: all).")] = None,
    n_items: Annotated[int | None, typer.Option("--n-items", "-n", help="Items per task. Default: organism 150, else all.")] = None,
    vector: Annotated[Path | None, typer.Option("--vector", "-v", help="Steer with this saved vector (needs --layer and --strength).")] = None,
    layer: Annotated[int | None, typer.Option("--layer", "-l", help="The steered layer.")] = None,
    strength: Annotated[float | None, typer.Option("--strength", "-s", help="alpha in h + alpha * v (the 'alpha' column of a sweep's table.csv), or relative with --relative.")] = None,
    selector: Annotated[Selector, typer.Option("--selector", help="Which tokens are steered.")] = Selector.image,
    relative: Annotated[bool, typer.Option("--relative", help="--strength is relative to the mean residual norm of the selected tokens (as the sweep's strengths).")] = False,
    method: Annotated[ScoreMethod, typer.Option("--method", help="logits: option logits, one prefill; generate: the paper's greedy generation and parser.")] = ScoreMethod.logits,
    prefix: Annotated[str | None, typer.Option("--prefix", help="Instruction prefix replacing the paper's (a prompting baseline).")] = None,
    baseline: Annotated[bool, typer.Option("--baseline/--no-baseline", help="With --vector, also score unsteered and report the paired gain.")] = True,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Items per forward pass.")] = 16,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the organism's items and the bootstrap.")] = 0,
    dtype: Annotated[DType, typer.Option("--dtype", help="Parameter dtype of the MLLM.")] = DType.auto,
    device_map: Annotated[str | None, typer.Option("--device-map", help="Passed to transformers, e.g. auto or cuda:0.")] = None,
) -> None:
    """Score benchmark items, optionally steered, and print accuracy per task with a bootstrap CI."""
    import pandas as pd

    from interp.evaluation import accuracy, paired_difference, residual_norms, score
    from interp.vectors import SteeringVector

    _check_csv_out(out)
    _check_benchmark(benchmark)
    steering = [x is not None for x in (vector, layer, strength)]
    if any(steering) and not all(steering):
        raise ValueError("steering needs --vector, --layer and --strength together")
    if relative and vector is None:
        raise ValueError("--relative needs --vector, --layer and --strength")
    v = SteeringVector.load(vector) if vector is not None else None
    if v is not None and layer not in v.layers:
        raise ValueError(f"{vector} has no direction at layer {layer} (it has {list(v.layers)})")
    items = _items(benchmark, benchmark_path, split, tasks, _positive(n_items, "--n-items"), seed)
    if not len(items):
        raise ValueError(f"{benchmark}/{split} has no items for tasks {tasks}")
    mllm = _load_mllm(model, dtype, device_map)
    kw: dict[str, Any] = {"method": method.value, "prefix": prefix, "batch_size": batch_size,
                          "progress": err_console.is_terminal}
    frames = []
    if v is not None:
        assert layer is not None and strength is not None
        v.check_compatible(mllm)
        alpha = float(strength)
        if relative:
            norm = residual_norms(mllm, list(items)[:32], [layer], [selector.value], batch_size=batch_size)
            direction_norm = float(v.at(layer).norm())
            alpha = 0.0 if direction_norm == 0 else strength * norm[layer, selector.value] / direction_norm
        steer = interp.add(v, layer, alpha, selector.value)
        frames.append(score(mllm, items, steer, **kw).assign(condition="steered", layer=layer, alpha=alpha, selector=selector.value))
    if v is None or baseline:
        frames.append(score(mllm, items, **kw).assign(condition="unsteered"))
    table = pd.concat(frames, ignore_index=True)
    table.to_csv(out, index=False)

    summary = Table(title=f"{benchmark}/{split}, {method.value} scoring (95% bootstrap CI)", title_justify="left")
    for name in ["task", "n", *(["steered"] if v is not None else []), *(["unsteered"] if v is None or baseline else []),
                 *(["gain (points)", "p (McNemar)"] if v is not None and baseline else [])]:
        summary.add_column(name, justify="left" if name == "task" else "right")
    groups = [*sorted(table["task"].unique()), "all"]
    for task in groups:
        rows = table if task == "all" else table[table["task"] == task]
        by = {c: g.sort_values("item_id")["correct"].to_numpy(dtype=float) for c, g in rows.groupby("condition")}
        cells = [task, str(len(next(iter(by.values()))))]
        for cond in ("steered", "unsteered"):
            if cond in by:
                est = accuracy(by[cond], seed=seed)
                cells.append(f"{est.value:.3f} [{est.low:.3f}, {est.high:.3f}]")
        if "steered" in by and "unsteered" in by:
            diff = paired_difference(by["steered"], by["unsteered"], seed=seed)
            cells += [_points(diff.low, diff.diff, diff.high), f"{diff.p_value:.3g}"]
        summary.add_row(*(escape(c) for c in cells))
    _print_table(summary)
    console.print(f"{len(table)} rows written to {escape(str(out))}", soft_wrap=True)


# -- analyze ------------------------------------------------------------------------------------
class Analysis(str, Enum):
    alignment = "alignment"
    variance_share = "variance-share"
    modality_gap = "modality-gap"
    isomorphic = "isomorphic"
    logit_lens = "logit-lens"
    projection = "projection"
    patching = "patching"
    ablation = "ablation"
    attribution = "attribution"
    attribution_patching = "attribution-patching"
    sae_attribution = "sae-attribution"
    cast = "cast"
    lora = "lora"


#: Analyses that read a vector (``--vector``), and the ones that need the organism's scenes.
NEEDS_VECTOR = {Analysis.alignment, Analysis.variance_share, Analysis.projection, Analysis.cast, Analysis.lora}
ORGANISM_ONLY = {Analysis.isomorphic, Analysis.patching, Analysis.attribution_patching}

ANALYZE_EXAMPLE = (
    "[bold]Examples[/]:\n\n"
    "  interp analyze modality-gap --model organism --n-items 8 --out runs/gap.csv\n\n"
    "  interp analyze variance-share --vector vectors/counting --tasks Count --out runs/share.csv\n\n"
    "  interp analyze patching --layers 0 1 2 3 --n-items 8 --out runs/patching.csv\n\n"
    "Kinds: alignment, variance-share, modality-gap, isomorphic, logit-lens, projection, patching, ablation, "
    "attribution, attribution-patching, sae-attribution, cast, lora (docs/cli.md lists each one's columns)."
)


@dataclass
class _AnalysisInputs:
    """What ``interp analyze`` hands each analysis."""

    kind: Analysis
    model: str
    benchmark: str
    benchmark_path: str | None
    split: str
    tasks: list[str] | None
    n_items: int
    layers: list[int] | None
    vectors: dict[str, Any]
    batch_size: int
    seed: int
    saes: str | None
    adapter: Path | None
    dtype: DType
    device_map: str | None
    _mllm: Any = None

    @property
    def mllm(self) -> Any:
        if self._mllm is None:
            self._mllm = _load_mllm(self.model, self.dtype, self.device_map)
        return self._mllm

    def items(self, tasks: Sequence[str] | None = None, n: int | None = None) -> list[Any]:
        return list(_items(self.benchmark, self.benchmark_path, self.split, tasks or self.tasks, n or self.n_items, self.seed))

    def colour_pairs(self) -> tuple[list[Any], list[Any]]:
        """Organism colour questions and the same scenes with the asked-about object recoloured."""
        from interp.analysis import color_counterfactual

        if self.tasks and self.tasks != ["Attribute"]:
            raise ValueError(f"{self.kind.value} patches organism colour questions (task Attribute), not {self.tasks}")
        pool = self.items(["Attribute"], 4 * self.n_items + 8)
        clean = [it for it in pool if it.question.startswith("What is the color")][: self.n_items]
        return clean, [color_counterfactual(it) for it in clean]

    def per_vector(self, run: Callable[[Any], Any]) -> Any:
        import pandas as pd

        return pd.concat([run(v).assign(vector=name) for name, v in self.vectors.items()], ignore_index=True)


def _kind_means(df: Any, value: str) -> Any:
    """Per (layer, kind): the per-item sum over the kind's tokens, averaged over items."""
    per_item = df.groupby(["item", "layer", "kind"], sort=True)[value].sum().reset_index()
    return per_item.groupby(["layer", "kind"], sort=True)[value].mean().reset_index()


def _run_analysis(a: _AnalysisInputs) -> tuple[dict[str, Any], Any]:
    """The analysis's tables (``""`` = the main one, else a file-name suffix) and a summary to print."""
    from interp import analysis

    k = Analysis
    if a.kind is k.lora:
        from interp.analysis.lora import compare_directions, lora_pairs

        if a.adapter is None:
            raise ValueError("lora needs --adapter DIR (a peft LoRA adapter directory written by save_pretrained)")
        pairs = lora_pairs(a.adapter)
        df = compare_directions(pairs, a.vectors, n_random=1000, seed=a.seed)
        summary = df.groupby(["vector", "kind", "side"], sort=True).agg(
            n=("cosine", "size"), max_abs_cosine=("abs_cosine", "max"), random_abs_q95=("random_abs_q95", "mean")).reset_index()
        return {"": df, "pairs": pairs.table}, summary
    if a.kind is k.alignment:
        df = a.per_vector(lambda v: analysis.vector_alignment(a.mllm, v, a.items(), layers=a.layers, batch_size=a.batch_size))
        return {"": df}, df[["vector", "layer", "kind", "n_tokens", "mean_cos", "cos_of_mean"]]
    if a.kind is k.variance_share:
        df = a.per_vector(lambda v: analysis.variance_share(
            a.mllm, v, a.items(), layers=a.layers, kinds=("image", "text"), seed=a.seed, batch_size=a.batch_size))
        return {"": df}, df[["vector", "layer", "kind", "share", "random_mean", "uniform", "ratio"]]
    if a.kind is k.modality_gap:
        df = analysis.modality_gap(a.mllm, a.items(), layers=a.layers, batch_size=a.batch_size)
        return {"": df}, df[["layer", "n_items", "cosine", "distance", "cka"]]
    if a.kind is k.isomorphic:
        backbone = interp.load_text_backbone(mllm=a.model if a.model in interp.organism.NAMES else a.mllm)
        iso = analysis.isomorphic(a.mllm, a.items(), backbone=backbone, layers=a.layers, batch_size=a.batch_size)
        return {"": iso.accuracy, "similarity": iso.similarity, "items": iso.items}, iso.accuracy
    if a.kind is k.logit_lens:
        df = analysis.logit_lens(a.mllm, a.items(), layers=a.layers, top_k=5, batch_size=a.batch_size)
        top = df[df["rank"] == 1]
        summary = top.groupby(["layer", "kind"], sort=True)["pred_token"].agg(
            n="size", top_token=lambda s: s.value_counts().index[0], share=lambda s: s.value_counts(normalize=True).iloc[0]).reset_index()
        return {"": df}, summary
    if a.kind is k.projection:
        df = a.per_vector(lambda v: analysis.projection(a.mllm, v, a.items(), layers=a.layers, batch_size=a.batch_size))
        summary = df.groupby(["vector", "layer", "kind"], sort=True).agg(
            n=("projection", "size"), projection=("projection", "mean"), cosine=("cosine", "mean")).reset_index()
        return {"": df}, summary
    if a.kind is k.patching:
        clean, corrupt = a.colour_pairs()
        patched = analysis.activation_patching(a.mllm, clean, corrupt, layers=a.layers, batch_size=a.batch_size)
        return {"": patched.groups, "pairs": patched.pairs}, patched.summary()
    if a.kind is k.ablation:
        modes = ("zero", "mean", "direction") if a.vectors else ("zero", "mean")
        if len(a.vectors) > 1:
            raise ValueError("ablation removes one direction: give one --vector")
        v = next(iter(a.vectors.values()), None)
        df = analysis.ablation(a.mllm, a.items(), layers=a.layers, modes=modes, vector=v, batch_size=a.batch_size)
        return {"": df}, analysis.ablation_summary(df)
    if a.kind is k.attribution:
        from interp.analysis.attribution import gradient_x_activation

        df = gradient_x_activation(a.mllm, a.items(), a.layers, batch_size=a.batch_size)
        return {"": df}, _kind_means(df, "attribution")
    if a.kind is k.attribution_patching:
        from interp.analysis.attribution import attribution_patching

        clean, corrupt = a.colour_pairs()
        df = attribution_patching(a.mllm, clean, corrupt, a.layers, batch_size=a.batch_size)
        return {"": df}, _kind_means(df, "attribution")
    if a.kind is k.sae_attribution:
        from interp.analysis.attribution import sae_feature_attribution

        saes = a.saes or (a.model if a.model in interp.organism.NAMES else None)
        if saes is None:
            raise ValueError("sae-attribution needs --saes (an SAE directory or what interp.vectors.load_saes takes)")
        found = sae_feature_attribution(a.mllm, a.items(), saes, a.layers, batch_size=a.batch_size)
        return {"": found.features, "layers": found.layers}, found.layers
    if a.kind is k.cast:
        from interp.analysis.cast import condition_grid

        if len(a.vectors) != 1:
            raise ValueError("cast searches one condition vector: give one --vector")
        name, v = next(iter(a.vectors.items()))
        tasks = _targets(a.vectors, a.benchmark, a.tasks)[name]
        from interp.evaluation import load_benchmark

        every = load_benchmark(a.benchmark, a.benchmark_path, split="test", limit=1).tasks if a.benchmark != "organism" else [
            "Count", "Relation", "Depth", "Distance", "Attribute"]
        others = [t for t in every if t not in tasks]
        if not others:
            raise ValueError(f"cast needs tasks besides {tasks} for the negative set")
        positive = a.items(tasks)
        negative = a.items(others, max(1, -(-a.n_items // len(others))))
        grid = condition_grid(a.mllm, positive, negative, v, a.layers, batch_size=a.batch_size)
        best = grid.best
        console.print(
            f"best condition: layer {best.layer}, sim {best.comparator} {best.threshold:.4f}, F1 {best.f1:.3f} "
            f"({len(positive)} items of {tasks} vs {len(negative)} of {others})", soft_wrap=True)
        top = grid.grid.sort_values(["f1", "accuracy"], ascending=False).head(10)
        return {"": grid.grid, "scores": grid.scores}, top
    raise AssertionError(f"unhandled analysis {a.kind}")  # pragma: no cover - the enum is exhaustive


@app.command(cls=multi_value("--vector", "--tasks", "--layers"), epilog=ANALYZE_EXAMPLE)
@user_errors
def analyze(
    kind: Annotated[Analysis, typer.Argument(help="Which analysis.", case_sensitive=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV file for the analysis's table (more tables beside it as FILE_<part>.csv).")],
    model: Annotated[str, typer.Option("--model", "-m", help="The MLLM: hub id, local directory, 'organism' or 'organism-llava'.")] = "organism",
    vector: Annotated[list[Path] | None, typer.Option("--vector", "-v", help="Saved vector directories (alignment, variance-share, projection, ablation, cast, lora).")] = None,
    benchmark: Annotated[str, typer.Option("--benchmark", "-b", help="Where the items come from (organism by default).")] = "organism",
    benchmark_path: Annotated[str | None, typer.Option("--benchmark-path", help="A local copy of the benchmark.")] = None,
    split: Annotated[str, typer.Option("--split", help="test, train, val or all.")] = "test",
    tasks: Annotated[list[str] | None, typer.Option("--tasks", "-t", help="Tasks of the items (default: all; cast: the vector's).")] = None,
    n_items: Annotated[int, typer.Option("--n-items", "-n", help="Items per task (patching: colour pairs).")] = 8,
    layers: Annotated[list[int] | None, typer.Option("--layers", "-l", help="Layers to analyse (default: all, or the vector's).")] = None,
    saes: Annotated[str | None, typer.Option("--saes", help="sae-attribution: the SAEs (default 'organism' for the organism).")] = None,
    adapter: Annotated[Path | None, typer.Option("--adapter", help="lora: a peft LoRA adapter directory.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Items per forward pass.")] = 8,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the organism's items and random directions.")] = 0,
    dtype: Annotated[DType, typer.Option("--dtype", help="Parameter dtype of the MLLM.")] = DType.auto,
    device_map: Annotated[str | None, typer.Option("--device-map", help="Passed to transformers, e.g. auto or cuda:0.")] = None,
) -> None:
    """Run one analysis of interp.analysis on benchmark items and write its table.

    Items come from --benchmark (the organism's test scenes by default); isomorphic,
    patching and attribution-patching need the organism's scenes.
    """
    _check_csv_out(out)
    _check_benchmark(benchmark)
    _positive(n_items, "--n-items")
    if kind in NEEDS_VECTOR and not vector:
        raise ValueError(f"{kind.value} needs --vector DIR (a vector saved by interp extract)")
    if kind in ORGANISM_ONLY and benchmark != "organism":
        raise ValueError(f"{kind.value} needs the organism's scenes: use --benchmark organism")
    if vector and kind not in NEEDS_VECTOR | {Analysis.ablation}:
        raise ValueError(f"{kind.value} takes no --vector")
    if adapter is not None and kind is not Analysis.lora:
        raise ValueError("--adapter is for the lora analysis")
    if kind is Analysis.lora and adapter is not None and not adapter.is_dir():
        raise ValueError(f"--adapter {adapter} is not a directory (expected one written by peft's save_pretrained)")
    inputs = _AnalysisInputs(kind, model, benchmark, benchmark_path, split, tasks or None, n_items, layers or None,
                             _load_vectors(vector), batch_size, seed, saes, adapter, dtype, device_map)
    tables, summary = _run_analysis(inputs)
    written = []
    for part, df in tables.items():
        path = out if not part else out.with_name(f"{out.stem}_{part}{out.suffix}")
        df.to_csv(path, index=False)
        written.append(f"{path} ({len(df)} rows)")
    _show_frame(summary, title=f"{kind.value}: summary", note=str(out))
    console.print("wrote " + ", ".join(escape(w) for w in written), soft_wrap=True)


# -- figures ------------------------------------------------------------------------------------
class FigureFormat(str, Enum):
    html = "html"
    png = "png"
    pdf = "pdf"
    svg = "svg"


FIGURES_EXAMPLE = (
    "[bold]Examples[/]:\n\n"
    "  interp figures runs/counting --out runs/counting/figures\n\n"
    "  interp figures outputs/demo --out paper/figures --format pdf svg\n\n"
    "Reads grid.csv and table.csv (and variance_share.csv, modality_gap.csv, isomorphic_similarity.csv) "
    "from the folder or its tables/ subfolder; runs no model."
)
#: CSV tables ``interp figures`` reads, by ``report_figures`` argument.
FIGURE_TABLES = {
    "grid": "grid.csv", "table": "table.csv", "variance_share": "variance_share.csv",
    "modality_gap": "modality_gap.csv", "isomorphic": "isomorphic_similarity.csv",
}


@app.command(cls=multi_value("--format"), epilog=FIGURES_EXAMPLE)
@user_errors
def figures(
    results: Annotated[Path, typer.Argument(help="A folder written by interp sweep or interp demo.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the figures.")],
    format: Annotated[list[FigureFormat] | None, typer.Option("--format", "-f", help="html, png, pdf, svg (several: --format html png). Default: html png.")] = None,
) -> None:
    """Draw the standard figures from a sweep's or the demo's CSV tables (no model runs)."""
    import warnings

    import pandas as pd

    if not results.is_dir():
        raise ValueError(f"{results} is not a directory: expected the folder interp sweep or interp demo wrote")
    _check_out_dir(out)
    found: dict[str, Any] = {}
    for key, name in FIGURE_TABLES.items():
        for folder in (results, results / "tables"):
            if (folder / name).is_file():
                found[key] = pd.read_csv(folder / name)
                break
    if "grid" not in found and "table" not in found:
        raise ValueError(
            f"{results} holds no grid.csv or table.csv (nor does {results / 'tables'}): expected the folder "
            "interp sweep or interp demo wrote"
        )
    from interp.figures import report_figures

    formats = [f.value for f in format or [FigureFormat.html, FigureFormat.png]]
    grid, table = found.pop("grid", None), found.pop("table", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        paths = report_figures({"grid": grid, "table": table}, out, formats=formats, **found)
    for w in caught:
        if issubclass(w.category, RuntimeWarning):
            err_console.print(f"[bold yellow]note:[/] {escape(str(w.message))}", soft_wrap=True, highlight=False)
    if not paths:
        raise fail(f"no figure was written to {out}: static export failed (see the note above); --format html needs no browser", 1)
    for path in paths:
        console.print(escape(str(path)), soft_wrap=True, highlight=False)
    console.print(f"{len(paths)} files written to {escape(str(out))}", soft_wrap=True)


# -- demo ---------------------------------------------------------------------------------------
DEMO_EXAMPLE = (
    "[bold]Examples[/]:\n\n"
    "  interp demo                                   # the organism, about four minutes of one CPU core\n\n"
    "  interp demo --methods meanshift probe --concepts counting --n-test 60 --out outputs/quick\n\n"
    "  interp demo --model google/paligemma2-3b-mix-448 --benchmark cvbench --device-map cuda:0 --out outputs/cvbench\n\n"
    "A second run with the same options reuses the saved vectors and every finished result."
)


_DEMO_DEFAULTS = DemoConfig()


@app.command(cls=multi_value("--methods", "--concepts", "--layers", "--strengths", "--selectors"), epilog=DEMO_EXAMPLE)
@user_errors
def demo(
    model: Annotated[str, typer.Option("--model", "-m", help="The MLLM: hub id, local directory, 'organism' or 'organism-llava'.")] = "organism",
    benchmark: Annotated[str, typer.Option("--benchmark", "-b", help="organism, cvbench, whatsup_a, whatsup_b, blink_object_localization, clevr_count.")] = "organism",
    benchmark_path: Annotated[str | None, typer.Option("--benchmark-path", help="A local copy of the benchmark.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="The report folder.")] = Path("outputs/demo"),
    methods: Annotated[list[str] | None, typer.Option("--methods", help="Vector methods (default: meanshift probe sae diffmean).")] = None,
    concepts: Annotated[list[str] | None, typer.Option("--concepts", help="Concepts (default: every concept with a task in the benchmark).")] = None,
    layers: Annotated[list[int] | None, typer.Option("--layers", "-l", help="Layers (default: all).")] = None,
    strengths: Annotated[list[float] | None, typer.Option("--strengths", "-s", help="Relative strengths (default: -1 -0.5 0.5 1).")] = None,
    selectors: Annotated[list[Selector] | None, typer.Option("--selectors", help="Token selectors (default: image text both).")] = None,
    n_train: Annotated[int, typer.Option("--n-train", min=1, help="Train items per task.")] = _DEMO_DEFAULTS.n_train,
    n_test: Annotated[int, typer.Option("--n-test", min=1, help="Test items per task.")] = _DEMO_DEFAULTS.n_test,
    n_random: Annotated[int, typer.Option("--n-random", min=0, help="Random directions per chosen cell.")] = _DEMO_DEFAULTS.n_random,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Items per forward pass.")] = 32,
    seed: Annotated[int, typer.Option("--seed", help="Seed of items and random directions.")] = 0,
    analyses: Annotated[bool, typer.Option("--analyses/--no-analyses", help="Variance share, modality gap, isomorphic inputs.")] = True,
    with_figures: Annotated[bool, typer.Option("--figures/--no-figures", help="Write figures.")] = True,
    static: Annotated[bool, typer.Option("--static/--no-static", help="PNG figures besides HTML (needs Chromium).")] = True,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="torch CPU threads (default: torch's).")] = None,
    device_map: Annotated[str | None, typer.Option("--device-map", help="Passed to transformers, e.g. auto or cuda:0.")] = None,
    dtype: Annotated[DType, typer.Option("--dtype", help="Parameter dtype.")] = DType.auto,
) -> None:
    """Run the paper's whole pipeline and write a report folder (interp.demo.run_demo).

    Vectors by every method from text alone, the layer x strength x selector sweep chosen on
    train and reported on test with prompting and random-direction controls, what the vectors
    look like inside the model, figures, and summary.md.
    """
    from interp.demo import METHODS, run_demo
    from interp.vectors import get_method

    for name in methods or ():
        get_method(name)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    config = DemoConfig(
        model=model, benchmark=benchmark, benchmark_path=benchmark_path, out=str(out),
        methods=tuple(methods or METHODS), concepts=list(concepts) if concepts else None,
        layers=list(layers) if layers else None, selectors=tuple(s.value for s in selectors) if selectors else DemoConfig.selectors,
        n_train=n_train, n_test=n_test, n_random=n_random, batch_size=batch_size, seed=seed,
        analyses=analyses, figures=with_figures, static=static, progress=err_console.is_terminal,
        device_map=device_map, dtype=None if dtype is DType.auto else dtype.value,
    )
    if strengths:
        config.strengths = tuple(strengths)
    _check_out_dir(out)
    with _quiet_loading():
        report = run_demo(config)
    _show_result_table(report.table)
    if report.figures:
        console.print(f"{len(report.figures)} figure files in {escape(str(report.out / 'figures'))}", soft_wrap=True)
    console.print(f"summary: {escape(str(report.summary))}", soft_wrap=True)


__all__ = ["app", "fail", "multi_value", "parse_params", "user_errors"]
