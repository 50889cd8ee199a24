"""
Roll a FunASR fleet back, wave by wave, to each host's previous release.

    pyinfra -y inventory/prod.py rollback.py

Each host's release record (/opt/funasr/release.json) names its current and previous
release; the previous release's files are in /opt/funasr/previous/ and its image is still
on the host. Waves and gates are the deploy's (funasr_canary, funasr_waves): a host whose
previous release fails its probe is put back on its current one and no later wave starts.
Rolling back twice returns to where you started; to stay on the older version, set
funasr_version to it in your data before the next deploy.
"""

from funasr_fleet.deploys.fleet import rollback

rollback()
