"""Evaluation of steered MLLMs on multiple-choice items (more lands with the evaluation issue)."""

from interp.evaluation.scoring import letter_ids, option_probs

__all__ = ["letter_ids", "option_probs"]
