"""interp: look inside multimodal LLMs and steer them with vectors built from text."""

__version__ = "0.1.0"
