"""Text of the organism's world: concept sentences with anchor words, contrast pairs, descriptions.

The concept corpora follow the paper's layout (arXiv 2505.14071): per taxonomy, sentences each holding one anchor word
(``{"sentence": ..., "anchor": ..., "label": ...}``). Only the taxonomies the world can express are
built: spatial_relationship, counting, attribute, entity, comparison, negation. Contrast pairs
(``{"positive": ..., "negative": ...}``) replace the concept by a neutral statement about the same
objects, for diff-mean vectors.

Example:
    >>> rows = concept_sentences("counting", n=3, seed=0)
    >>> all(r["anchor"] in r["sentence"].split() for r in rows)
    True
"""

from __future__ import annotations

import random
from collections.abc import Callable

from interp.organism.scenes import (
    COLORS,
    MAX_OBJECTS,
    NUMBER_WORDS,
    SHAPES,
    SIZES,
    Scene,
    render_text,
)

TAXONOMIES = ("spatial_relationship", "counting", "attribute", "entity", "comparison", "negation")


def _obj(rng: random.Random) -> str:
    return f"{rng.choice(COLORS)} {rng.choice(SHAPES)}"


def _two(rng: random.Random) -> tuple[str, str]:
    a = _obj(rng)
    b = _obj(rng)
    while b == a:
        b = _obj(rng)
    return a, b


def _one_of(rng: random.Random, *sentences: str | Callable[[], str]) -> str:
    """One of ``sentences``, drawn uniformly; a callable (a sentence with draws of its own) is
    called only when it is the one drawn, so its draws come after the choice."""
    chosen = sentences[rng.randrange(len(sentences))]
    return chosen() if callable(chosen) else chosen


def _one(taxonomy: str, rng: random.Random) -> tuple[str, str, str, str]:
    """(sentence, anchor, label, negative sentence) for one draw of ``taxonomy``."""
    a, b = _two(rng)
    neutral = f"the {a} and the {b} are in the image ."
    if taxonomy == "spatial_relationship":
        rel = rng.choice(["left", "right", "above", "below"])
        phrase = f"{rel} of" if rel in ("left", "right") else rel
        s = _one_of(rng, f"the {a} is {phrase} the {b} .", f"there is a {a} {phrase} the {b} .",
                    f"the {a} is located {phrase} the {b} in the image .")
        return s, rel, rel, neutral
    if taxonomy == "counting":
        n = rng.randint(1, MAX_OBJECTS)
        word = NUMBER_WORDS[n]
        shape = rng.choice([*SHAPES, "object"])
        noun = shape if n == 1 else shape + "s"
        verb = "is" if n == 1 else "are"
        s = _one_of(rng, f"there {verb} {word} {noun} in the image .", f"the image shows {word} {noun} .",
                    f"i count {word} {noun} in the scene .")
        return s, word, word, f"there are {shape}s in the image ."
    if taxonomy == "attribute":
        shape = rng.choice(SHAPES)
        if rng.random() < 0.6:
            color = rng.choice(COLORS)
            s = _one_of(rng, f"the {shape} is {color} .", f"the color of the {shape} is {color} .",
                        f"there is a {color} {shape} in the image .")
            return s, color, color, f"there is a {shape} in the image ."
        size = rng.choice(SIZES)
        s = rng.choice([f"the {shape} is {size} .", f"there is a {size} {shape} in the image ."])
        return s, size, size, f"there is a {shape} in the image ."
    if taxonomy == "entity":
        shape = rng.choice(SHAPES)
        color = rng.choice(COLORS)
        s = _one_of(
            rng, f"there is a {shape} in the image .", f"the image shows a {color} {shape} .",
            lambda: f"a {shape} is in row {rng.randint(1, 4)} , column {rng.randint(1, 4)} .",
            lambda: f"the {rng.choice(SIZES)} {shape} is {rng.choice(['left', 'right', 'above', 'below'])} .",
        )
        return s, shape, shape, f"there is something {color} in the image ."
    if taxonomy == "comparison":
        word = rng.choice(["closer", "farther", "larger", "smaller"])
        depth = word in ("closer", "farther")
        s = _one_of(rng, f"the {a} is {word} than the {b} .",
                    f"the {a} is {word} to the camera than the {b} ." if depth else f"the {a} looks {word} than the {b} .")
        return s, word, word, neutral
    if taxonomy == "negation":
        word = rng.choice(["no", "not"])
        if word == "no":
            s = rng.choice(
                [f"there is no {a} in the image .", f"the image shows no {rng.choice(SHAPES)} ."]
            )
        else:
            s = rng.choice(
                [
                    f"the {a.split()[1]} is not {a.split()[0]} .",
                    f"the {a} is not left of the {b} .",
                    f"the {a} is not in the image .",
                ]
            )
        return s, word, word, f"there is a {a} in the image ."
    raise ValueError(f"unknown taxonomy {taxonomy!r}: expected one of {TAXONOMIES}")


def concept_sentences(taxonomy: str, n: int = 60, seed: int = 0) -> list[dict]:
    """``n`` distinct concept sentences of ``taxonomy`` with their anchor word and a label.

    Example:
        >>> concept_sentences("negation", n=2)[0]["anchor"] in ("no", "not")
        True
    """
    if taxonomy not in TAXONOMIES:
        raise ValueError(f"unknown taxonomy {taxonomy!r}: expected one of {TAXONOMIES}")
    rng = random.Random(f"concepts/{seed}/{taxonomy}")

    def draw() -> tuple[str, dict]:
        s, anchor, label, _ = _one(taxonomy, rng)
        return s, {"sentence": s, "anchor": anchor, "label": label}

    return _distinct(n, draw)


def contrast_pairs(taxonomy: str, n: int = 30, seed: int = 0) -> list[dict]:
    """``n`` pairs ``{"positive", "negative"}``: a concept sentence and a neutral one.

    Example:
        >>> p = contrast_pairs("spatial_relationship", n=1)[0]
        >>> sorted(p)
        ['negative', 'positive']
    """
    if taxonomy not in TAXONOMIES:
        raise ValueError(f"unknown taxonomy {taxonomy!r}: expected one of {TAXONOMIES}")
    rng = random.Random(f"pairs/{seed}/{taxonomy}")

    def draw() -> tuple[str, dict]:
        s, _, _, neg = _one(taxonomy, rng)
        return s, {"positive": s, "negative": neg}

    return _distinct(n, draw)


def _distinct(n: int, draw: Callable[[], tuple[str, dict]]) -> list[dict]:
    """Up to ``n`` rows from ``draw()`` (key, row), skipping rows whose key was drawn before;
    gives up after ``100 n`` draws."""
    out: list[dict] = []
    seen: set[str] = set()
    tries = 0
    while len(out) < n and tries < 100 * n:
        tries += 1
        key, row = draw()
        if key in seen:
            continue
        seen.add(key)
        out.append(row)
    return out


def describe_relations(scene: Scene, rng: random.Random, k: int = 3) -> str:
    """Up to ``k`` true sentences about the scene (relations, depth, counts, attributes).

    Example:
        >>> from interp.organism.scenes import sample_scene
        >>> isinstance(describe_relations(sample_scene(random.Random(0), 3), random.Random(0)), str)
        True
    """
    objs = list(scene.objects)
    out = []
    for _ in range(k):
        kind = rng.randrange(5)
        if len(objs) >= 2 and kind <= 1:
            a, b = rng.sample(objs, 2)
            if kind == 0 and a.col != b.col:
                rel = "left of" if a.col < b.col else "right of"
            elif a.row != b.row:
                rel = "above" if a.row < b.row else "below"
            else:
                continue
            neg = rng.random() < 0.15
            if neg:
                wrong = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}
                out.append(f"the {a.name} is not {wrong[rel]} the {b.name} .")
            else:
                out.append(f"the {a.name} is {rel} the {b.name} .")
        elif len(objs) >= 2 and kind == 2:
            a, b = rng.sample(objs, 2)
            if a.row == b.row:
                continue
            word = "closer" if a.row > b.row else "farther"
            out.append(f"the {a.name} is {word} to the camera than the {b.name} .")
        elif kind == 3:
            shape = rng.choice(SHAPES)
            n = sum(o.shape == shape for o in objs)
            if n == 0:
                out.append(f"there is no {shape} in the image .")
            else:
                noun = shape if n == 1 else shape + "s"
                verb = "is" if n == 1 else "are"
                out.append(f"there {verb} {NUMBER_WORDS[n]} {noun} in the image .")
        else:
            o = rng.choice(objs)
            out.append(f"the {o.shape} is {o.color} ." if sum(p.shape == o.shape for p in objs) == 1
                       else f"there is a {o.size} {o.name} in the image .")
    return " ".join(out)


def scene_document(scene: Scene, rng: random.Random) -> str:
    """A training document: the text rendering followed by a few true statements.

    Example:
        >>> from interp.organism.scenes import sample_scene
        >>> scene_document(sample_scene(random.Random(0), 2), random.Random(0)).startswith("there")
        True
    """
    return render_text(scene) + " " + describe_relations(scene, rng)
