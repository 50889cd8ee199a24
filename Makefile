# funasr-fleet: every target uses the virtualenv .venv at the repository root.
VENV   := .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv test unit knobs lab-test prove-faults demo lab-up lab-down lab-status bench clean

# What the tests and the lab need on this machine (Debian or Ubuntu, as root), installed
# when missing and named first: the lab's Docker engine (unless one is installed),
# debootstrap (the lab's images), an SSH client, openssl (test certificates), the venv
# module, rsync (model seeding), gzip and CA certificates.
HOST_PACKAGES := debootstrap openssh-client openssl python3-venv ca-certificates gzip rsync

host-packages:
	@missing=$$(for package in $(HOST_PACKAGES); do \
	    dpkg-query -W -f '$${db:Status-Status}' $$package 2>/dev/null | grep -qx installed || echo $$package; done; \
	    command -v dockerd >/dev/null || echo docker.io); \
	if [ -n "$$missing" ]; then \
	    echo "make: installing on this machine:" $$missing; \
	    if [ "$$(id -u)" != 0 ]; then echo "make: run as root, or install them first:" $$missing >&2; exit 1; fi; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

venv: host-packages $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -e '.[test]'
	touch $(STAMP)

# The tests: unit tests, then the lab (converge, idempotence, verify) on 3 hosts.
test: venv
	$(PYTHON) -m pytest tests/unit tests/lab -v -ra

unit: venv
	$(PYTHON) -m pytest tests/unit -q

# group_data/all.py and the knob tables of README.md and README.zh-CN.md, from
# funasr_fleet/settings/knobs.py.
knobs: venv
	$(PYTHON) -m funasr_fleet.settings.docs

lab-test: venv
	$(PYTHON) -m pytest tests/lab -v -ra

# Each fault-table row's lab test, run with its behaviour switched off: each must fail.
prove-faults: venv
	$(PYTHON) tests/lab/prove_faults.py

# Lab up, deploy, probe table.
demo: venv
	$(PYTHON) -m funasr_fleet.lab up --hosts 3
	$(VENV)/bin/pyinfra -y inventory/lab.py deploy.py
	$(PYTHON) -m funasr_fleet status inventory/lab.py

lab-up: venv
	$(PYTHON) -m funasr_fleet.lab up --hosts 3

lab-down: venv
	$(PYTHON) -m funasr_fleet.lab down

lab-status: venv
	$(PYTHON) -m funasr_fleet status inventory/lab.py

bench: venv
	$(PYTHON) bench/noop_converge.py

clean:
	rm -rf $(VENV) .pytest_cache
