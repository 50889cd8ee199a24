# funasr-fleet: every knob, with its default. The one place to look them up.
#
# Layers, lowest precedence first: this file < group_data/<group>.py (and group data in
# the inventory) < host data in the inventory < `--data key=value` on the command line.
# funasr_hotwords and funasr_models merge across layers entry by entry; every other
# knob is replaced whole by a higher layer. Keys starting with funasr_, docker_, nvidia_
# that are not listed here are rejected (typos do not pass silently); other keys are
# left to whatever else reads the inventory.
#
# Generated from funasr_fleet/settings/knobs.py (each knob's type, default, checker and
# this comment, declared once): edit a knob there, then run
#   python -m funasr_fleet.settings.docs

# ---------------------------------------------------------------- Docker Engine
# Where Docker Engine comes from: "distro" (docker.io + docker-compose v2 from the
# distribution; Debian 13 / Ubuntu 24.04 and newer) or "docker-repo" (Docker's apt repo:
# docker-ce, docker-ce-cli, containerd.io, docker-buildx-plugin, docker-compose-plugin).
docker_source = "distro"
# Docker's apt repo (docker-repo only); "/debian" or "/ubuntu" is appended. Point it at a mirror if you have one.
docker_repo_url = "https://download.docker.com/linux"
# Fingerprint the repo's signing key must have (Docker's published release key).
docker_repo_key_fingerprint = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"
# Pin the Docker package version ("" = the newest the source has), e.g. "5:27.3.1-1~debian.12~bookworm".
docker_version = ""
# Docker's data-root in /etc/docker/daemon.json ("" = Docker's default /var/lib/docker).
docker_data_root = ""
# Log rotation for every container (daemon.json log-opts and the FunASR service).
docker_log_max_size = "20m"
docker_log_max_file = 5
# Registry mirrors for daemon.json (http(s) URLs), e.g. ["https://mirror.example.com"].
# A changed daemon.json is checked by dockerd (--validate) on the host before it replaces
# the live one; if Docker then does not start, the previous file is put back.
docker_registry_mirrors = []
# daemon.json "live-restore": containers keep running while dockerd restarts (a changed
# daemon.json or an engine upgrade restarts it). Set False on swarm nodes, where Docker
# refuses it.
docker_live_restore = True

# ---------------------------------------------------------------- NVIDIA (GPU profiles only)
# Hosts whose profile needs GPUs (funasr_profile = "offline-gpu") must already have a
# working NVIDIA driver (nvidia-smi): funasr-fleet checks it before any host changes but
# does not install drivers. It installs the NVIDIA Container Toolkit from NVIDIA's apt
# repo and renders the docker "nvidia" runtime into daemon.json. CPU hosts get none of it.
# NVIDIA's apt repo (or your mirror of it); "/stable/deb/<arch>" and "/gpgkey" are appended.
nvidia_repo_url = "https://nvidia.github.io/libnvidia-container"
# Fingerprint the repo's signing key must have (NVIDIA's container toolkit key).
nvidia_repo_key_fingerprint = "C95B321B61E88C1809C4F759DDCAE044F796ECB0"
# Pin the toolkit version ("" = newest), e.g. "1.17.8-1"; NVIDIA's four packages get the same pin.
nvidia_toolkit_version = ""
# GPUs the service reserves: "all", a count (e.g. 1), or a list of GPU indexes or UUIDs
# (e.g. ["0"]); each must exist on the host (nvidia-smi).
funasr_gpus = "all"
# After installing the toolkit, check that a container started with those GPUs lists
# them (nvidia-smi -L in the FunASR image, which is already on the host).
nvidia_verify_in_container = False
# Run one server per GPU instead of one for all: each reserves its GPU and listens on its
# own port (funasr_port, funasr_port + 1, ...); each is probed. Needs funasr_gpus as a
# count or list.
funasr_instance_per_gpu = False

# ---------------------------------------------------------------- FunASR image
# Service profile: "2pass" (realtime + final pass, online CPU image), "offline"
# (file transcription CPU image) or "offline-gpu" (file transcription GPU image, the
# only GPU server FunASR publishes). Every profile accepts a language model (--lm-dir).
funasr_profile = "2pass"
# Image version within the profile's tag family (2pass: 0.1.x, offline: 0.4.x, offline-gpu: 0.2.x).
# Staged upgrade: pyinfra inventory/prod.py deploy.py --data funasr_version=0.1.13
funasr_version = "0.1.13"
# Allow a tag the catalog (funasr_fleet/catalog.py) does not list, e.g. one you built yourself.
funasr_allow_unlisted_tag = False
# Full image tag instead of the profile's family + funasr_version ("" = derived). An
# unlisted tag (e.g. the "online-gpu" tags of third-party guides) needs the allow flag.
funasr_image_tag = ""
# Registry host and repository of the image; full reference is REGISTRY/REPOSITORY:TAG.
# To use a registry mirror, put the mirror's host here.
funasr_image_registry = "registry.cn-hangzhou.aliyuncs.com"
funasr_image_repository = "funasr_repo/funasr"
# How the image reaches hosts: "pull" (each host pulls from the registry) or "tarball"
# (air-gapped: saved once on the control node with `docker save`, streamed to each host,
# loaded only when that image ID is missing there).
funasr_image_delivery = "pull"
# Registry login for "pull" ("" = anonymous). The password never sits in data files and
# never appears in output: it is read at run time from the environment variable named by
# funasr_registry_password_env, or from the control-node file funasr_registry_password_file
# (one line, e.g. mode 600); set at most one of the two.
funasr_registry_username = ""
funasr_registry_password_env = ""
funasr_registry_password_file = ""
# Control-node cache for image tarballs ("tarball" delivery).
funasr_image_cache_dir = "~/.cache/funasr-fleet/images"

# ---------------------------------------------------------------- Service
# Directory on each host: compose.yaml, hotwords.txt, models/, ssl/.
funasr_dir = "/opt/funasr"
# Compose project name (container names derive from it).
funasr_project = "funasr"
# Address and port the service is published on, on each host.
funasr_bind_address = "0.0.0.0"
funasr_port = 10095
# Firewall: sources allowed to reach the service port(s) (every instance's), as addresses
# or networks, e.g. ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]. Loopback is always
# allowed; every other source is dropped (all of IPv6 when only IPv4 entries are listed).
# List the control node too: the health probe passes through the firewall (a list
# that would block this control node's probe is refused before any host changes). nftables table
# inet funasr_fleet, loaded at boot by funasr-fleet-firewall.service; Docker's own rules
# are left alone. [] = no firewall managed (and no remote command for it); going back to
# [] leaves an existing table in place (docs/how-it-works.md: Hardening says how to remove it).
funasr_allow_from = []
# Server thread counts (--io-thread-num, --decoder-thread-num, --model-thread-num).
funasr_io_threads = 2
funasr_decoder_threads = 8
funasr_model_threads = 1
# Load model_quant.onnx (True) or model.onnx (False).
funasr_quantize = True
# Hotword incremental bias for the FST (--fst-inc-wts).
funasr_fst_inc_wts = 20
# Container limits: memory (size) and CPUs (0 = no limit). A 2pass CPU server wants ~4 GB.
funasr_memory_limit = "6g"
funasr_cpus = 0
# Restart policy of the container.
funasr_restart_policy = "unless-stopped"
# Run an init as the container's PID 1 (compose `init: true`). The FunASR servers install
# no SIGTERM handler, and as PID 1 the kernel drops SIGTERM: without an init every stop
# and restart waits the whole 20 s grace period before docker kills the server.
funasr_container_init = True
# GPU server (offline-gpu) only: --bladedisc (True: the BladeDISC-optimised TorchScript
# model_blade.torchscript, FunASR's default; False: plain model.torchscript) and
# --batch-size (FunASR's default 4). The first start with a new image, model revision or
# --bladedisc exports the TorchScript model from the -pytorch repo into a writable copy of
# that revision on the host (made once, kept for restarts and rollbacks); that first
# start's health gate waits up to funasr_gpu_export_timeout seconds more.
funasr_gpu_bladedisc = True
funasr_gpu_batch_size = 4
funasr_gpu_export_timeout = 1800
# TLS: "generated" (the default: wss with a certificate per host from a fleet CA the
# control node keeps; the probe verifies it against that CA and the host name), "files"
# (wss with your certificate and key; the probe pins the certificate) or "off" (plain ws,
# only when you choose it). Keys are uploaded with mode 0600 and never shown.
funasr_tls = "generated"
# Certificate and key files on the control node (funasr_tls = "files").
funasr_tls_cert = ""
funasr_tls_key = ""
# Control-node directory of the fleet CA and the hosts' certificates (funasr_tls =
# "generated"; mode 0700, keys 0600). Back it up: a new CA re-issues every certificate.
funasr_tls_dir = "~/.config/funasr-fleet/tls"
# Names a generated certificate holds besides the inventory name, ssh_hostname,
# funasr_probe_address and the load balancers' names and addresses: DNS names or IP
# addresses clients use, e.g. ["asr.example.com"].
# A changed list re-issues the certificate (and restarts that host's server).
funasr_tls_sans = []

# ---------------------------------------------------------------- Models
# Model per role and profile: ModelScope id and a pinned revision. Merged across layers
# role by role; a role set to None is removed (e.g. {"2pass": {"lm": None, "itn": None}}).
# Every role the server knows is rendered: a removed one as "" (off), because the
# servers' own defaults are ModelScope ids they would try to download at start. The 2pass
# server needs vad, asr, online_asr and punc; itn and lm may be off. The language model
# (lm) is what makes server hotwords work (FunASR's run_server*.sh load it too); for the
# offline CPU profile the contextual ASR model is the other way:
#   {"offline": {"asr": {"id": "iic/speech_paraformer-large-contextual_asr_nat-zh-cn-16k-common-vocab8404-onnx",
#                        "revision": "v2.0.5"}}}
# Revisions v2.0.4 and later have FunASR 1.0's file names (images from online-cpu 0.1.10,
# cpu 0.4.5); a pair an image cannot load is refused before any host changes.
# offline-gpu follows FunASR's GPU guide: a PyTorch ASR model, which the GPU server exports
# to TorchScript at its first start (into a writable per-host copy of the revision, see
# funasr_gpu_bladedisc).
funasr_models = {
    "2pass": {
        "vad": {"id": "iic/speech_fsmn_vad_zh-cn-16k-common-onnx", "revision": "v2.0.4"},
        "asr": {"id": "iic/speech_paraformer-large_asr_nat-zh-cn-16k-common-vocab8404-onnx",
                "revision": "v2.0.5"},
        "online_asr": {"id": "iic/speech_paraformer-large_asr_nat-zh-cn-16k-common-vocab8404-online-onnx",
                       "revision": "v2.0.5"},
        "punc": {"id": "iic/punc_ct-transformer_zh-cn-common-vad_realtime-vocab272727-onnx",
                 "revision": "v2.0.5"},
        "itn": {"id": "thuduj12/fst_itn_zh", "revision": "v1.0.1"},
        "lm": {"id": "iic/speech_ngram_lm_zh-cn-ai-wesp-fst", "revision": "v1.0.2"},
    },
    "offline": {
        "vad": {"id": "iic/speech_fsmn_vad_zh-cn-16k-common-onnx", "revision": "v2.0.4"},
        "asr": {"id": "iic/speech_paraformer-large-vad-punc_asr_nat-zh-cn-16k-common-vocab8404-onnx",
                "revision": "v2.0.5"},
        "punc": {"id": "iic/punc_ct-transformer_cn-en-common-vocab471067-large-onnx",
                 "revision": "v2.0.5"},
        "itn": {"id": "thuduj12/fst_itn_zh", "revision": "v1.0.1"},
        "lm": {"id": "iic/speech_ngram_lm_zh-cn-ai-wesp-fst", "revision": "v1.0.2"},
    },
    "offline-gpu": {
        "vad": {"id": "iic/speech_fsmn_vad_zh-cn-16k-common-onnx", "revision": "v2.0.4"},
        "asr": {"id": "iic/speech_paraformer-large-vad-punc_asr_nat-zh-cn-16k-common-vocab8404-pytorch",
                "revision": "v2.0.5"},
        "punc": {"id": "iic/punc_ct-transformer_cn-en-common-vocab471067-large-onnx",
                 "revision": "v2.0.5"},
        "itn": {"id": "thuduj12/fst_itn_zh", "revision": "v1.0.1"},
        "lm": {"id": "iic/speech_ngram_lm_zh-cn-ai-wesp-fst", "revision": "v1.0.2"},
    },
}
# Control-node model cache: <id>/<revision>/ with the files and a manifest. Each model
# revision is fetched once per fleet, verified, then copied to hosts that lack it.
funasr_models_cache_dir = "~/.cache/funasr-fleet/models"
# ModelScope hub (or a mirror with the same API) the control node fetches models from.
funasr_models_endpoint = "https://www.modelscope.cn"
# SSH ciphers for copying models to hosts with rsync, in preference order. "auto": AES-GCM
# first when the CPUs of both the control node and the host have AES instructions (ssh
# works on one core per copy, and there AES-GCM costs about a third less than ssh's
# default chacha20-poly1305), with ssh's other defaults after it; "": ssh and its config
# choose; or a list for `ssh -c`.
funasr_models_ssh_ciphers = "auto"

# ---------------------------------------------------------------- Hotwords
# Phrase -> weight (integer 1-100). Merged across layers phrase by phrase; None removes
# a phrase a lower layer added. A change restarts only the servers whose file changed.
# They act only with an LM (the default model sets have one) or a contextual ASR model:
# a host whose model set has neither is refused while hotwords are set.
funasr_hotwords = {}

# ---------------------------------------------------------------- Rollout
# Hosts whose configuration or image changes are changed in waves, each gated by the
# health probe of its hosts; after a failed wave nothing further changes and the failed
# host is rolled back to its previous release. Fleet-wide: set these here or with --data.
# Canary: the first N hosts (inventory order), a group name (e.g. "canary"), or 0.
funasr_canary = 1
# Wave sizes after the canary, like Ansible's serial: counts or percentages of the fleet,
# the last size repeating, e.g. [1, 5, "25%"].
funasr_waves = ["50%"]

# ---------------------------------------------------------------- Load balancer (optional)
# Hosts in this inventory group run a TCP load balancer (nginx stream, from the
# distribution) instead of a FunASR server; no such group, no load balancer. It fronts the
# servers whose funasr_profile equals its own (set funasr_profile for the group). During
# a rollout each server about to restart is drained first (taken out, sessions in flight
# allowed to finish) and put back after its health probe passes. Fleet-wide.
funasr_lb_group = "lb"
# Port the load balancer listens on (clients, e.g. xiaozhi-esp32-server, connect here).
funasr_lb_port = 10095
# On a server host: the address the load balancer uses to reach it ("" = the SSH host).
funasr_lb_backend_address = ""
# Seconds a drained server's sessions may take to finish before it is restarted anyway
# (also nginx's worker_shutdown_timeout on the load balancer).
funasr_lb_drain_timeout = 60

# ---------------------------------------------------------------- Health gate
# Where the control node reaches the service for the probe: the address ("" = the SSH
# host) and, where ports are forwarded (NAT, the lab), {service port: port to probe}.
funasr_probe_address = ""
funasr_probe_ports = {}
# Seconds one probe may wait for the final result after end of input.
funasr_probe_timeout = 30
# Seconds a (re)started server may take to load models and pass the probe.
funasr_start_timeout = 300
