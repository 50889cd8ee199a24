"""What a knob declaration is (settings/knobs.py holds them): `Knob` and `Section`."""

import inspect
from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    """A heading of group_data/all.py, with an optional comment under it."""

    title: str
    intro: str = ""

    def __post_init__(self):
        object.__setattr__(self, "intro", inspect.cleandoc(self.intro))


@dataclass(frozen=True)
class Knob:
    """One knob.

    + name: the data key, and the `Settings` attribute
    + type: the type of the checked value (the `Settings` field's annotation)
    + default: its value in group_data/all.py, written as an operator writes data
    + check: raw value -> typed value, or ValueError("<what is wrong>; <fix>") (checkers.py)
    + doc: the comment above it in group_data/all.py; "" when the previous knob's covers it
    + meaning: its cell in the README's knob table; "" to share the previous knob's row
    + shown: the README's default cell when the value is too long to show there (both READMEs)
    + layered: merged across the data layers entry by entry (validation.py checks it)
    + fleet_wide: describes the fleet, not a host: every host must have the same value
    + meaning_zh: the same cell in README.zh-CN.md's knob table, in Simplified Chinese;
      set exactly when ``meaning`` is (a unit test checks it)
    """

    name: str
    type: type
    default: object
    check: object
    doc: str = ""
    meaning: str = ""
    shown: str = ""
    layered: bool = False
    fleet_wide: bool = False
    meaning_zh: str = ""

    def __post_init__(self):
        object.__setattr__(self, "doc", inspect.cleandoc(self.doc))
