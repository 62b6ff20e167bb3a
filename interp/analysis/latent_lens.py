"""LatentLens: name each token's hidden state by its nearest contextual text representations.

Krojer, Nayak, Mañas, Adlakha, Elliott, Reddy and Mosbach 2026, "LatentLens: Revealing Highly
Interpretable Visual Tokens in LLMs" (arXiv 2602.00462). The logit lens reads a hidden state
through the output head, as if it were a next-token prediction; LatentLens instead encodes a
text corpus with the same language model, keeps every token's hidden state in its sentence
(its *contextual* representation) at some layers, and describes a visual token by the top-k
corpus tokens whose contextual representations are closest in cosine, searched over all the
bank's layers at once. The paper finds most visual tokens interpretable this way at every
layer, where the logit lens says little about them.

- ``context_bank``: the bank: L2-normalized contextual representations of a corpus's tokens,
  at the chosen layers, each with its token, sentence and position. A causal model gives the
  same state to the same prefix, so a prefix seen before is stored once.
- ``latent_lens``: top-k neighbours of every selected position (image and text tokens, as
  ``logit_lens``) at each query layer, as a tidy table.
- ``latent_lens_summary``: the most frequent top-1 neighbour and the mean top-1 similarity per
  (layer, kind). No model is run.

The ``latentlens`` package on PyPI (0.1.0) loads Hugging Face models through its own loader
and vendors Molmo; interp's MLLMs are traced, so the method is implemented here on interp's
residual streams (the layer convention of ``interp.activations``: the output of decoder layer
``l``).

Example:
    >>> bank = context_bank(backbone, sentences, layers=[1, 2, 3])            # doctest: +SKIP
    >>> latent_lens(mllm, items[:2], bank, layers=[2], kinds=["image"])       # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch
from torch import Tensor

from interp.analysis.common import TOKEN_KINDS
from interp.analysis.logit_lens import _per_position
from interp.boundary import check_source
from interp.concepts.corpus import ConceptCorpus
from interp.items import Item, check_batch_size
from interp.models.traced import MLLM, TextBackbone

#: Query rows compared with the bank at once (bounds the similarity matrix's memory).
_CHUNK = 256

#: The columns ``latent_lens`` adds to the position columns and ``layer``.
_COLUMNS = ["rank", "neighbor_token", "neighbor_id", "similarity", "bank_layer", "sentence", "sentence_position"]


@dataclass
class ContextBank:
    """Contextual token representations of a text corpus (see ``context_bank``).

    Attributes:
        vectors: ``{layer: (n, d_model)}`` L2-normalized float32 representations; row ``i`` of
            every layer is the same corpus token.
        token_ids, tokens: each row's token id and text.
        sentence_ids, positions: each row's sentence (index into ``sentences``) and position in it.
        sentences: the corpus.
        model: the name of the model that encoded it.
        fingerprint: that model's fingerprint (``TracedModel.fingerprint``): the bank is refused on a
            model it was not built on or for (``interp.boundary``).
        meta: how it was built, and ``unknown_token_fraction`` of the stored tokens.
    """

    vectors: dict[int, Tensor]
    token_ids: list[int]
    tokens: list[str]
    sentence_ids: list[int]
    positions: list[int]
    sentences: list[str]
    model: str = ""
    meta: dict[str, object] = field(default_factory=dict)
    fingerprint: dict[str, object] = field(default_factory=dict)

    @property
    def source_model(self) -> str:
        """The model that encoded the bank (what the boundary checks it against)."""
        return self.model or "unknown"

    @property
    def source_fingerprint(self) -> dict[str, object]:
        return self.fingerprint

    @property
    def layers(self) -> list[int]:
        """The bank's layers, ascending."""
        return sorted(self.vectors)

    @property
    def d_model(self) -> int:
        return int(next(iter(self.vectors.values())).shape[1])

    def __len__(self) -> int:
        return len(self.token_ids)

    def search(
        self, queries: Tensor, top_k: int = 5, layers: Sequence[int] | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Top-``k`` neighbours of each query over the given bank layers (all by default).

        Returns ``(similarity, row, bank_layer)``, each ``(n_queries, k)``, best first; ``row``
        indexes ``tokens``/``sentence_ids``/``positions``.

        Example:
            >>> bank = ContextBank({0: torch.eye(2)}, [5, 6], ["a", "b"], [0, 0], [1, 2], ["a b"])
            >>> sim, row, layer = bank.search(torch.tensor([[0.0, 3.0]]), top_k=1)
            >>> row.tolist(), layer.tolist(), round(sim.item(), 3)
            ([[1]], [[0]], 1.0)
        """
        search_layers = self.layers if layers is None else sorted(set(layers))
        if not search_layers:
            raise ValueError(f"bank_layers is empty: give some of the bank's layers {self.layers}, or None for all")
        missing = [la for la in search_layers if la not in self.vectors]
        if missing:
            raise ValueError(f"the bank has no layers {missing}: it has {self.layers}")
        if queries.shape[-1] != self.d_model:
            raise ValueError(f"queries have width {queries.shape[-1]}, the bank {self.d_model}")
        q = torch.nn.functional.normalize(queries.float(), dim=-1)
        n = len(self)
        k = min(top_k, n * len(search_layers))
        sims, rows, lays = [], [], []
        for start in range(0, q.shape[0], _CHUNK):
            block = q[start : start + _CHUNK]
            per = [block @ self.vectors[la].T for la in search_layers]  # (b, n) each
            flat = torch.cat(per, dim=1)  # layer-major: column j is layer j // n, row j % n
            top = flat.topk(k, dim=1)
            sims.append(top.values)
            rows.append(top.indices % n)
            lays.append(torch.tensor(search_layers)[top.indices // n])
        if not sims:
            empty = torch.zeros(0, k)
            return empty, empty.long(), empty.long()
        return torch.cat(sims), torch.cat(rows), torch.cat(lays)


def context_bank(
    model: MLLM | TextBackbone,
    texts: Sequence[str] | ConceptCorpus,
    *,
    layers: int | Iterable[int] | None = None,
    max_per_token: int | None = None,
    batch_size: int = 16,
    backend: str = "auto",
    progress: bool = False,
) -> ContextBank:
    """Encode a corpus and keep each token's contextual representation at ``layers``.

    Args:
        model: the language model the MLLM runs on: its text backbone
            (``interp.load_text_backbone``) or anything ``interp.activations`` reads.
        texts: sentences (a list of strings, or a ``ConceptCorpus``). The paper uses Visual
            Genome phrases; any captions or concept sentences work.
        layers: the bank's layers (default: every layer).
        max_per_token: keep at most this many contexts of one token (default: all).

    BOS, special and padding tokens are left out; a prefix already stored is not stored again.

    Example:
        >>> bank = context_bank(backbone, ["a red circle above a blue square"], layers=[1])  # doctest: +SKIP
        >>> len(bank), bank.tokens[:3]                                                       # doctest: +SKIP
    """
    from interp.activations import residual_fn, resolve_layers
    from interp.concepts import encode_texts
    from interp.progress import track

    check_batch_size(batch_size)
    if isinstance(texts, str):
        raise ValueError("texts must be a non-empty list of non-empty sentences (or a ConceptCorpus), not one string")
    sentences = [ex.sentence for ex in texts.examples] if hasattr(texts, "examples") else list(texts)
    if not sentences or not all(isinstance(s, str) and s.strip() for s in sentences):
        raise ValueError("texts must be a non-empty list of non-empty sentences (or a ConceptCorpus)")
    if max_per_token is not None and (isinstance(max_per_token, bool) or not isinstance(max_per_token, int)
                                      or max_per_token < 1):
        raise ValueError(f"max_per_token must be a positive int or None, got {max_per_token!r}")
    chosen = resolve_layers(model, layers)
    run = residual_fn(model, backend)
    tok = model.tokenizer
    kept: dict[int, list[Tensor]] = {la: [] for la in chosen}
    token_ids: list[int] = []
    sentence_ids: list[int] = []
    positions: list[int] = []
    seen: set[tuple[int, ...]] = set()
    per_token: dict[int, int] = {}
    n_batches = -(-len(sentences) // batch_size)
    for batch in track(encode_texts(tok, sentences, batch_size=batch_size), total=n_batches,
                       description="context bank", enabled=progress):
        acts = run(batch, chosen)
        for b, sent in enumerate(batch.indices):
            ids = batch.input_ids[b].tolist()
            picks = []
            for p in torch.nonzero(batch.content_mask[b]).flatten().tolist():
                prefix = tuple(ids[: p + 1])
                if prefix in seen:
                    continue
                if max_per_token is not None and per_token.get(ids[p], 0) >= max_per_token:
                    continue
                seen.add(prefix)
                per_token[ids[p]] = per_token.get(ids[p], 0) + 1
                picks.append(p)
                token_ids.append(ids[p])
                sentence_ids.append(int(sent))
                positions.append(p)
            if picks:
                for la in chosen:
                    kept[la].append(acts[la][b, picks].float())
    if not token_ids:
        raise ValueError("the texts gave no content tokens to store")
    unk = getattr(tok, "unk_token_id", None)
    unknown = sum(t == unk for t in token_ids) / len(token_ids) if unk is not None else 0.0
    if unknown == 1.0:
        raise ValueError(
            f"every token of the texts is {model.name}'s unknown token {tok.unk_token!r}: the bank would name "
            "every state by one word it cannot read; write the texts in the model's vocabulary"
        )
    vectors = {la: torch.nn.functional.normalize(torch.cat(kept[la]), dim=-1) for la in chosen}
    return ContextBank(
        vectors=vectors,
        token_ids=token_ids,
        tokens=[str(t) for t in tok.convert_ids_to_tokens(token_ids)],  # a list for a list of ids
        sentence_ids=sentence_ids,
        positions=positions,
        sentences=sentences,
        model=str(getattr(model, "name", "")),
        meta={"max_per_token": max_per_token, "backend": backend, "unknown_token_fraction": unknown},
        fingerprint=model.fingerprint().to_json(),
    )


def latent_lens(
    mllm: MLLM,
    items: Sequence[Item],
    bank: ContextBank,
    *,
    layers: int | Iterable[int] | None = None,
    bank_layers: Sequence[int] | None = None,
    kinds: Sequence[str] = TOKEN_KINDS,
    top_k: int = 5,
    batch_size: int = 8,
    progress: bool = False,
    allow_transfer: bool = False,
) -> pd.DataFrame:
    """The ``top_k`` nearest contextual text tokens of every selected position and layer.

    Args:
        mllm: the MLLM whose residual stream is read (the same language model as the bank's).
        items: the inputs.
        bank: a ``context_bank`` of the MLLM's language model.
        layers: the query layers (default: every layer).
        bank_layers: the bank layers searched (default: all of them, as the paper does).
        allow_transfer: use a bank built on a model other than ``mllm`` or the text backbone it
            pairs with (a deliberate transfer experiment; refused otherwise).
        kinds: token kinds, as in ``logit_lens`` (``"image"`` for visual tokens).

    Returns:
        One row per (item, position, layer, rank): the position columns of ``logit_lens``
        (``item, position, token, kind, patch, patch_row, patch_col``), ``layer``, ``rank``
        (1 = nearest), ``neighbor_token``, ``neighbor_id``, ``similarity`` (cosine),
        ``bank_layer`` (the layer the neighbour's representation comes from), ``sentence`` and
        ``sentence_position`` (its context in the corpus).

    Example:
        >>> latent_lens(mllm, items[:1], bank, layers=[2], kinds=["image"], top_k=3)   # doctest: +SKIP
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive int, got {top_k!r}")
    if not isinstance(bank, ContextBank):
        raise ValueError(f"bank must be a ContextBank (context_bank(...)), got {type(bank).__name__}")
    width = int(getattr(mllm, "d_model", bank.d_model))
    if width != bank.d_model:
        raise ValueError(f"the bank has width {bank.d_model} but {getattr(mllm, 'name', 'the MLLM')} has "
                         f"d_model {width}: build the bank with the MLLM's own language model")
    check_source(bank, mllm, "the context bank", allow_transfer=allow_transfer)
    if bank_layers is not None:
        bank.search(torch.zeros(0, bank.d_model), 1, bank_layers)  # names an empty or unknown bank layer now

    def neighbours(h: Tensor) -> tuple[int, dict[str, Any]]:
        sim, row, lay = bank.search(h, top_k, bank_layers)
        k = sim.shape[1]
        rows = row.flatten().tolist()
        return k, {
            "rank": list(range(1, k + 1)) * h.shape[0],
            "neighbor_token": [bank.tokens[r] for r in rows],
            "neighbor_id": [bank.token_ids[r] for r in rows],
            "similarity": sim.flatten().tolist(),
            "bank_layer": lay.flatten().tolist(),
            "sentence": [bank.sentences[bank.sentence_ids[r]] for r in rows],
            "sentence_position": [bank.positions[r] for r in rows],
        }

    return _per_position(mllm, items, layers, kinds, batch_size, progress, "latent lens", _COLUMNS, neighbours)


def latent_lens_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per (layer, kind) of a ``latent_lens`` table: ``n`` top-1 rows, ``top_token`` (the most
    frequent nearest token), ``share`` (its fraction) and ``similarity`` (mean top-1 cosine).
    No model is run.

    Example:
        >>> latent_lens_summary(latent_lens(mllm, items, bank, layers=[0, 1]))   # doctest: +SKIP
    """
    missing = [c for c in ("layer", "kind", "rank", "neighbor_token", "similarity") if c not in table.columns]
    if missing:
        raise ValueError(f"expected a latent_lens() table: missing columns {missing}")
    top = table[table["rank"] == 1]
    return top.groupby(["layer", "kind"], sort=True).agg(
        n=("neighbor_token", "size"),
        top_token=("neighbor_token", lambda s: s.value_counts().index[0]),
        share=("neighbor_token", lambda s: s.value_counts(normalize=True).iloc[0]),
        similarity=("similarity", "mean"),
    ).reset_index()


__all__ = ["ContextBank", "context_bank", "latent_lens", "latent_lens_summary"]
