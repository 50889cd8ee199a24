"""
pyinfra's config for this repository's deploys: pyinfra runs this file before it loads
the inventory. funasr-fleet makes pyinfra's per-host bookkeeping cheaper (see
funasr_fleet/pyinfra_internals.py, use_fast_pyinfra): with a fleet of hundreds of hosts,
copy this file beside your deploy.py.
"""

from funasr_fleet.pyinfra_internals import use_fast_pyinfra

use_fast_pyinfra()
