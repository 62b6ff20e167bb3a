import pytest
import torch

from interp.tokens import Positions, last_token_index, select, selects_generated

IMG, BOS, PAD = 7, 1, 0
SPECIAL = {BOS, PAD}


def batch(padding: str):
    # Row 0: 3 image tokens, BOS, 3 text tokens. Row 1: 2 image tokens, BOS, 2 text tokens.
    rows = [[IMG, IMG, IMG, BOS, 5, 6, 9], [IMG, IMG, BOS, 5, 6]]
    width = max(map(len, rows))
    ids = torch.full((2, width), PAD)
    am = torch.zeros((2, width), dtype=torch.long)
    for b, r in enumerate(rows):
        sl = slice(width - len(r), width) if padding == "left" else slice(0, len(r))
        ids[b, sl] = torch.tensor(r)
        am[b, sl] = 1
    return ids, am


def real_positions(mask, am):
    """Mask values at each row's real tokens, so left and right padding compare equal."""
    return [mask[b][am[b].bool()].int().tolist() for b in range(mask.shape[0])]


@pytest.mark.parametrize("padding", ["left", "right"])
@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("image", [[1, 1, 1, 0, 0, 0, 0], [1, 1, 0, 0, 0]]),
        ("text", [[0, 0, 0, 0, 1, 1, 0], [0, 0, 0, 1, 0]]),
        ("both", [[1, 1, 1, 0, 1, 1, 0], [1, 1, 0, 1, 0]]),
        ("last", [[0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1]]),
        ("all", [[1] * 7, [1] * 5]),
        (Positions([0, -2]), [[1, 0, 0, 0, 0, 1, 0], [1, 0, 0, 1, 0]]),
        (Positions([[3], [2, 4]]), [[0, 0, 0, 1, 0, 0, 0], [0, 0, 1, 0, 1]]),
    ],
)
def test_selectors_are_padding_independent(padding, selector, expected):
    ids, am = batch(padding)
    mask = select(selector, ids, am, image_token_id=IMG, special_ids=SPECIAL)
    assert real_positions(mask, am) == expected
    assert not mask[~am.bool()].any(), "padding must never be selected"


def test_rows_with_different_image_counts_get_their_own_image_tokens():
    ids, am = batch("left")
    mask = select("image", ids, am, image_token_id=IMG)
    assert mask.sum(dim=1).tolist() == [3, 2]


def test_bool_mask_selector_is_intersected_with_real_tokens():
    ids, am = batch("right")
    user = torch.ones_like(ids, dtype=torch.bool)
    assert torch.equal(select(user, ids, am, image_token_id=IMG), am.bool())


def test_last_token_index_left_and_right():
    _, am_left = batch("left")
    _, am_right = batch("right")
    assert last_token_index(am_left).tolist() == [6, 6]
    assert last_token_index(am_right).tolist() == [6, 4]


def test_image_selector_on_text_only_prompt_is_an_error():
    ids = torch.tensor([[BOS, 5, 6]])
    with pytest.raises(ValueError, match=r"selector 'image' selects no token in row\(s\) \[0\].*text-only"):
        select("image", ids, image_token_id=IMG, special_ids=SPECIAL)
    empty = select("image", ids, image_token_id=IMG, allow_empty=True)
    assert not empty.any()


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("images", r"unknown token selector 'images': expected one of \['image', 'text'"),
        (torch.ones(2, 3, dtype=torch.bool), r"mask selector has shape \(2, 3\) but the batch is \(2, 7\)"),
        (torch.ones(2, 7), r"a mask selector must be a bool tensor"),
        (Positions([9]), r"position 9 is out of range for row 0, which has 7 tokens"),
        (Positions([[1]]), r"Positions gives 1 rows of indices for a batch of 2"),
    ],
)
def test_bad_selectors_are_refused(selector, message):
    ids, am = batch("right")
    with pytest.raises(ValueError, match=message):
        select(selector, ids, am, image_token_id=IMG, special_ids=SPECIAL)


def test_positions_refuses_mixed_input():
    with pytest.raises(ValueError, match="Positions takes a list of ints"):
        Positions([1, [2]])  # type: ignore[list-item]


def test_generated_tokens_follow_text_selectors_only():
    assert [selects_generated(s) for s in ("image", "text", "both", "last", "all")] == [
        False, True, True, True, True,
    ]
    assert not selects_generated(Positions([0]))
