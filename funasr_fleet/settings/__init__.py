"""
Settings: the one validated, typed view of a host's data.

Every knob is declared once, in settings/knobs.py (type, default, checker, comment,
README meaning in English and Chinese); `KNOBS` maps each to its checker, `Settings`
(settings/model.py) takes its fields from the declarations, and group_data/all.py and the
knob tables of README.md and README.zh-CN.md are generated from them (settings/docs.py).
`load_settings` builds a host's `Settings` once; `check_inventory` builds them for every
host and raises one `SettingsError` listing every problem, each naming the host, the key,
the bad value, where it came from and the fix (settings/validation.py). deploy.py calls it before any
operation, so one bad value on one host stops the run before any host is touched.
"""

from .knobs import DECLARATIONS, DEFAULTS, FLEET_WIDE, KNOB_DECLARATIONS, KNOBS, LAYERED, PREFIXES
from .model import BALANCER, SERVICE, Instance, Settings
from .schema import Knob, Section
from .secret_files import read_secret
from .validation import Problem, check_inventory, data_layers, load_settings, probe_source_address

__all__ = ["BALANCER", "DECLARATIONS", "DEFAULTS", "FLEET_WIDE", "KNOB_DECLARATIONS", "KNOBS", "LAYERED",
           "PREFIXES", "SERVICE", "Instance", "Knob", "Problem", "Section", "Settings", "check_inventory",
           "data_layers", "load_settings", "probe_source_address", "read_secret"]
