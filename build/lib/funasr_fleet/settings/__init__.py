"""
Settings: the one validated, typed view of a host's data.

Every knob is listed in `KNOBS` (its checker, settings/knobs.py) and documented, with
its default, in group_data/all.py. `load_settings` builds a host's `Settings`
(settings/model.py) once; `check_inventory` builds them for every host and raises one
`SettingsError` listing every problem, each naming the host, the key, the bad value,
where it came from and the fix (settings/validation.py). deploy.py calls it before any
operation, so one bad value on one host stops the run before any host is touched.
"""

from .knobs import FLEET_WIDE, KNOBS, LAYERED
from .model import BALANCER, SERVICE, Instance, Settings
from .secret_files import read_secret
from .validation import Problem, check_inventory, data_layers, load_settings, probe_source_address

__all__ = ["BALANCER", "FLEET_WIDE", "KNOBS", "LAYERED", "SERVICE", "Instance", "Problem", "Settings",
           "check_inventory", "data_layers", "load_settings", "probe_source_address", "read_secret"]
