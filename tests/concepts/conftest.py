"""Fixtures for the concept tests: every tokenizer kind, built once per session."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest
from concept_tokenizers import KINDS, build_tokenizer
from transformers import PreTrainedTokenizerFast


@pytest.fixture(scope="module", params=KINDS)
def any_tokenizer(request: pytest.FixtureRequest) -> tuple[str, PreTrainedTokenizerFast]:
    """Every tokenizer kind, as (kind, tokenizer)."""
    return request.param, build_tokenizer(request.param)
