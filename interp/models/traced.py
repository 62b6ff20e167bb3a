"""The traced-model classes: an MLLM or a text backbone wrapped in nnsight.

``TracedModel`` exposes the decoder layers as nnsight envoys (``model.layers[l].output`` inside
a trace is the residual stream after decoder layer l, i.e. HF ``hidden_states[l+1]``), the
final norm and unembedding, and checks of layers, vectors and inputs. ``MLLM`` adds the family
adapter and processor (inputs in the family's prompt format, image-token masks);
``TextBackbone`` is a text-only language model. Loading them is ``interp.models.loading``'s job.

Example:
    >>> mllm = load_mllm("organism")                                  # doctest: +SKIP
    >>> with mllm.trace(mllm.encode("How many circles?", images=[scene])):   # doctest: +SKIP
    ...     h = mllm.layers[2].output.save()
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

import torch
from jaxtyping import Bool
from torch import Tensor

from interp.args import as_int
from interp.models import fingerprint as fingerprints
from interp.models.base import FamilyAdapter, get_path, hook_name, layer_from_hook_name
from interp.models.fingerprint import Fingerprint
from interp.models.inputs import (
    _image_kwargs,
    _images_per_prompt,
    _prompt_list,
    _shape_or_type,
    tokenize_texts,
)
from interp.models.offload import execution_device, offloaded_value, weights_map
from interp.tokens import Selector, select
from interp.types import (
    Envoy,
    Images,
    ModelConfig,
    ModelInputs,
    NNModel,
    Processor,
    Tokenizer,
    Tracer,
)

#: The package whose objects travel by value in remote requests (the server does not have it).
PACKAGE = __name__.split(".", 1)[0]


class TracedModel:
    """An nnsight-wrapped transformer with a residual stream interp can read and steer.

    Attributes:
        nn: the ``nnsight.TransformersModel``.
        name: the hub id or path it was loaded from.
        layers_path: dotted path of the decoder layer list in the HF module.
        remote: passed to nnsight traces (``True`` for NDIF, ``"local"`` for a dry run).
        requests: how many remote requests (traces or sessions sent to NDIF, or run by
            ``remote="local"``) this model has sent; 0 for a local model.
    """

    def __init__(self, nn: NNModel, *, name: str, layers_path: str, remote: bool | str = False):
        self.nn = nn
        self.name = name
        self.layers_path = layers_path
        self.remote = remote
        self.requests = 0
        self._fingerprint: tuple[Any, Fingerprint] | None = None

    # -- structure ---------------------------------------------------------------------------
    @property
    def module(self) -> torch.nn.Module:
        """The underlying HF ``torch.nn.Module``."""
        return self.nn._module

    @property
    def layers(self) -> Envoy:
        """The decoder layers as nnsight envoys (use inside a trace)."""
        return get_path(self.nn, self.layers_path)

    @property
    def torch_layers(self) -> torch.nn.ModuleList:
        """The decoder layers as plain torch modules (use outside a trace)."""
        return get_path(self.module, self.layers_path)

    @property
    def n_layers(self) -> int:
        return len(self.torch_layers)

    @property
    def text_config(self) -> ModelConfig:
        config = self.module.config
        # an HF model's ``config`` is its PretrainedConfig (an MLLM's holds the text one)
        return cast("ModelConfig", getattr(config, "text_config", None) or config)

    @property
    def d_model(self) -> int:
        return int(self.text_config.hidden_size)

    @property
    def device(self) -> torch.device:
        """Where the model takes its inputs.

        For a model dispatched with an accelerate ``device_map`` this is where the input
        embeddings run (their weights may be offloaded, i.e. on the meta device until used);
        otherwise the device of the first parameter that holds data.
        """
        if getattr(self.module, "hf_device_map", None):
            place = execution_device(self.module.get_input_embeddings())  # type: ignore[operator]
            if place is not None:
                return place
        params = list(self.module.parameters())
        for p in params:
            if p.device.type != "meta":
                return p.device
        return params[0].device

    @property
    def offloaded(self) -> bool:
        """True when accelerate keeps some weights off their execution device (CPU or disk
        offload of a ``device_map``): they are loaded by its hooks at each forward."""
        return any(weights_map(m) is not None for m in self.module.modules())

    def named_weights(self) -> Iterator[tuple[str, Tensor]]:
        """``named_parameters()`` with their values, offloaded ones read where accelerate keeps them.

        A weight a ``device_map`` offloads (to the CPU or to disk) is an empty meta tensor on the
        module; its values are in the weights map of the accelerate hook that loads it. A remote
        model's weights stay meta (they are on the server).

        Example:
            >>> dict(mllm.named_weights())["lm_head.weight"].shape   # doctest: +SKIP
            torch.Size([512, 64])
        """
        modules = dict(self.module.named_modules())
        for name, p in self.module.named_parameters():
            yield name, offloaded_value(modules, name, p) if p.device.type == "meta" else p

    def fingerprint(self) -> Fingerprint:
        """What identifies this model's weights: a hash of every weight, of its language model
        alone, of its config, and a sample for other dtypes (``interp.models.fingerprint``).

        Computed once and kept until a weight is replaced or edited in place.

        Example:
            >>> mllm.fingerprint().store_key(mllm.name)   # doctest: +SKIP
            'organism@5d0c...'
        """
        version = fingerprints.weights_version(self.module)
        if self._fingerprint is None or self._fingerprint[0] != version:
            self._fingerprint = (version, fingerprints.compute(self))
        return self._fingerprint[1]

    @property
    def input_device(self) -> torch.device:
        """Where inputs should be: the model's device, or the CPU for a remote model."""
        return torch.device("cpu") if self.remote else self.device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.module.parameters()).dtype

    @property
    def final_norm(self) -> torch.nn.Module:
        """The language model's final norm (applied to the last layer's output before the head)."""
        path = self.layers_path.rsplit(".", 1)[0] + ".norm"
        try:
            return get_path(self.module, path)
        except AttributeError:
            raise ValueError(f"cannot find the final norm of {self.name} at {path!r}") from None

    @property
    def lm_head(self) -> torch.nn.Module:
        """The output embedding (unembedding) of the language model."""
        head = self.module.get_output_embeddings()  # type: ignore[operator]
        if head is None:
            raise ValueError(f"{self.name} has no output embedding (lm_head)")
        return head

    def unembed(self, h: Tensor, *, normed: bool = False) -> Tensor:
        """Logits from residual-stream states ``(..., d_model)``: final norm, head, soft-capping.

        This is what the model does after its last layer, so ``unembed(layers[-1].output)``
        equals the model's logits; on earlier layers it is the logit lens (nostalgebraist
        2020). Set ``normed=True`` when ``h`` is already after the final norm. Runs on local
        weights (outside a trace): a remote model refuses it.

        Example:
            >>> logits = mllm.unembed(h_last[:, -1])   # doctest: +SKIP
        """
        self.require_local("unembed (the final norm and output head, e.g. the logit lens)")
        x = h if normed else self.final_norm(h)
        logits = self.lm_head(x)
        cap = getattr(self.text_config, "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
        return logits

    def envoy_of(self, module: torch.nn.Module) -> Envoy:
        """The nnsight envoy of one of the model's torch modules (to call it inside a trace).

        Example:
            >>> head = model.envoy_of(model.lm_head)   # doctest: +SKIP
        """
        for envoy in self.nn.modules():
            if envoy._module is module:
                return envoy
        raise ValueError(f"{type(module).__name__} is not a module of {self.name}")

    def require_local(self, operation: str) -> None:
        """Refuse ``operation`` on a remote model: it needs the weights on this machine.

        Example:
            >>> model.require_local("the torch activation backend")   # doctest: +SKIP
        """
        if self.remote:
            raise ValueError(
                f"{operation} runs on local weights, but {self.name} is remote (remote={self.remote!r}): "
                "the weights are on the server, not here; load the model without remote to run it"
            )

    def hook_name(self, layer: int) -> str:
        """TransformerLens name of the residual stream after ``layer`` (for sae-lens SAEs)."""
        self.check_layer(layer)
        return hook_name(layer)

    def layer_from_hook_name(self, name: str) -> int:
        layer = layer_from_hook_name(name)
        self.check_layer(layer)
        return layer

    # -- validation --------------------------------------------------------------------------
    def check_layer(self, layer: int) -> int:
        """Return ``layer`` as an int if it indexes a decoder layer, else raise a ValueError.

        numpy and 0-d tensor integers are accepted (``np.int64(2)`` -> ``2``); bools are not.
        """
        n = self.n_layers
        try:
            index = as_int(layer, "layer")
        except ValueError:
            raise ValueError(
                f"layer must be an int in 0..{n - 1} ({self.name} has {n} decoder layers), got "
                f"{layer!r} ({type(layer).__name__})"
            ) from None
        if not 0 <= index < n:
            raise ValueError(
                f"layer {index!r} is out of range: {self.name} has {n} decoder layers "
                f"(0..{n - 1})"
            )
        return index

    def check_vector(self, vector: Tensor, what: str = "vector") -> Tensor:
        """Return ``vector`` if it is a finite ``(d_model,)`` tensor, else raise a ValueError."""
        if not isinstance(vector, Tensor):
            raise ValueError(f"{what} must be a torch.Tensor, got {type(vector).__name__}")
        if vector.dim() != 1 or vector.shape[0] != self.d_model:
            raise ValueError(
                f"{what} has shape {tuple(vector.shape)} but {self.name} has d_model "
                f"{self.d_model}: expected ({self.d_model},)"
            )
        if not torch.isfinite(vector).all():
            raise ValueError(f"{what} contains NaN or inf values")
        return vector

    def check_inputs(self, inputs: ModelInputs) -> dict[str, Tensor]:
        """Return encoded ``inputs`` as a dict if they can run, else raise a ValueError.

        Example:
            >>> model.check_inputs(model.encode("a red circle"))   # doctest: +SKIP
        """
        if not isinstance(inputs, Mapping):
            raise ValueError(
                f"inputs must be a dict of tensors from model.encode(...), got {type(inputs).__name__}"
            )
        ids = inputs.get("input_ids")
        if not isinstance(ids, Tensor) or ids.dim() != 2 or ids.dtype.is_floating_point or ids.dtype == torch.bool:
            got = f"shape {tuple(ids.shape)}, dtype {ids.dtype}" if isinstance(ids, Tensor) else repr(type(ids).__name__)
            raise ValueError(
                f"inputs need 'input_ids', a (batch, pos) tensor of token ids, got {got}: build "
                "inputs with model.encode(...)"
            )
        mask = inputs.get("attention_mask")
        if mask is not None and (not isinstance(mask, Tensor) or tuple(mask.shape) != tuple(ids.shape)):
            raise ValueError(
                f"inputs' attention_mask is {_shape_or_type(mask)} but input_ids has shape "
                f"{tuple(ids.shape)}: build inputs with model.encode(...)"
            )
        return dict(inputs)

    # -- running -----------------------------------------------------------------------------
    def trace(self, inputs: dict[str, Tensor] | None = None, **kwargs: object) -> Tracer:
        """An nnsight trace over encoded ``inputs`` (from ``encode``), remote if configured.

        Example:
            >>> with model.trace(model.encode("a red circle")):   # doctest: +SKIP
            ...     h = model.layers[0].output.save()
        """
        self._remote_backend(kwargs)
        if inputs is None:
            return self.nn.trace(**kwargs)
        if isinstance(inputs, Mapping):
            inputs = self.check_inputs(inputs)
        return self.nn.trace(dict(inputs), **kwargs)

    def generate(self, inputs: dict[str, Tensor] | None = None, **kwargs: object) -> Tracer:
        """An nnsight generation context over encoded ``inputs``, remote if configured.

        Use it as a ``with`` block, like ``nn.generate``.
        """
        self._remote_backend(kwargs)
        # nnsight's ``generate`` finds its ``with`` block two frames up, which would be this
        # wrapper; a trace of the generate method is captured on ``__enter__`` at the caller.
        method = type(self.nn).generate
        fn = getattr(method, "__wrapped__", method).__get__(self.nn, type(self.nn))
        if isinstance(inputs, Mapping):
            inputs = self.check_inputs(inputs)
        args = () if inputs is None else (dict(inputs),)
        return self.nn.trace(*args, fn=fn, **kwargs)

    def session(self) -> Tracer:
        """An nnsight session: every trace opened inside it runs in one request (one NDIF job
        for a remote model). Open the inner traces with ``nn.trace`` (not ``trace``), so they
        do not each send their own request.

        Example:
            >>> with model.session():                          # doctest: +SKIP
            ...     with model.nn.trace(inputs):
            ...         h = model.layers[0].output.save()
        """
        kwargs: dict[str, object] = {}
        self._remote_backend(kwargs)
        return self.nn.session(**kwargs)

    def _remote_backend(self, kwargs: dict[str, object]) -> None:
        """For a remote model, give ``kwargs`` nnsight's remote backend wrapped in a request counter."""
        if not self.remote or kwargs.get("backend") is not None:
            return
        remote = kwargs.pop("remote", self.remote)
        if not remote:
            return
        blocking = bool(kwargs.pop("blocking", True))
        job_id = kwargs.pop("job_id", None)
        verbose = bool(kwargs.pop("verbose", False))
        # The server has no interp installed: the interp functions and classes a trace references
        # (the steering edits, the sweep's cells) must travel by value, like a user's local module.
        # Registering the package by name marks every interp module for that (cloudpickle then
        # pickles by value exactly the objects a request references) without importing any of
        # them here.
        import nnsight

        nnsight.register(PACKAGE)
        # Remotable._remote_backend is where nnsight builds the backend of trace(remote=...) and
        # session(remote=...); counting around its call is counting the requests sent.
        inner = self.nn._remote_backend(remote, blocking, job_id, verbose)
        kwargs["backend"] = _CountedBackend(inner, self)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.name!r}, n_layers={self.n_layers}, "
            f"d_model={self.d_model})"
        )


class _CountedBackend:
    """nnsight's remote backend, counting each request it sends on the model (``requests``)."""

    def __init__(self, inner: object, model: TracedModel):
        self.inner = inner
        self.model = model

    def __call__(self, tracer: object) -> object:
        self.model.requests += 1
        return self.inner(tracer)  # type: ignore[operator]

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


class EncodedInputs(dict):  # type: ignore[type-arg]
    """What ``MLLM.encode`` returns: a dict of tensors that remembers the format it was encoded in.

    ``encoded_by`` is (family, model_type, image token id, vocabulary size): another MLLM refuses
    inputs of another format, whose prompts and image placeholders it would misread. Plain dicts
    (e.g. built by hand or sliced) carry no mark and are checked by their contents only.
    """

    encoded_by: tuple[str | int | None, ...] = ()


class MLLM(TracedModel):
    """A multimodal LLM: nnsight model + family adapter + processor.

    Attributes:
        adapter: the family's ``FamilyAdapter``.
        processor: the HF processor (tokenizer + image processor).
        image_token_id: id of the image token in ``input_ids``.
        special_ids: ids that are never text tokens.
    """

    def __init__(
        self, nn: NNModel, adapter: FamilyAdapter, processor: Processor, *, name: str, remote: bool | str = False
    ):
        super().__init__(nn, name=name, layers_path=adapter.layers_path, remote=remote)
        self.adapter = adapter
        self.processor = processor
        # a processor holds its tokenizer; a tokenizer passed as the processor is its own
        self.tokenizer = cast("Tokenizer", getattr(processor, "tokenizer", processor))
        # an HF model's ``config`` is its PretrainedConfig
        config = cast("ModelConfig", self.module.config)
        self.image_token_id: int = adapter.image_token_id(config, self.tokenizer)
        adapter.check_image_token(config, self.tokenizer, self.image_token_id)
        self.special_ids: set[int] = adapter.special_token_ids(self.tokenizer, self.image_token_id)

    @property
    def family(self) -> str:
        return self.adapter.name

    def _input_format(self) -> tuple[str | int | None, ...]:
        config = self.module.config
        embeddings: torch.nn.Module = self.module.get_input_embeddings()  # type: ignore[operator]
        vocab = getattr(embeddings, "num_embeddings", None)
        return (self.family, getattr(config, "model_type", None), self.image_token_id, vocab)

    def check_inputs(self, inputs: ModelInputs) -> dict[str, Tensor]:
        """Like ``TracedModel.check_inputs``; image tokens also need their ``pixel_values``, and
        inputs another MLLM encoded (another prompt format or vocabulary) are refused."""
        out = super().check_inputs(inputs)
        mine = self._input_format()
        theirs = getattr(inputs, "encoded_by", ())
        if theirs and theirs != mine:
            raise ValueError(
                f"these inputs were encoded by another MLLM ({theirs[0]}, model_type {theirs[1]!r}, image token "
                f"{theirs[2]}, vocabulary {theirs[3]}) but {self.name} is {mine[0]} (model_type {mine[1]!r}, "
                f"image token {mine[2]}, vocabulary {mine[3]}): its prompt format and image placeholders "
                f"differ; encode them with this model's encode"
            )
        vocab = mine[3]
        if isinstance(vocab, int) and out["input_ids"].numel() and int(out["input_ids"].max()) >= vocab:
            raise ValueError(
                f"inputs hold token id {int(out['input_ids'].max())} but {self.name} has a vocabulary of "
                f"{vocab} (ids 0..{vocab - 1}): the inputs were encoded for another model; encode them "
                "with this model's encode"
            )
        n_image = int((out["input_ids"] == self.image_token_id).sum())
        if n_image and out.get("pixel_values") is None:
            raise ValueError(
                f"inputs hold {n_image} image tokens but no 'pixel_values': the model would read "
                "the image placeholders as text; build inputs with mllm.encode(prompts, images) "
                "and pass all of its outputs"
            )
        return out

    def encode(
        self,
        prompts: str | Sequence[str],
        images: Images = None,
        *,
        chat: bool = True,
        padding_side: str = "left",
    ) -> dict[str, Tensor]:
        """Model inputs for prompts and their images, in the family's prompt format.

        Args:
            prompts: one prompt or a list of prompts (the user's question, without image
                placeholders when ``chat`` is True).
            images: ``None`` (text only), one image per prompt, or a list of images per prompt.
                An image is a ``PIL.Image``, an ``(H, W, C)`` numpy array or a ``(C, H, W)``
                tensor: uint8 in 0..255, or float in 0..1 (or 0..255).
            chat: apply the family's format (chat template / PaliGemma prefix); False sends the
                prompts as they are (they must then hold the image placeholders themselves).
            padding_side: ``"left"`` (default, what generation needs) or ``"right"``.

        Returns:
            A dict of tensors for ``trace``/``generate`` (``input_ids``, ``attention_mask``,
            ``pixel_values``, ...).

        Example:
            >>> inputs = mllm.encode(["Is the circle red?", "How many squares?"], [img1, img2])  # doctest: +SKIP
        """
        prompts = _prompt_list(prompts, "prompts")
        if padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
        per_prompt = _images_per_prompt(images, len(prompts))
        n_images = sum(len(imgs) for imgs in per_prompt)
        image_kwargs = _image_kwargs(per_prompt)
        texts = [
            self.adapter.format_prompt(self.processor, p, len(imgs)) if chat else p
            for p, imgs in zip(prompts, per_prompt)
        ]
        if n_images == 0:
            enc = tokenize_texts(self.tokenizer, texts, padding_side=padding_side)
        else:
            if any(len(imgs) == 0 for imgs in per_prompt):
                raise ValueError(
                    "some prompts have images and some do not: batch them separately"
                )
            previous = self.tokenizer.padding_side
            self.tokenizer.padding_side = padding_side
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    enc = self.processor(
                        text=texts, images=per_prompt, return_tensors="pt", padding=True,
                        **image_kwargs,
                    )
            except ValueError as err:
                raise ValueError(f"prompts and images do not match: {err}") from err
            finally:
                self.tokenizer.padding_side = previous
        enc = {k: v for k, v in dict(enc).items() if k != "labels" and isinstance(v, Tensor)}
        self._check_image_tokens(enc, n_images)
        out = EncodedInputs(enc)
        out.encoded_by = self._input_format()
        return out

    def _check_image_tokens(self, enc: dict[str, Tensor], n_images: int) -> None:
        found = int((enc["input_ids"] == self.image_token_id).sum())
        if n_images == 0:
            if found:
                raise ValueError(
                    f"prompts and images do not match: the prompts hold {found} image tokens "
                    "but no image was given"
                )
            return
        count = self.adapter.count_image_tokens
        config = cast("ModelConfig", self.module.config)  # an HF model's PretrainedConfig
        expected = count(config, self.processor, enc, n_images) if count else None
        if expected is not None and found != expected:
            raise ValueError(
                f"prompts and images do not match: the prompts hold {found} image tokens but "
                f"the {n_images} image(s) give "
                f"{expected} image features: put one image placeholder per image in each "
                "prompt, or pass chat=True and let interp format the prompt"
            )
        if found == 0:
            raise ValueError(
                f"prompts and images do not match: {n_images} image(s) given but the prompts "
                "hold no image token"
            )

    def mask(
        self, selector: Selector, inputs: dict[str, Tensor], *, allow_empty: bool = False
    ) -> Bool[Tensor, "batch pos"]:
        """Boolean ``(batch, pos)`` mask of the tokens ``selector`` picks in ``inputs``.

        Example:
            >>> m = mllm.mask("image", inputs)   # doctest: +SKIP
        """
        return select(
            selector,
            inputs["input_ids"],
            inputs.get("attention_mask"),
            image_token_id=self.image_token_id,
            special_ids=self.special_ids,
            allow_empty=allow_empty,
        )


class TextBackbone(TracedModel):
    """A text-only language model (the MLLM's backbone, or the MLLM run on text alone)."""

    def __init__(
        self, nn: NNModel, tokenizer: Tokenizer, *, name: str, layers_path: str, remote: bool | str = False,
        adapter: FamilyAdapter | None = None,
    ):
        super().__init__(nn, name=name, layers_path=layers_path, remote=remote)
        self.tokenizer = tokenizer
        self.adapter = adapter
        self.image_token_id: int | None = None
        special = set(getattr(tokenizer, "all_special_ids", []) or [])
        self.special_ids: set[int] = special

    def encode(self, texts: str | Sequence[str], *, padding_side: str = "right") -> dict[str, Tensor]:
        """Token ids (with BOS where the tokenizer has one) for a batch of texts.

        Example:
            >>> backbone.encode(["a red circle", "two squares"])["input_ids"].shape  # doctest: +SKIP
            torch.Size([2, 4])
        """
        return tokenize_texts(self.tokenizer, _prompt_list(texts, "texts"), padding_side=padding_side)

    def mask(
        self, selector: Selector, inputs: dict[str, Tensor], *, allow_empty: bool = False
    ) -> Bool[Tensor, "batch pos"]:
        """Boolean mask of the tokens ``selector`` picks (no image tokens in a text backbone)."""
        return select(
            selector,
            inputs["input_ids"],
            inputs.get("attention_mask"),
            image_token_id=None,
            special_ids=self.special_ids,
            allow_empty=allow_empty,
        )
