"""
Hotwords: merged from the data layers, validated, rendered in FunASR's format.

FunASR reads a hotword file once at server start: one ``phrase weight`` per line,
UTF-8, the last token an integer weight, everything before it the phrase.

In group_data a layer's hotwords are a dict ``{phrase: weight}``; later layers
(all < group < host < --data) override earlier ones phrase by phrase, and a
weight of ``None`` removes a phrase an earlier layer added.
"""

import re

MIN_WEIGHT = 1
MAX_WEIGHT = 100

_SPACES = re.compile(r"\s+")


def normalise_phrase(phrase):
    """Collapse runs of whitespace and strip the ends: ``" 阿里  巴巴 "`` -> ``"阿里 巴巴"``."""
    return _SPACES.sub(" ", phrase).strip()


def check_layer(layer):
    """Validate one layer's hotwords and return them keyed by normalised phrase.

    + layer: a dict ``{phrase: weight}`` (weight an int in 1..100, or None to remove)

    Raises ``ValueError`` with the offending phrase and the fix.

    **Example:**

    .. code:: python

        check_layer({"阿里巴巴": 20})  # -> {"阿里巴巴": 20}
    """
    if not isinstance(layer, dict):
        raise ValueError(
            f"must be a dict of phrase -> weight, got {type(layer).__name__}; "
            'write it as {"阿里巴巴": 20}',
        )
    checked = {}
    for phrase, weight in layer.items():
        key = _check_phrase(phrase)
        if key in checked:
            raise ValueError(
                f"duplicate hotword {key!r} (differs from another entry only in whitespace); "
                "keep one of them",
            )
        checked[key] = _check_weight(key, weight)
    return checked


def merge_layers(layers):
    """Merge validated layers, later ones winning; drop phrases whose weight is None.

    + layers: dicts as returned by `check_layer`, lowest precedence first

    **Example:**

    .. code:: python

        merge_layers([{"a": 10, "b": 5}, {"b": None, "c": 7}])  # -> {"a": 10, "c": 7}
    """
    merged = {}
    for layer in layers:
        merged.update(layer)
    return {phrase: weight for phrase, weight in merged.items() if weight is not None}


def _check_phrase(phrase):
    if not isinstance(phrase, str):
        raise ValueError(f"hotword {phrase!r} must be a string")
    try:
        phrase.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"hotword {phrase!r} is not valid UTF-8; retype it") from None
    key = normalise_phrase(phrase)
    if not key:
        raise ValueError("empty hotword phrase; remove the entry")
    if "\n" in phrase or "\r" in phrase:
        raise ValueError(f"hotword {key!r} contains a line break; one phrase per entry")
    if key.rsplit(" ", 1)[-1].lstrip("-").isdigit():
        raise ValueError(
            f"hotword {key!r} ends in a number, which FunASR would read as its weight; "
            "write the number in words or drop it",
        )
    return key


def _check_weight(phrase, weight):
    if weight is None:
        return None
    if isinstance(weight, bool) or not isinstance(weight, int):
        raise ValueError(
            f"hotword {phrase!r} has weight {weight!r}; weights are integers "
            f"{MIN_WEIGHT}-{MAX_WEIGHT} (e.g. 20), or None to remove the phrase",
        )
    if not MIN_WEIGHT <= weight <= MAX_WEIGHT:
        raise ValueError(
            f"hotword {phrase!r} has weight {weight}; use an integer {MIN_WEIGHT}-{MAX_WEIGHT}",
        )
    return weight
