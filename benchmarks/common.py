"""Shared pieces of the benchmarks: threads, interleaved timing, the two models, the reference way.

Every benchmark compares ways of doing the same work side by side in one process: the ways run
in interleaved rounds (the starting way rotates each round) and medians are compared, because
the machines are shared and only a ratio means something. Each benchmark prints and sets the
torch thread count, prints its tables and ends with one JSON line (``emit``).

The reference way is the code path of arXiv 2505.14071's evaluation: a torch forward hook on one
decoder layer adds ``alpha * v`` on the selected prompt positions during the prefill (generated
tokens see the edit through the KV cache), one (layer, strength) per pass, each item scored at
batch 1 by greedy generation of up to 20 tokens (stopping at EOS) and answer parsing.

The two models: the shipped organism, and a random-initialised PaliGemma of about 270M
parameters (SigLIP 768-d x 12 layers at 224 px, patch 14: 256 image tokens; Gemma 2 768-d x 12
layers) built from a config on first use and cached under ``$INTERP_BENCH_CACHE`` (default: the
system temp dir), with its processor and a byte-level BPE tokenizer trained on the fly as
``interp.testing`` does.

Example:
    >>> import common                                                     # doctest: +SKIP
    >>> threads = common.set_threads(1)                                   # doctest: +SKIP
    >>> times = common.interleaved({"a": f, "b": g}, rounds=5)            # doctest: +SKIP
    >>> common.median(times["a"]) / common.median(times["b"])             # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import math
import numbers
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

#: Model names every benchmark accepts (``--models``); any other value is a checkpoint directory.
MODELS = ("organism", "pg270m")

#: The ~270M random PaliGemma: SigLIP-like vision tower and Gemma 2 text model, 224 px, 256 image tokens.
PG270M_VISION = {
    "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
    "image_size": 224, "patch_size": 14, "vision_use_head": False,
}
PG270M_TEXT = {
    "hidden_size": 768, "intermediate_size": 5888, "num_hidden_layers": 12, "num_attention_heads": 12,
    "num_key_value_heads": 4, "head_dim": 64, "query_pre_attn_scalar": 64, "sliding_window": 4096,
    "max_position_embeddings": 8192, "num_image_tokens": 256,
}
PG270M_SEED = 0


# -- command line and output ---------------------------------------------------------------------
def parser(doc: str | None) -> argparse.ArgumentParser:
    """The options every benchmark shares: ``--threads``, ``--quick``, ``--full``, ``--models``, ``--rounds``."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="tiniest settings, organism only (smoke test)")
    size.add_argument("--full", action="store_true", help="the whole grid / all items, however long it takes")
    p.add_argument("--models", nargs="+", default=None,
                   help=f"models to run: {' '.join(MODELS)} or checkpoint directories, which get the random "
                   "model's settings (default: both; --quick: organism)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default per benchmark)")
    return p


def models_of(args: argparse.Namespace) -> list[str]:
    """The models a run covers: ``--models``, else the organism (``--quick``) or both."""
    if args.models:
        return list(args.models)
    return ["organism"] if args.quick else list(MODELS)


def set_threads(n: int) -> int:
    """Set and print the torch thread count; returns it."""
    import torch

    if n < 1:
        raise ValueError(f"--threads must be a positive int, got {n}")
    torch.set_num_threads(n)
    n = torch.get_num_threads()
    print(f"torch threads: {n} (torch.set_num_threads({n}))")
    return n


def environment(threads: int) -> dict[str, Any]:
    """What the JSON line records about the run: threads, torch, device, CPU count."""
    import torch

    return {
        "threads": threads, "torch": torch.__version__, "cpus": os.cpu_count(),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
    }


def _plain(x: Any) -> Any:
    """JSON-ready values: non-finite floats become None, numpy/torch scalars plain numbers."""
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (bool, str)) or x is None:
        return x
    if isinstance(x, numbers.Integral):
        return int(x)
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    return f if math.isfinite(f) else None


def emit(result: Mapping[str, Any]) -> None:
    """Print the benchmark's one machine-readable line (the last line of its output; NaN -> null)."""
    print(json.dumps(_plain(result), sort_keys=True, allow_nan=False), flush=True)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain fixed-width text table (floats with 3 significant digits)."""

    def fmt(x: Any) -> str:
        if isinstance(x, float):
            return f"{x:.3g}" if abs(x) < 1000 else f"{x:.0f}"
        return str(x)

    cells = [[fmt(x) for x in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    return "\n".join(out)


def verdict(value: float, target: float, *, at_most: bool) -> str:
    """``"PASS"`` or ``"MISS"`` against a target (``at_most``: value <= target, else >=)."""
    ok = value <= target if at_most else value >= target
    return "PASS" if ok else "MISS"


# -- timing --------------------------------------------------------------------------------------
def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def interleaved(
    runs: Mapping[str, Callable[[], Any]], rounds: int, *, warmup: bool = True
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Time each callable once per round, rotating which goes first; returns (times, last results).

    Example:
        >>> times, out = interleaved({"a": lambda: 1, "b": lambda: 2}, rounds=3, warmup=False)
        >>> len(times["a"]), out["b"]
        (3, 2)
    """
    if rounds < 1:
        raise ValueError(f"rounds must be a positive int, got {rounds}")
    names = list(runs)
    results: dict[str, Any] = {}
    if warmup:
        for name in names:
            results[name] = runs[name]()
    times: dict[str, list[float]] = {k: [] for k in names}
    for r in range(rounds):
        for k in range(len(names)):
            name = names[(r + k) % len(names)]
            start = time.perf_counter()
            results[name] = runs[name]()
            times[name].append(time.perf_counter() - start)
    return times, results


class Stopwatch:
    """Seconds accumulated per (phase, part), from torch forward hooks on modules.

    ``watch(module, part)`` times every forward of ``module`` into ``"{phase}/{part}"``, where
    ``phase`` is whatever the caller set last (``sw.phase = "base"``). Parts are not nested:
    give it modules that do not contain each other. Hooks are removed on exit, even when the
    body raises.

    Example:
        >>> with Stopwatch() as sw:                                   # doctest: +SKIP
        ...     sw.watch(model.vision_tower, "vision")
        ...     model(**inputs)
        >>> sw.seconds["other/vision"]                                # doctest: +SKIP
    """

    def __init__(self) -> None:
        self.phase = "other"
        self.seconds: dict[str, float] = {}
        self._handles: list[Any] = []
        self._start: dict[int, float] = {}

    def watch(self, module: Any, part: str) -> None:
        def pre(mod: Any, args: Any) -> None:
            self._start[id(mod)] = time.perf_counter()

        def post(mod: Any, args: Any, out: Any) -> None:
            key = f"{self.phase}/{part}"
            self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - self._start.pop(id(mod))

        self._handles.append(module.register_forward_pre_hook(pre))
        self._handles.append(module.register_forward_hook(post))

    def total(self, phase: str | None = None, part: str | None = None) -> float:
        """Seconds summed over the keys matching ``phase`` and/or ``part`` (None: any)."""
        out = 0.0
        for key, s in self.seconds.items():
            ph, pa = key.split("/", 1)
            if (phase is None or ph == phase) and (part is None or pa == part):
                out += s
        return out

    def __enter__(self) -> Stopwatch:
        return self

    def __exit__(self, *exc: Any) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()


# -- memory --------------------------------------------------------------------------------------
def _proc_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


_MALLOPT: list[bool] = []


def exact_rss() -> None:
    """From now on, heap blocks of 128 KiB or more are mapped on their own and unmapped when freed
    (glibc ``mallopt``: fixed mmap and trim thresholds), so resident memory follows live memory
    instead of glibc's reuse of freed blocks (which made peaks vary by tens of MiB run to run).
    Both ways compared pay the same extra page faults. A no-op where glibc is absent."""
    if _MALLOPT:
        return
    _MALLOPT.append(True)
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 128 * 1024)  # M_TRIM_THRESHOLD


@contextlib.contextmanager
def peak_memory() -> Iterator[dict[str, float]]:
    """Peak memory (MiB) the body adds above what was resident when it started.

    On a GPU: ``torch.cuda`` peak allocated after ``reset_peak_memory_stats``. On the CPU
    (Linux): large blocks are unmapped when freed (``exact_rss``), freed heap is returned to
    the OS (``malloc_trim``), the resident high-water mark is reset (``/proc/self/clear_refs``,
    5), and the peak is ``VmHWM`` minus the ``VmRSS`` at the start. The dict it yields is
    filled on exit: ``{"peak_mib": ...}``.

    Example:
        >>> with peak_memory() as mem:                                # doctest: +SKIP
        ...     run()
        >>> mem["peak_mib"]                                           # doctest: +SKIP
    """
    import torch

    out: dict[str, float] = {}
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        yield out
        torch.cuda.synchronize()
        out["peak_mib"] = (torch.cuda.max_memory_allocated() - base) / 2**20
        return
    exact_rss()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = _proc_kib("VmRSS")
    yield out
    out["peak_mib"] = (_proc_kib("VmHWM") - base) / 1024


# -- models --------------------------------------------------------------------------------------
def cache_root() -> Path:
    return Path(os.environ.get("INTERP_BENCH_CACHE") or Path(tempfile.gettempdir()) / "interp-bench")


def _build_atomically(out: Path, build: Callable[[Path], None]) -> Path:
    import shutil

    done = out / ".done"
    if done.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        build(scratch)
        (scratch / ".done").write_text("ok\n")
        try:
            scratch.rename(out)
        except OSError:
            if not done.exists():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return out


def paligemma_parts(text_cfg: dict[str, Any], vision_cfg: dict[str, Any],
                    vocab_size: int | None = None) -> tuple[Any, Any]:
    """(PaliGemmaConfig, PaliGemmaProcessor) of a PaliGemma of the given text and vision shapes.

    The tokenizer and the special token ids come from a tiny checkpoint; ``vocab_size`` (default:
    the tiny tokenizer's) sets the embedding's rows, so a real-size vocabulary costs its real
    memory while the tokenizer stays small. Text layers alternate sliding and full attention, as
    in Gemma 2; the projection maps the vision width onto the text width.
    """
    from transformers import (
        AutoConfig,
        PaliGemmaConfig,
        PaliGemmaProcessor,
        SiglipImageProcessorPil,
    )

    from interp.testing import load_tiny_processor, tiny_mllm_dir

    tiny = tiny_mllm_dir("paligemma", cache_root() / "tiny")
    tok = load_tiny_processor(str(tiny)).tokenizer
    raw = AutoConfig.from_pretrained(tiny).to_dict()
    n = text_cfg["num_hidden_layers"]
    text = {**raw["text_config"], **text_cfg,
            "layer_types": ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(n)]}
    vision = {**raw["vision_config"], **vision_cfg}
    d = text_cfg["hidden_size"]
    config = PaliGemmaConfig(
        text_config=text, vision_config=vision, image_token_index=raw["image_token_index"],
        vocab_size=raw["vocab_size"] if vocab_size is None else vocab_size, projection_dim=d, hidden_size=d,
        pad_token_id=raw["pad_token_id"], bos_token_id=raw["bos_token_id"], eos_token_id=raw["eos_token_id"],
    )
    size = vision_cfg["image_size"]
    image_proc = SiglipImageProcessorPil(size={"height": size, "width": size})
    image_proc.image_seq_length = (size // vision_cfg["patch_size"]) ** 2
    processor = PaliGemmaProcessor(image_processor=image_proc, tokenizer=tok)
    return config, processor


def _pg270m_parts() -> tuple[Any, Any]:
    """(PaliGemmaConfig, PaliGemmaProcessor) of the ~270M model, from a tiny checkpoint's tokenizer."""
    return paligemma_parts(PG270M_TEXT, PG270M_VISION)


def _pg270m_digest() -> str:
    """A short hash of the ~270M configs and seed: a changed config never reuses a stale build."""
    import hashlib

    spec = json.dumps({"vision": PG270M_VISION, "text": PG270M_TEXT, "seed": PG270M_SEED}, sort_keys=True)
    return hashlib.sha256(spec.encode()).hexdigest()[:10]


def pg270m_dir() -> Path:
    """Directory of the ~270M random PaliGemma (built and saved on first use, about a minute)."""
    import torch
    from transformers import PaliGemmaForConditionalGeneration

    from interp.models.compat import quiet_progress

    def build(out: Path) -> None:
        config, processor = _pg270m_parts()
        torch.manual_seed(PG270M_SEED)
        model = PaliGemmaForConditionalGeneration(config).eval()
        with quiet_progress():
            model.save_pretrained(out)
        processor.save_pretrained(out)

    return _build_atomically(cache_root() / f"paligemma-270m-{_pg270m_digest()}", build)


def pg270m_text_dir() -> Path:
    """A Gemma 2 text backbone with the ~270M PaliGemma's text config and tokenizer (random weights)."""
    import torch
    from transformers import Gemma2Config, Gemma2ForCausalLM

    from interp.models.compat import quiet_progress

    def build(out: Path) -> None:
        config, processor = _pg270m_parts()
        text = config.text_config.to_dict()
        text.pop("model_type", None)
        torch.manual_seed(PG270M_SEED)
        model = Gemma2ForCausalLM(Gemma2Config(**text)).eval()
        with quiet_progress():
            model.save_pretrained(out)
        processor.tokenizer.save_pretrained(out)

    return _build_atomically(cache_root() / f"gemma2-text-270m-{_pg270m_digest()}", build)


_LOADED: dict[tuple[str, str], Any] = {}


def load_mllm(name: str) -> Any:
    """``"organism"``, ``"pg270m"`` or a checkpoint directory as an ``interp.MLLM`` (cached per process)."""
    import interp

    key = ("mllm", name)
    if key not in _LOADED:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _LOADED[key] = interp.load_mllm(str(pg270m_dir()) if name == "pg270m" else name)
    return _LOADED[key]


def load_backbone(name: str) -> Any:
    """The text backbone for ``name``: the organism's, the ~270M model's Gemma 2, or a directory's."""
    import interp

    key = ("text", name)
    if key not in _LOADED:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if name == "organism":
                _LOADED[key] = interp.load_text_backbone(mllm="organism")
            elif name == "pg270m":
                _LOADED[key] = interp.load_text_backbone(str(pg270m_text_dir()))
            else:
                _LOADED[key] = interp.load_text_backbone(name)
    return _LOADED[key]


def describe_model(mllm: Any, name: str) -> str:
    n = sum(p.numel() for p in mllm.module.parameters())
    return f"{name}: {type(mllm.module).__name__}, {n / 1e6:.1f}M parameters, {mllm.n_layers} decoder layers, d_model {mllm.d_model}"


def n_params(model: Any) -> int:
    return int(sum(p.numel() for p in model.module.parameters()))


def is_random(name: str) -> bool:
    """True for every model but the organism: the ~270M random model (it never emits EOS and
    answers garbage) and checkpoint directories, which get its settings."""
    return name != "organism"


def organism_items(split: str, n_per_task: int, tasks: Sequence[str] | None = None, start: int = 0) -> list[Any]:
    """Organism items as ``interp.evaluation.Item`` (tasks interleaved); used on both models."""
    from interp.items import from_record
    from interp.organism.scenes import TASKS, make_split

    return [from_record(d) for d in make_split(split, n_per_task, tasks=tasks or TASKS, start=start)]


def round_weights_to_bf16(mllm: Any) -> Any:
    """Round every weight of a float32 ``mllm`` to bfloat16 in place, keeping float32 storage, and
    return it: float32 arithmetic on bfloat16 weights, the floor of any bf16-weight computation."""
    import torch

    with torch.no_grad():
        for w in mllm.module.parameters():
            w.copy_(w.to(torch.bfloat16).float())
    return mllm


def steering_vector(mllm: Any, name: str) -> Any:
    """The vector the benchmarks steer with: the organism's MeanShift "counting" vector on its text
    backbone; on a random model, a random direction per layer (seed 0; meaning plays no part)."""
    import torch

    import interp
    from interp.vectors import SteeringVector

    if name == "organism":
        return interp.compute(load_backbone("organism"), "counting", "meanshift", source="organism")
    g = torch.Generator().manual_seed(0)
    return SteeringVector.from_tensors(
        {layer: torch.randn(mllm.d_model, generator=g) for layer in range(mllm.n_layers)},
        method="random", concept="counting", n_layers=mllm.n_layers,
    )


# -- the reference way ---------------------------------------------------------------------------
@contextlib.contextmanager
def reference_hook(mllm: Any, vector: Any, layer: int, alpha: float, mask: Any) -> Iterator[None]:
    """The paper's steering: a forward hook on decoder layer ``layer`` adding ``alpha * vector``
    on the ``mask`` positions of the prompt. It edits the prefill only (a decode step, one
    position long, sees the edit through the KV cache). Removed on exit, even on error.
    """
    import torch

    v = vector.to(device=mllm.device, dtype=mllm.dtype)
    keep = mask.to(mllm.device).unsqueeze(-1)

    def hook(module: Any, args: Any, output: Any) -> Any:
        h = output[0] if isinstance(output, tuple) else output
        if h.shape[1] != keep.shape[1]:
            return None
        new = torch.where(keep, h + alpha * v, h)
        return (new, *output[1:]) if isinstance(output, tuple) else new

    handle = mllm.torch_layers[layer].register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def reference_answer(
    mllm: Any, item: Any, steer: tuple[Any, int, float, str] | None, max_new_tokens: int
) -> tuple[str, int | None]:
    """One item the reference way: batch 1, hooked greedy generation, the paper's parser.

    ``steer`` is ``(vector, layer, alpha, selector)`` or None (unsteered). Returns the
    generated text and the parsed choice (None when unreadable).
    """
    import torch

    from interp.answers import encode_items
    from interp.evaluation.scoring import parse_answer

    inputs = encode_items(mllm, [item])
    tok = mllm.tokenizer
    ctx: Any = contextlib.nullcontext()
    if steer is not None and steer[2] != 0.0:
        vector, layer, alpha, selector = steer
        ctx = reference_hook(mllm, vector, layer, alpha, mllm.mask(selector, inputs))
    with ctx, torch.no_grad():
        out = mllm.module.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
    text = tok.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()
    return text, parse_answer(text, item.choices, item.kind)


def reference_max_new_tokens(name: str) -> int:
    """20 (the paper's cap, stopping at EOS); 2 on a random model, which never emits EOS: as many
    tokens as a model in format generates (a letter, then EOS)."""
    return 2 if is_random(name) else 20


def quiet() -> None:
    """Silence library warnings (the benchmarks' output is their tables)."""
    warnings.simplefilter("ignore")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()


def run_benchmark(
    name: str,
    doc: str | None,
    target: Mapping[str, Any],
    run_model: Callable[[str, argparse.Namespace], dict[str, Any]],
    argv: list[str] | None,
) -> dict[str, Any]:
    """A benchmark's ``main``: parse the shared options, quiet the libraries, set and print the
    thread count (``args.threads`` then holds the count torch took), run ``run_model(model, args)``
    for each model, print the one-line JSON result and return it."""
    args = parser(doc).parse_args(argv)
    quiet()
    args.threads = set_threads(args.threads)
    result = {
        "benchmark": name, "env": environment(args.threads), "target": dict(target),
        "models": {model: run_model(model, args) for model in models_of(args)},
    }
    emit(result)
    return result


def main_guard(main: Callable[[list[str] | None], dict[str, Any]]) -> None:
    """Run a benchmark's ``main`` from the command line."""
    main(sys.argv[1:])
