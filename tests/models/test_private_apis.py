"""The private parts of nnsight, transformers and huggingface_hub that interp relies on are there.

pyproject bounds these packages (nnsight <0.9, transformers <6, huggingface-hub <3) because
interp.models reaches into them; within those bounds a minor release can still move one. Each
test here names the interp code that would break, so a failure says what to port.
"""

from __future__ import annotations

import importlib
import inspect

import pytest
import torch

import interp


@pytest.fixture(scope="module")
def backbone():
    return interp.load_text_backbone("organism")


# -- nnsight -------------------------------------------------------------------------------------
def test_nnsight_remote_backend_takes_what_traced_model_passes(backbone):
    """TracedModel._remote_backend calls ``nn._remote_backend(remote, blocking, job_id, verbose)``
    and wraps the backend it returns in a request counter that calls it with the tracer."""
    method = type(backbone.nn)._remote_backend
    params = list(inspect.signature(method).parameters)
    assert params == ["self", "remote", "blocking", "job_id", "verbose"]
    backend = backbone.nn._remote_backend("local", True, None, False)
    assert callable(backend)


def test_nnsight_envoy_module_is_the_torch_module(backbone):
    """TracedModel.module, TracedModel.envoy_of and loading._find_layers read ``Envoy._module``."""
    module = backbone.nn._module
    assert isinstance(module, torch.nn.Module)
    head = module.get_output_embeddings()
    assert any(envoy._module is head for envoy in backbone.nn.modules())
    assert backbone.envoy_of(head)._module is head


def test_nnsight_trace_takes_the_method_to_run_as_fn(backbone):
    """TracedModel.generate opens ``nn.trace(inputs, fn=<the generate method>)``."""
    assert "fn" in inspect.signature(type(backbone.nn).trace).parameters


# -- transformers --------------------------------------------------------------------------------
def test_from_pretrained_reports_loading_info_through_log_state_dict_report(tmp_path, monkeypatch):
    """loading._strict_weights wraps ``modeling_utils.log_state_dict_report`` and reads the
    ``loading_info=`` keyword's missing, unexpected and mismatched keys: if transformers stopped
    passing it so, checkpoints would load without the strict check, silently."""
    import transformers.modeling_utils as modeling_utils
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=32, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1,
    )
    LlamaForCausalLM(config).save_pretrained(tmp_path)
    assert "loading_info" in inspect.signature(modeling_utils.log_state_dict_report).parameters
    seen = []
    original = modeling_utils.log_state_dict_report

    def record(*args, **kwargs):
        seen.append(kwargs.get("loading_info"))
        return original(*args, **kwargs)

    monkeypatch.setattr(modeling_utils, "log_state_dict_report", record)
    LlamaForCausalLM.from_pretrained(tmp_path)
    assert len(seen) == 1 and seen[0] is not None
    info = seen[0]
    assert (set(info.missing_keys), set(info.unexpected_keys), list(info.mismatched_keys)) == (set(), set(), [])


def test_processor_attributes_are_a_classmethod_listing_the_video_processor():
    """compat.without_video_processor replaces ``ProcessorMixin.get_attributes`` (a classmethod,
    through ``__func__``) by one that leaves out ``"video_processor"``."""
    from transformers import Qwen2VLProcessor
    from transformers.processing_utils import ProcessorMixin
    from transformers.utils import is_torchvision_available

    assert isinstance(ProcessorMixin.__dict__["get_attributes"], classmethod)
    assert "video_processor" in Qwen2VLProcessor.get_attributes()
    assert isinstance(is_torchvision_available(), bool)


# -- huggingface_hub -----------------------------------------------------------------------------
def test_hub_progress_bar_states_is_where_disabling_bars_is_recorded():
    """compat.quiet_progress saves and restores ``huggingface_hub.utils.tqdm.progress_bar_states``
    around transformers' disable_progress_bar, which writes into it."""
    from transformers.utils import logging as hf_logging

    hub_tqdm = importlib.import_module("huggingface_hub.utils.tqdm")
    assert isinstance(hub_tqdm.progress_bar_states, dict)
    before = dict(hub_tqdm.progress_bar_states)
    was_enabled = hf_logging.is_progress_bar_enabled()
    try:
        hub_tqdm.progress_bar_states.clear()
        hf_logging.disable_progress_bar()
        assert False in hub_tqdm.progress_bar_states.values()
        assert not hf_logging.is_progress_bar_enabled()
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
        hub_tqdm.progress_bar_states.clear()
        hub_tqdm.progress_bar_states.update(before)
