"""Neuronpedia explanations of SAE features, and judges that filter ``sae`` features by them.

The paper's SAE vectors (arXiv 2505.14071, section 3) keep only the selected features whose
Neuronpedia explanation fits the concept, asking an LLM about each one. Here:

- ``load_explanations(path)`` reads a Neuronpedia export file: the bucket's
  ``explanations/batch-*.jsonl.gz`` (one explanation per line: ``modelId``, ``layer`` (the
  source id, e.g. ``"20-gemmascope-res-16k"``), ``index``, ``description``, ...), the
  ``/api/explanation/export`` answer (a JSON array of those), or ``/api/feature`` answers (one
  feature object, or a list of them, each with an ``explanations`` list);
- ``fetch_explanations`` asks Neuronpedia itself through the ``neuronpedia`` client (needs a
  network, ``pip install 'interp[neuronpedia]'`` and an API key in ``NEURONPEDIA_API_KEY``);
- ``explanation_filter(judge)`` turns a judge ``(explanation, concept) -> bool`` into the
  ``feature_filter`` that ``sae()`` takes, noting each verdict; ``keyword_judge`` is the default,
  ``llm_judge(ask)`` puts a yes/no question to any LLM you wrap in ``ask(prompt) -> answer``.

``sae()`` records, per layer, the kept features with their explanations, the dropped ones with
theirs, and the judge's notes (``meta.extra["filter_notes"]``).

Example:
    >>> texts = load_explanations("explanations/batch-0.jsonl.gz")              # doctest: +SKIP
    >>> keep = explanation_filter(llm_judge(lambda p: my_llm(p)))               # doctest: +SKIP
    >>> v = compute(backbone, "counting", "sae", saes=..., explanations=texts,
    ...             feature_filter=keep)                                          # doctest: +SKIP
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from interp.boundary import description, whole_number

#: ``judge(explanation, concept) -> fits?``
Judge = Callable[[str, str], bool]

_SHAPES = (
    "a Neuronpedia explanations export (JSONL or .jsonl.gz, one object per line with 'index' and "
    "'description'), the /api/explanation/export JSON array of such objects, or /api/feature "
    "objects (one, or a JSON array) with an 'explanations' list"
)


def _layer_of(source: Any) -> int | None:
    """The layer a Neuronpedia source id names: ``"20-gemmascope-res-16k"`` -> 20."""
    if isinstance(source, int) and not isinstance(source, bool):
        return source
    m = re.match(r"\s*(\d+)(?:-|$)", str(source)) if source is not None else None
    return int(m.group(1)) if m else None


def _records(path: Path) -> list[Any]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read {path}: {err}") from None
    stripped = text.lstrip()
    if not stripped:
        raise ValueError(f"{path} is empty: expected {_SHAPES}")
    if stripped[0] == "[":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON ({err}): expected {_SHAPES}") from None
        return list(data)
    try:  # one JSON object (an /api/feature answer) or JSON lines
        return [json.loads(text)]
    except json.JSONDecodeError:
        pass
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path} line {n} is not JSON ({err}): expected {_SHAPES}") from None
    return out


def _entries(record: Any, where: str) -> Iterable[tuple[Any, Any, str]]:
    """``(source, index, description)`` of one record, in either shape."""
    if not isinstance(record, Mapping):
        raise ValueError(f"{where} is a {type(record).__name__}, not an object: expected {_SHAPES}")
    source = record.get("layer", record.get("source"))
    if "explanations" in record:  # an /api/feature answer
        expl = record["explanations"]
        if not isinstance(expl, list):
            raise ValueError(f"{where}: 'explanations' is not a list: expected {_SHAPES}")
        for e in expl:
            if isinstance(e, Mapping) and e.get("description") is not None:
                yield source, record.get("index"), e["description"]
        return
    if "index" not in record or "description" not in record:
        raise ValueError(f"{where} has neither 'index' and 'description' nor 'explanations' "
                         f"(keys: {sorted(record)[:8]}): expected {_SHAPES}")
    if record["description"] is not None and record["description"] != "":
        yield source, record["index"], record["description"]


def load_explanations(
    path: str | os.PathLike[str], *, layer: int | None = None
) -> dict[int, dict[int, str]]:
    """Explanations from a local Neuronpedia export file, as ``{layer: {feature: text}}``.

    Args:
        path: a ``.jsonl``, ``.jsonl.gz`` or ``.json`` file in one of Neuronpedia's shapes (see
            the module). Where a feature has several explanations the first is kept, as the
            reference does with ``explanations[0]``.
        layer: the layer of every record (for an export of one source whose ids name no layer);
            by default each record's layer is the number its source id starts with.

    Example:
        >>> load_explanations("gemma-2-2b/20-gemmascope-res-16k/explanations/batch-0.jsonl.gz")[20][10956]  # doctest: +SKIP
        'references to dinosaurs'
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"no explanations file at {p}: expected {_SHAPES}")
    out: dict[int, dict[int, str]] = {}
    for n, record in enumerate(_records(p)):
        for source, index, text in _entries(record, f"{p} record {n}"):
            at = layer if layer is not None else _layer_of(source)
            if at is None:
                raise ValueError(
                    f"{p} record {n}: source {source!r} names no layer; pass layer= for an export "
                    "of one source"
                )
            feature = whole_number(index, f"{p} record {n}: index")
            out.setdefault(at, {}).setdefault(feature, description(text, f"{p} record {n}: description"))
    if not out:
        raise ValueError(f"{p} holds no explanations: expected {_SHAPES}")
    return out


def fetch_explanations(
    model_id: str,
    source: str,
    features: Mapping[int, Sequence[int]],
    *,
    api_key: str | None = None,
) -> dict[int, dict[int, str]]:
    """Explanations of these features from Neuronpedia's API, through the ``neuronpedia`` client.

    Args:
        model_id: Neuronpedia's model id (``"gemma-2-2b"``, ``"gemma-3-4b-it"``).
        source: the source id, a template with ``{layer}`` (``"{layer}-gemmascope-res-16k"``).
        features: ``{layer: [feature, ...]}``, e.g. the features a first ``sae()`` run recorded
            (``meta.extra["features"]`` plus ``["dropped_by_filter"]``).
        api_key: default ``NEURONPEDIA_API_KEY``.

    Needs a network, ``pip install 'interp[neuronpedia]'`` and an API key. Use the exports
    (``load_explanations``) for many features: they do not count against the rate limit.

    Example:
        >>> fetch_explanations("gemma-2-2b", "{layer}-gemmascope-res-16k", {20: [10956]})  # doctest: +SKIP
    """
    try:
        from neuronpedia.requests.sae_feature_request import SAEFeatureRequest
    except ImportError as err:
        raise ImportError(
            "fetching Neuronpedia explanations needs its client: pip install 'interp[neuronpedia]' "
            "(or pip install neuronpedia; or download an export and use load_explanations)"
        ) from err
    key = api_key or os.environ.get("NEURONPEDIA_API_KEY")
    if not key:
        raise ValueError(
            "fetching Neuronpedia explanations needs an API key: set NEURONPEDIA_API_KEY (from "
            "neuronpedia.org/account) or pass api_key=; or use load_explanations on an export"
        )
    request = SAEFeatureRequest(api_key=key)
    out: dict[int, dict[int, str]] = {}
    for layer, ids in features.items():
        for f in ids:
            feature = request.get(model_id, source.format(layer=layer), str(int(f)))
            for _, index, text in _entries(json.loads(feature.jsonData), f"{model_id}/{feature.source}/{f}"):
                out.setdefault(int(layer), {}).setdefault(int(index), text)
    return out


def keyword_judge(keywords: Sequence[str] | Mapping[str, Sequence[str]] | None = None) -> Judge:
    """A judge that says yes when the explanation contains a keyword (case-insensitive).

    ``keywords``: one list, ``{concept: [...]}``, or None for the concept name's words
    (``"spatial_relationship"`` -> ``spatial``, ``relationship``).

    Example:
        >>> keyword_judge()("counts the number of objects", "counting")
        False
        >>> keyword_judge(["number", "count"])("counts the number of objects", "counting")
        True
    """

    def judge(explanation: str, concept: str) -> bool:
        if keywords is None:
            words: Sequence[str] = [w for w in re.split(r"[\s_\-]+", concept) if w]
        elif isinstance(keywords, Mapping):
            words = keywords.get(concept, ())
        else:
            words = keywords
        text = explanation.lower()
        return any(w.lower() in text for w in words)

    judge.__name__ = "keyword_judge"
    return judge


#: The yes/no question ``llm_judge`` asks by default; ``{explanation}``, ``{concept}`` and
#: ``{definition}`` are filled in.
JUDGE_TEMPLATE = (
    "A sparse autoencoder feature of a language model has this explanation, written from the "
    "text it fires on:\n\"{explanation}\"\n\n"
    "Concept: {concept} ({definition}).\n"
    "Does the feature detect this concept? Start your answer with YES or NO."
)


class LLMJudge:
    """A judge that asks an LLM whether an explanation fits a concept (see ``llm_judge``).

    Attributes:
        answers: ``{(explanation, concept): raw answer}`` of every question asked.
    """

    def __init__(
        self,
        ask: Callable[[str], str],
        template: str = JUDGE_TEMPLATE,
        definitions: Mapping[str, str] | None = None,
    ):
        for field in ("{explanation}", "{concept}"):
            if field not in template:
                raise ValueError(f"the judge template must contain {field}, got {template!r}")
        self.ask = ask
        self.template = template
        self.definitions = dict(definitions or {})
        self.answers: dict[tuple[str, str], str] = {}
        self.__name__ = "llm_judge"

    def prompt(self, explanation: str, concept: str) -> str:
        """The question put to the LLM."""
        definition = self.definitions.get(concept, concept.replace("_", " "))
        return self.template.format(explanation=explanation, concept=concept.replace("_", " "), definition=definition)

    def __call__(self, explanation: str, concept: str) -> bool:
        key = (explanation, concept)
        if key not in self.answers:
            answer = self.ask(self.prompt(explanation, concept))
            if not isinstance(answer, str):
                raise TypeError(f"ask() must return the LLM's answer as a string, got {type(answer).__name__}")
            self.answers[key] = answer
        return parse_yes_no(self.answers[key]) is True


def parse_yes_no(answer: str) -> bool | None:
    """True for an answer that starts with yes, False for no, None for anything else.

    Leading markup (``**``, quotes, ``Answer:``) is ignored, as the reference strips ``answer:``.

    Example:
        >>> parse_yes_no("**YES** - it fires on numbers"), parse_yes_no("No."), parse_yes_no("Maybe")
        (True, False, None)
    """
    text = re.sub(r"^[\s*_`\"'>#-]*(answer\s*:)?[\s*_`\"']*", "", answer.strip().lower())
    m = re.match(r"(yes|no)\b", text)
    return None if m is None else m.group(1) == "yes"


def llm_judge(
    ask: Callable[[str], str],
    *,
    template: str = JUDGE_TEMPLATE,
    definitions: Mapping[str, str] | None = None,
) -> LLMJudge:
    """A judge that asks an LLM a yes/no question about each explanation (the paper's filter).

    The paper asks o3-mini whether each feature fits the concept and keeps those answered
    "yes"; here ``ask`` is any ``prompt -> answer`` callable (an API client, a local model). An
    answer that is neither yes nor no drops the feature; every answer is kept on
    ``judge.answers`` and lands in the vector's metadata.

    Args:
        ask: sends a prompt to the LLM and returns its text answer.
        template: the question (``JUDGE_TEMPLATE``), with ``{explanation}``, ``{concept}`` and
            optionally ``{definition}``.
        definitions: ``{concept: definition}`` for the prompt (default: the concept's name).

    Example:
        >>> judge = llm_judge(lambda prompt: "YES, it detects quantities")
        >>> judge("numbers and quantities", "counting"), judge.answers[("numbers and quantities", "counting")][:3]
        (True, 'YES')
    """
    return LLMJudge(ask, template, definitions)


class ExplanationFilter:
    """A ``feature_filter`` for ``sae()`` that asks a judge about each feature's explanation.

    Features without an explanation are dropped (there is nothing to judge). ``notes`` holds
    ``{(layer, feature): {"keep": bool, "answer": str | None}}``, which ``sae()`` records.
    """

    def __init__(self, judge: Judge):
        if not callable(judge):
            raise ValueError(f"judge must be a callable (explanation, concept) -> bool, got {type(judge).__name__}")
        self.judge = judge
        self.notes: dict[tuple[int, int], dict[str, Any]] = {}
        self.__name__ = f"explanation_filter({getattr(judge, '__name__', type(judge).__name__)})"

    def __call__(self, layer: int, feature: int, explanation: str | None, concept: str) -> bool:
        if explanation is None:
            self.notes[(layer, feature)] = {"keep": False, "answer": None, "reason": "no explanation"}
            return False
        keep = bool(self.judge(explanation, concept))
        answers = getattr(self.judge, "answers", None)
        answer = answers.get((explanation, concept)) if isinstance(answers, Mapping) else None
        self.notes[(layer, feature)] = {"keep": keep, "answer": answer}
        return keep


def explanation_filter(judge: Judge | None = None) -> ExplanationFilter:
    """The ``feature_filter`` that keeps features whose explanation the judge accepts.

    Args:
        judge: ``(explanation, concept) -> bool``: ``keyword_judge()`` by default, or
            ``llm_judge(ask)``, or your own.

    Example:
        >>> keep = explanation_filter(keyword_judge(["count"]))
        >>> keep(2, 7, "counting words", "counting"), keep(2, 8, None, "counting")
        (True, False)
        >>> keep.notes[(2, 8)]["reason"]
        'no explanation'
    """
    return ExplanationFilter(keyword_judge() if judge is None else judge)


__all__ = [
    "JUDGE_TEMPLATE",
    "ExplanationFilter",
    "Judge",
    "LLMJudge",
    "explanation_filter",
    "fetch_explanations",
    "keyword_judge",
    "llm_judge",
    "load_explanations",
    "parse_yes_no",
]
