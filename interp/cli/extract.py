"""``interp extract``: a textual steering vector for a concept, computed and saved.

Example:
    $ interp extract --model organism --concept counting --layers 0 1 --out vectors/counting
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

import interp
from interp.cli import _app as cli
from interp.cli import _inputs
from interp.cli.render import show_vector


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


def _check_method(method: str, params: dict[str, Any]) -> None:
    """Build the method once, so unknown names and bad parameters fail before any model loads."""
    from interp.vectors import get_method

    try:
        get_method(method, **params)
    except TypeError as err:
        raise ValueError(f"bad --param for method {method!r}: {err}") from None


def _corpus_source(source: str, model: str, backbone: str | None) -> str:
    """``--source``, or (auto) the corpus source in the model's vocabulary (its model source's), else default."""
    from interp.concepts import corpus_sources
    from interp.models.sources import source_of

    if source == "auto":
        found = source_of(backbone or model)
        return (found.corpus_source if found is not None else None) or "default"
    if source not in corpus_sources():
        raise ValueError(f"--source {source!r} is not a corpus source: expected auto or one of {corpus_sources()}")
    return source


def _load_backbone(model: str, backbone: str | None, dtype: cli.DType, device_map: str | None, remote: cli.Remote | None = None) -> Any:
    import torch

    kwargs: dict[str, Any] = {"device_map": device_map, "remote": cli.remote_value(remote)}
    if dtype is not cli.DType.auto:
        kwargs["dtype"] = getattr(torch, dtype.value)
    if backbone is not None:
        return interp.load_text_backbone(backbone, **kwargs)
    return interp.load_text_backbone(mllm=model, **kwargs)


@cli.app.command(cls=cli.multi_value("--layers", "-l"), epilog=EXTRACT_EXAMPLE)
@cli.user_errors
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
    model: cli.ModelOption = None,
    backbone: Annotated[
        str | None,
        typer.Option("--backbone", help="Compute on this text backbone instead of the one paired with --model."),
    ] = None,
    method: Annotated[
        str, typer.Option("--method", help="A registered vector method: meanshift, probe, sae, diffmean, pca (diffmean and pca take contrast pairs).")
    ] = "meanshift",
    layers: Annotated[
        list[int] | None,
        typer.Option("--layers", "-l", help="Layers (0-based, output of decoder layer l), e.g. --layers 0 1. Default: all."),
    ] = None,
    source: Annotated[
        str,
        typer.Option(
            "--source",
            help="Where taxonomy names are looked up: default, a plugin's corpus source (organism), or auto = the "
            "model's own vocabulary's (organism for --model organism), else default.",
        ),
    ] = "auto",
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="A method parameter as key=value (repeat it), e.g. --param n_components=5."),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a vector already saved at --out.")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Sentences per forward pass.")] = 16,
    backend: Annotated[Backend, typer.Option("--backend", help="Where activations come from: 'auto' is torch hooks on local weights, nnsight for a remote model.")] = Backend.auto,
    dtype: cli.DTypeOption = cli.DType.auto,
    device_map: cli.DeviceMapOption = None,
    remote: cli.RemoteOption = None,
) -> None:
    """Compute a textual steering vector for a concept and save it.

    The vector is computed from sentences alone on the MLLM's text-only backbone.

    Load it back with interp.SteeringVector.load(DIR).
    """
    params = cli.parse_params(param)
    model = _inputs.resolve_model(model)
    _inputs.check_vector_out(out, overwrite)
    _check_method(method, params)
    if Path(concept).is_dir():
        raise ValueError(
            f"--concept {concept} is a directory: expected a taxonomy name (e.g. counting) or a JSONL file "
            "of sentences with their anchors"
        )
    corpus_source = _corpus_source(source, model, backbone)
    from interp.models.compat import quiet_progress

    with cli.err_console.status(f"loading the text backbone of {backbone or model}..."), quiet_progress(enabled=cli.err_console.is_terminal):
        text_model = _load_backbone(model, backbone, dtype, device_map, remote)
    vector = interp.compute(
        text_model,
        concept,
        method,
        layers=layers or None,
        source=corpus_source,
        batch_size=batch_size,
        backend=backend.value,
        progress=cli.err_console.is_terminal,
        **params,
    )
    saved = vector.save(out, overwrite=overwrite)
    show_vector(vector, saved)
