"""The organism's world: procedural scenes of coloured shapes with exact ground truth.

A scene is a 4 x 4 grid seen from a camera in front of it: row 1 is the back (far), row 4 the front
(near). Every object sits in its own cell, so objects never overlap, and its drawn size grows with its
row (the depth cue: lower in the image = larger = closer to the camera). Objects have a shape, a
colour and an intrinsic size; no two objects of a scene share a (colour, shape) pair, so "the red
circle" always names one object.

Questions follow CV-Bench's multiple-choice format (fields ``idx, type, task, image, question,
choices, answer, prompt, source``) for the tasks Count, Relation, Depth, Distance and Attribute.
Options come in a fixed order, as in CV-Bench's relation items: left/right, above/below, the two
objects in the order the question names them, colours and shapes in a fixed order, every possible
count ascending. The answer letter then depends only on the scene, which a small model can learn.
Scenes are assigned to the train / val / test split by a hash of their content, so two splits can
never share a scene. Everything is deterministic by seed.

Example:
    >>> items = make_split("test", n_per_task=2, seed=0)
    >>> sorted({it["task"] for it in items})
    ['Attribute', 'Count', 'Depth', 'Distance', 'Relation']
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw

from interp import prompts

IMAGE_SIZE = 64
GRID = 4
CELL = IMAGE_SIZE // GRID
MAX_OBJECTS = 6
SHAPES = ("circle", "square", "triangle")
COLORS = ("red", "green", "blue", "yellow")
SIZES = ("small", "large")
RGB = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 230),
    "yellow": (235, 205, 30),
}
BACKGROUND = (128, 128, 128)
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six")
TASKS = ("Count", "Relation", "Depth", "Distance", "Attribute")
TASK_TYPE = {"Count": "2D", "Relation": "2D", "Attribute": "2D", "Depth": "3D", "Distance": "3D"}
SCENE_SPLITS = ("train", "val", "test")
# the organism's questions have at most six options: the first six of the one list of option letters
LETTERS = prompts.LETTERS[:6]
# half-extent (px) of an object's drawing: intrinsic base x depth scale of its row
_BASE_HALF = {"small": 4.4, "large": 6.4}
_MIN_OBJECTS = {"Count": 1, "Relation": 2, "Depth": 2, "Distance": 3, "Attribute": 1}


@dataclass(frozen=True)
class SceneObject:
    """One object: shape, colour, intrinsic size, grid cell and exact drawn geometry.

    Example:
        >>> o = SceneObject("circle", "red", "large", row=3, col=0, cx=8.0, cy=56.0, half=6.4)
        >>> o.name
        'red circle'
    """

    shape: str
    color: str
    size: str
    row: int  # 0 = top (far) .. 3 = bottom (near)
    col: int  # 0 = left .. 3 = right
    cx: float  # centre in pixels
    cy: float
    half: float  # half-extent in pixels

    @property
    def name(self) -> str:
        """The object's unique name in its scene, e.g. ``"red circle"``."""
        return f"{self.color} {self.shape}"


@dataclass(frozen=True)
class Scene:
    """A scene: its objects in reading order (top row first, then left to right).

    Example:
        >>> s = sample_scene(random.Random(0), n_objects=2)
        >>> len(s.objects)
        2
    """

    objects: tuple[SceneObject, ...]

    @property
    def key(self) -> str:
        """Canonical content key: equal scenes have equal keys."""
        return ";".join(f"{o.row}{o.col}{o.shape}{o.color}{o.size}" for o in self.objects)

    def find(self, name: str) -> SceneObject:
        """The object called ``name`` (e.g. ``"red circle"``)."""
        for o in self.objects:
            if o.name == name:
                return o
        raise ValueError(f"no object named {name!r} in scene {self.key}")


def scene_split(scene: Scene) -> str:
    """Which split a scene belongs to, from a hash of its content (80/10/10).

    Example:
        >>> scene_split(sample_scene(random.Random(1), 3)) in SCENE_SPLITS
        True
    """
    h = int(hashlib.sha256(scene.key.encode()).hexdigest(), 16) % 10
    return "train" if h < 8 else ("val" if h == 8 else "test")


def sample_scene(rng: random.Random, n_objects: int) -> Scene:
    """Draw a scene of ``n_objects`` objects in distinct cells with distinct (colour, shape).

    Example:
        >>> sample_scene(random.Random(0), 3).objects[0].shape in SHAPES
        True
    """
    if not 1 <= n_objects <= MAX_OBJECTS:
        raise ValueError(f"n_objects must be in 1..{MAX_OBJECTS}, got {n_objects}")
    cells = rng.sample(range(GRID * GRID), n_objects)
    kinds = rng.sample([(c, s) for c in COLORS for s in SHAPES], n_objects)
    objs = []
    for cell, (color, shape) in zip(sorted(cells), kinds):
        row, col = divmod(cell, GRID)
        size = rng.choice(SIZES)
        half = _BASE_HALF[size] * (0.7 + 0.1 * row)
        cx = col * CELL + CELL / 2 + rng.uniform(-1.0, 1.0)
        cy = row * CELL + CELL / 2 + rng.uniform(-1.0, 1.0)
        objs.append(
            SceneObject(shape, color, size, row, col, round(cx, 2), round(cy, 2), round(half, 2))
        )
    return Scene(tuple(objs))


def render_image(scene: Scene) -> Image.Image:
    """Draw a scene as a 64 x 64 RGB image.

    Example:
        >>> render_image(sample_scene(random.Random(0), 2)).size
        (64, 64)
    """
    img = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), BACKGROUND)
    draw = ImageDraw.Draw(img)
    for o in scene.objects:
        x0, y0, x1, y1 = o.cx - o.half, o.cy - o.half, o.cx + o.half, o.cy + o.half
        fill = RGB[o.color]
        if o.shape == "circle":
            draw.ellipse((x0, y0, x1, y1), fill=fill)
        elif o.shape == "square":
            draw.rectangle((x0 + 1, y0 + 1, x1 - 1, y1 - 1), fill=fill)
        else:
            draw.polygon([(o.cx, y0), (x1, y1), (x0, y1)], fill=fill)
    return img


def render_text(scene: Scene) -> str:
    """The scene as text in the world's vocabulary, one sentence per object.

    Example:
        >>> render_text(sample_scene(random.Random(0), 1)).startswith("there is one object .")
        True
    """
    n = len(scene.objects)
    head = "there is one object ." if n == 1 else f"there are {NUMBER_WORDS[n]} objects ."
    parts = [head]
    for o in scene.objects:
        parts.append(f"a {o.size} {o.color} {o.shape} in row {o.row + 1} , column {o.col + 1} .")
    return " ".join(parts)


def format_cvbench_prompt(question: str, choices: Sequence[str]) -> str:
    """CV-Bench's prompt: the question, then ``Select from the following choices.`` and the options.

    Example:
        >>> format_cvbench_prompt("Which?", ["x", "y"])
        'Which? Select from the following choices.\\n(A) x\\n(B) y'
    """
    opts = "\n".join(f"({LETTERS[i]}) {c}" for i, c in enumerate(choices))
    return f"{question} Select from the following choices.\n{opts}"


def _plural(shape: str) -> str:
    return shape + "s"


def _distance(a: SceneObject, b: SceneObject) -> float:
    return math.hypot(a.row - b.row, a.col - b.col)


def _question(
    task: str, scene: Scene, rng: random.Random
) -> tuple[str, list[str], str, tuple[SceneObject, ...]] | None:
    """(question, choices, correct choice, objects the question names) or None.

    The objects come in a fixed role order: Relation (subject, reference), Depth (first option,
    second option), Distance (first option, second option, reference), Attribute (the object).
    """
    objs = list(scene.objects)
    if task == "Count":
        if rng.random() < 0.5:
            what, n = "objects", len(objs)
        else:
            shape = rng.choice(SHAPES)
            what, n = _plural(shape), sum(o.shape == shape for o in objs)
        # fixed options: every possible count, ascending (objects 1-6; one shape 0-4)
        options = range(1, MAX_OBJECTS + 1) if what == "objects" else range(len(COLORS) + 1)
        return f"How many {what} are in the image?", [str(k) for k in options], str(n), ()
    if task == "Relation":
        a, b = rng.sample(objs, 2)
        if rng.random() < 0.5 and a.col != b.col:
            choices, truth = ["left", "right"], ("left" if a.col < b.col else "right")
        elif a.row != b.row:
            choices, truth = ["above", "below"], ("above" if a.row < b.row else "below")
        elif a.col != b.col:
            choices, truth = ["left", "right"], ("left" if a.col < b.col else "right")
        else:
            return None
        q = (
            f"Considering the relative positions of the {a.name} and the {b.name} in the image "
            f"provided, where is the {a.name} located with respect to the {b.name}?"
        )
        return q, choices, truth, (a, b)
    if task == "Depth":
        a, b = rng.sample(objs, 2)
        if a.row == b.row:
            return None
        truth = a.name if a.row > b.row else b.name
        q = f"Which object is closer to the camera taking this photo, the {a.name} or the {b.name}?"
        return q, [a.name, b.name], truth, (a, b)
    if task == "Distance":
        ref, a, b = rng.sample(objs, 3)
        da, db = _distance(ref, a), _distance(ref, b)
        if abs(da - db) < 0.5:
            return None
        truth = a.name if da < db else b.name
        q = f"Which of these two objects (the {a.name} and the {b.name}), is closer to the {ref.name}?"
        return q, [a.name, b.name], truth, (a, b, ref)
    if task == "Attribute":
        # name the object by the attribute no other object shares, ask for the other one
        by_shape = rng.random() < 0.5
        named = "shape" if by_shape else "color"
        values = [getattr(o, named) for o in objs]
        unique = [o for o in objs if values.count(getattr(o, named)) == 1]
        if not unique:
            return None
        o = rng.choice(unique)
        if by_shape:
            return f"What is the color of the {o.shape}?", list(COLORS), o.color, (o,)
        return f"What is the shape of the {o.color} object?", list(SHAPES), o.shape, (o,)
    raise ValueError(f"unknown task {task!r}: expected one of {TASKS}")


def make_item(split: str, task: str, index: int, seed: int = 0) -> dict:
    """One CV-Bench-style item of ``task`` on a scene of ``split``, deterministic in all arguments.

    Returns a dict with ``idx, type, task, image, question, choices, answer, prompt, source`` plus
    ``answer_text``, ``scene`` (a :class:`Scene`), ``split`` and ``refs`` (the objects the question
    names, in a fixed role order; see :func:`_question`).

    Example:
        >>> it = make_item("val", "Relation", 0)
        >>> it["answer"] in ("(A)", "(B)")
        True
    """
    if split not in SCENE_SPLITS:
        raise ValueError(f"unknown split {split!r}: expected one of {SCENE_SPLITS}")
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}: expected one of {TASKS}")
    rng = random.Random(f"organism/{seed}/{split}/{task}/{index}")
    while True:
        scene = sample_scene(rng, rng.randint(_MIN_OBJECTS[task], MAX_OBJECTS))
        if scene_split(scene) != split:
            continue
        qa = _question(task, scene, rng)
        if qa is None:
            continue
        question, choices, truth, refs = qa
        letter = LETTERS[choices.index(truth)]
        return {
            "idx": index,
            "type": TASK_TYPE[task],
            "task": task,
            "image": render_image(scene),
            "question": question,
            "choices": choices,
            "answer": f"({letter})",
            "prompt": format_cvbench_prompt(question, choices),
            "source": "organism",
            "answer_text": truth,
            "scene": scene,
            "split": split,
            "refs": refs,
        }


def make_split(
    split: str, n_per_task: int, seed: int = 0, tasks: Sequence[str] = TASKS, start: int = 0
) -> list[dict]:
    """``n_per_task`` items of each task from ``split``, tasks interleaved.

    Example:
        >>> len(make_split("val", 3, tasks=["Count", "Depth"]))
        6
    """
    if n_per_task < 0:
        raise ValueError(f"n_per_task must be >= 0, got {n_per_task}")
    return [make_item(split, t, start + i, seed) for i in range(n_per_task) for t in tasks]


def iter_items(split: str, seed: int = 0, tasks: Sequence[str] = TASKS) -> Iterator[dict]:
    """Endless stream of items of ``split``, cycling through ``tasks``.

    Example:
        >>> next(iter_items("train"))["task"]
        'Count'
    """
    i = 0
    while True:
        for t in tasks:
            yield make_item(split, t, i, seed)
        i += 1
