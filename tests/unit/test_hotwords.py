"""Hotword layers: validation, normalisation, merge."""

import pytest

from funasr_fleet.hotwords import check_layer, merge_layers, normalise_phrase


def test_normalise_collapses_whitespace():
    assert normalise_phrase("  阿里\t 巴巴 ") == "阿里 巴巴"


@pytest.mark.parametrize("layer, message", [
    ({"": 10}, "empty hotword phrase"),
    ({"   ": 10}, "empty hotword phrase"),
    ({"a  b": 10, "a b": 20}, "duplicate hotword 'a b'"),
    ({"x": 0}, "use an integer 1-100"),
    ({"x": 101}, "use an integer 1-100"),
    ({"x": 2.5}, "weights are integers"),
    ({"x": True}, "weights are integers"),
    ({"x\ny": 3}, "line break"),
    ({"room 101": 3}, "ends in a number"),
    ({"bad\udc80": 3}, "not valid UTF-8"),
    (["x 10"], "must be a dict"),
])
def test_bad_layers_are_refused_with_the_phrase_and_fix(layer, message):
    with pytest.raises(ValueError, match=message):
        check_layer(layer)


def test_merge_later_layers_win_and_none_removes():
    layers = [check_layer({"a": 10, "b": 5}), check_layer({" b ": None, "c": 7}), check_layer({"a": 1})]
    assert merge_layers(layers) == {"a": 1, "c": 7}
