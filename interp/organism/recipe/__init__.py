"""How the organisms are trained: what the training scripts use, and nothing the library runs.

- :mod:`~interp.organism.recipe.model`: the world's tokenizer, the Gemma 2 and PaliGemma configs,
  the processor;
- :mod:`~interp.organism.recipe.batches`: training batches, per-patch targets and the training-only
  reference heads;
- :mod:`~interp.organism.recipe.training`: seeding, schedule, budgets, streams, atomic saves, the log;
- :mod:`~interp.organism.recipe.phases`: the first organism's options and its text-backbone and SAE
  phases, which the LLaVA organism's script reuses;
- :mod:`~interp.organism.recipe.evaluate`: letter scoring, the checkpoint rule and measuring the
  shipped models;
- :mod:`~interp.organism.recipe.llava`: the LLaVA organism's builders;
- :mod:`~interp.organism.recipe.card`: the card writer both scripts fill with their own sections.

Example:
    >>> from interp.organism.recipe.model import build_tokenizer
    >>> build_tokenizer().tokenize("red circle")
    ['red', 'circle']
"""
