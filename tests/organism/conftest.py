"""Fixtures for the organism tests: the shipped models, loaded once per session."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest
import torch

from interp import organism


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def mllm_dir():
    return organism.path("mllm")


@pytest.fixture(scope="session")
def text_dir():
    return organism.path("text")


@pytest.fixture(scope="session")
def mllm(mllm_dir):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(mllm_dir).eval()
    return model, AutoProcessor.from_pretrained(mllm_dir)


@pytest.fixture(scope="session")
def text_model(text_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(text_dir).eval()
    return model, AutoTokenizer.from_pretrained(text_dir)
