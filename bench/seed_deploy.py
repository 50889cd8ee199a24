"""
The model seeding step alone, for bench/model_seed.py: the host's model set, from a
given control-node cache, into a scratch models directory (the service is untouched).

    BENCH_CACHE=... BENCH_TARGET=/opt/funasr-bench/models BENCH_RSYNC=1 \
        pyinfra -y inventory/lab.py bench/seed_deploy.py
"""

import os

from pyinfra import host

from funasr_fleet.hub import fetch_models
from funasr_fleet.operations.models import models_seeded
from funasr_fleet.settings import load_settings

settings = load_settings(host)
cached = fetch_models(os.environ["BENCH_ENDPOINT"], list(settings.funasr_models.values()),
                      os.environ["BENCH_CACHE"], progress=False)
models_seeded(name="Seed models (bench)", models_dir=os.environ["BENCH_TARGET"],
              cached_models=cached, use_rsync=os.environ.get("BENCH_RSYNC", "1") == "1",
              ciphers=settings.funasr_models_ssh_ciphers)
