"""Targets: user input to a typed value, and a typed value to a class index."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import CamError
from core.target import (
    GROUND_TRUTH,
    PREDICTED,
    ClassIndex,
    ClassName,
    GroundTruth,
    Predicted,
    choice_text,
    parse_target,
    read_target,
    target_of_key,
)

CLASSES = ["arm wrestling", "gt", "abseiling"]


@pytest.mark.parametrize(("value", "expected"), [
    (None, PREDICTED), ("predicted", PREDICTED), (2, ClassIndex(2)), ("0", ClassIndex(0)),
    ("Arm Wrestling", ClassIndex(0)), ("gt", ClassIndex(1)),  # no labels here: "gt" is not a keyword, a name
    (ClassIndex(1), ClassIndex(1)), (PREDICTED, PREDICTED),
])
def test_parse_target_reads_indices_names_and_keywords(value, expected):
    assert parse_target(value, CLASSES) == expected


@pytest.mark.parametrize("value", ["gt", "predicted", "Prediction", "1", 1])
def test_read_and_parse_follow_one_precedence(value):
    """Keywords first, then an index, then a name: parse_target reads a word as read_target does, whether
    the model has a class called so or not (such a class is reached by its index)."""
    classes = ["gt", "predicted", "prediction", "x"]
    for ground_truth in (True, False):
        read = read_target(value, ground_truth=ground_truth)
        parsed = parse_target(value, classes, ground_truth=ground_truth)
        assert parsed == (parse_target(read, classes, ground_truth=ground_truth))
        if not isinstance(read, ClassName):
            assert parsed == read
    assert parse_target("predicted", classes) == PREDICTED  # the keyword, not class 1
    assert parse_target("gt", classes, ground_truth=True) == GROUND_TRUTH  # the keyword, not class 0
    assert parse_target("gt", classes) == ClassIndex(0)  # no labels: "gt" is only a name


def test_ground_truth_keyword_only_where_labels_exist():
    classes = ["a", "b"]
    assert parse_target("gt", classes, ground_truth=True) == GROUND_TRUTH
    with pytest.raises(CamError, match="Unknown class 'gt'"):
        parse_target("gt", classes)
    with pytest.raises(CamError, match="only where inputs have labels"):
        parse_target(GROUND_TRUTH, classes)


@pytest.mark.parametrize("value", [3, "-1", "walking", ClassIndex(7), True])
def test_parse_target_refuses_what_is_not_a_class(value):
    with pytest.raises(CamError):
        parse_target(value, CLASSES)


def test_resolve_gives_the_class_index():
    scores = np.array([0.1, 0.7, 0.2])
    assert Predicted().resolve(CLASSES, scores) == 1
    assert GroundTruth().resolve(CLASSES, scores, gt=2) == 2
    assert ClassIndex(0).resolve(CLASSES, scores) == 0
    with pytest.raises(CamError, match="no label"):
        GroundTruth().resolve(CLASSES, scores)
    with pytest.raises(CamError, match="after the model has scored"):
        Predicted().resolve(CLASSES)


def test_keys_round_trip_as_sidecars_record_them():
    for target in (PREDICTED, GROUND_TRUTH, ClassIndex(4)):
        assert target_of_key(target.key) == target
    assert (PREDICTED.key, GROUND_TRUTH.key, ClassIndex(4).key) == ("predicted", "gt", 4)
    with pytest.raises(CamError):
        target_of_key("best")


@pytest.mark.parametrize(("text", "ground_truth", "expected"), [
    (None, True, PREDICTED), ("", True, PREDICTED), ("predicted", True, PREDICTED), ("gt", True, GROUND_TRUTH),
    ("Ground Truth", True, GROUND_TRUTH), ("gt", False, ClassName("gt")), ("3", True, ClassIndex(3)),
    (3, True, ClassIndex(3)), ("arm wrestling", True, ClassName("arm wrestling")),
    (ClassName("x"), True, ClassName("x")),
])
def test_read_target_types_user_words_before_the_classes_are_known(text, ground_truth, expected):
    target = read_target(text, ground_truth=ground_truth)
    assert target == expected
    assert read_target(choice_text(target), ground_truth=ground_truth) == target  # the word reads back the same


def test_class_names_resolve_once_the_classes_are_known():
    assert parse_target(ClassName("ABSEILING"), CLASSES) == ClassIndex(2)
    with pytest.raises(CamError, match="Unknown class 'zebra'"):
        parse_target(ClassName("zebra"), CLASSES)
    with pytest.raises(CamError):
        read_target(True)
