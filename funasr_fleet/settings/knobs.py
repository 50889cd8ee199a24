"""
Every knob funasr-fleet reads, declared once: its name, type, default, checker, the
comment group_data/all.py shows above it and its meaning in the READMEs' knob tables
(English, and Simplified Chinese for README.zh-CN.md).

From these declarations come `KNOBS` (name -> checker, run by validation.py), the fields
of `Settings` (settings/model.py), and group_data/all.py and the knob tables of README.md
and README.zh-CN.md, which `python -m funasr_fleet.settings.docs` writes (a unit test fails
when they drift).
Adding a knob is one `Knob(...)` below, then that command.
"""

from .. import catalog
from . import checkers as check
from .default_models import DEFAULT_MODELS
from .schema import Knob, Section

# The data keys that are this project's: an unknown key with one of these prefixes is a
# typo and refused; other keys (another deploy's data in the same inventory) are not ours.
PREFIXES = ("funasr_", "docker_", "nvidia_")


DECLARATIONS = (
    Section("Docker Engine"),
    Knob("docker_source", str, "distro", check.choice("distro", "docker-repo"), """
        Where Docker Engine comes from: "distro" (docker.io + docker-compose v2 from the
        distribution; Debian 13 / Ubuntu 24.04 and newer) or "docker-repo" (Docker's apt repo:
        docker-ce, docker-ce-cli, containerd.io, docker-buildx-plugin, docker-compose-plugin).
        """, "`distro` (Debian 13+/Ubuntu: docker.io, compose v2) or `docker-repo` (Docker's apt repo)",
         meaning_zh="`distro`（Debian 13+/Ubuntu：发行版自带的 docker.io 与 compose v2）"
                    "或 `docker-repo`（Docker 官方 apt 源）"),
    Knob("docker_repo_url", str, "https://download.docker.com/linux",
         check.text(r"https?://\S+", "an http(s) URL"), """
        Docker's apt repo (docker-repo only); "/debian" or "/ubuntu" is appended. Point it at a mirror if you have one.
        """, "Docker's repo or your mirror; `/debian` or `/ubuntu` is appended",
         meaning_zh="Docker 官方 apt 源或你的镜像站；自动追加 `/debian` 或 `/ubuntu`"),
    Knob("docker_repo_key_fingerprint", str, "9DC858229FC7DD38854AE2D88D81803C0EBFCD88",
         check.text(r"[0-9A-F]{40}", "a 40-hex-digit uppercase GPG fingerprint"), """
        Fingerprint the repo's signing key must have (Docker's published release key).
        """, 'fingerprint the downloaded repo key must have', shown="Docker's release key",
         meaning_zh="下载的源签名密钥必须具有的指纹"),
    Knob("docker_version", str, "", check.text(r"[0-9A-Za-z.:~+_-]*", "a Debian package version or ''"), """
        Pin the Docker package version ("" = the newest the source has), e.g. "5:27.3.1-1~debian.12~bookworm".
        """, 'pin the Docker Engine package version',
         meaning_zh="锁定 Docker Engine 软件包版本"),
    Knob("docker_data_root", str, "", check.data_root, """
        Docker's data-root in /etc/docker/daemon.json ("" = Docker's default /var/lib/docker).
        """, 'daemon.json `data-root`',
         meaning_zh="daemon.json 的 `data-root`"),
    Knob("docker_log_max_size", str, "20m", check.size("100k", "10g"), """
        Log rotation for every container (daemon.json log-opts and the FunASR service).
        """, 'log rotation (daemon.json and the service)',
         meaning_zh="日志轮转（daemon.json 与 FunASR 服务）"),
    Knob("docker_log_max_file", int, 5, check.integer(1, 100)),
    Knob("docker_registry_mirrors", tuple, [], check.url_list, """
        Registry mirrors for daemon.json (http(s) URLs), e.g. ["https://mirror.example.com"].
        A changed daemon.json is checked by dockerd (--validate) on the host before it replaces
        the live one; if Docker then does not start, the previous file is put back.
        """, 'daemon.json `registry-mirrors` (http(s) URLs)',
         meaning_zh="daemon.json 的 `registry-mirrors`（http(s) 地址）"),
    Knob("docker_live_restore", bool, True, check.boolean, """
        daemon.json "live-restore": containers keep running while dockerd restarts (a changed
        daemon.json or an engine upgrade restarts it). Set False on swarm nodes, where Docker
        refuses it.
        """,
        'daemon.json `live-restore`: containers keep running while dockerd restarts; `False` on swarm nodes',
         meaning_zh="daemon.json 的 `live-restore`：dockerd 重启时容器继续运行；swarm 节点上设为 `False`"),
    Section("NVIDIA (GPU profiles only)", """
        Hosts whose profile needs GPUs (funasr_profile = "offline-gpu") must already have a
        working NVIDIA driver (nvidia-smi): funasr-fleet checks it before any host changes but
        does not install drivers. It installs the NVIDIA Container Toolkit from NVIDIA's apt
        repo and renders the docker "nvidia" runtime into daemon.json. CPU hosts get none of it.
        """),
    Knob("nvidia_repo_url", str, "https://nvidia.github.io/libnvidia-container",
         check.text(r"(https?|file)://\S+", "an http(s) URL (file:// for a local mirror)"), """
        NVIDIA's apt repo (or your mirror of it); "/stable/deb/<arch>" and "/gpgkey" are appended.
        """, 'NVIDIA Container Toolkit apt repo or mirror (GPU profiles only)',
         meaning_zh="NVIDIA Container Toolkit 的 apt 源或镜像站（仅 GPU profile）"),
    Knob("nvidia_repo_key_fingerprint", str, "C95B321B61E88C1809C4F759DDCAE044F796ECB0",
         check.text(r"[0-9A-F]{40}", "a 40-hex-digit uppercase GPG fingerprint"), """
        Fingerprint the repo's signing key must have (NVIDIA's container toolkit key).
        """, 'fingerprint the repo key must have',
         meaning_zh="源签名密钥必须具有的指纹"),
    Knob("nvidia_toolkit_version", str, "",
         check.text(r"[0-9A-Za-z.:~+_-]*", "a Debian package version or ''"), """
        Pin the toolkit version ("" = newest), e.g. "1.17.8-1"; NVIDIA's four packages get the same pin.
        """, 'pin for NVIDIA\'s four toolkit packages (`""` = newest)',
         meaning_zh='NVIDIA 四个 toolkit 软件包的锁定版本（`""` = 最新）'),
    Knob("funasr_gpus", object, "all", check.gpus, """
        GPUs the service reserves: "all", a count (e.g. 1), or a list of GPU indexes or UUIDs
        (e.g. ["0"]); each must exist on the host (nvidia-smi).
        """,
        'GPUs the service reserves: `"all"`, a count, or a list of indexes/UUIDs (checked against'
        ' nvidia-smi)',
         meaning_zh='服务预留的 GPU：`"all"`、数量，或 GPU 序号/UUID 列表（按 nvidia-smi 校验）'),
    Knob("nvidia_verify_in_container", bool, False, check.boolean, """
        After installing the toolkit, check that a container started with those GPUs lists
        them (nvidia-smi -L in the FunASR image, which is already on the host).
        """,
        'check `nvidia-smi -L` in a container given the GPUs, using the FunASR image already on the host',
         meaning_zh="用主机上已有的 FunASR 镜像启动一个分配了 GPU 的容器，检查 `nvidia-smi -L`"),
    Knob("funasr_instance_per_gpu", bool, False, check.boolean, """
        Run one server per GPU instead of one for all: each reserves its GPU and listens on its
        own port (funasr_port, funasr_port + 1, ...); each is probed. Needs funasr_gpus as a
        count or list.
        """, 'one server per GPU (own port `funasr_port + i`, own GPU, each probed)',
         meaning_zh="每块 GPU 一个服务实例（各用端口 `funasr_port + i` 和一块 GPU，分别探测）"),
    Section("FunASR image"),
    Knob("funasr_profile", str, "2pass", check.choice(*catalog.PROFILES), """
        Service profile: "2pass" (realtime + final pass, online CPU image), "offline"
        (file transcription CPU image) or "offline-gpu" (file transcription GPU image, the
        only GPU server FunASR publishes). Every profile accepts a language model (--lm-dir).
        """,
        '`2pass` (online CPU image), `offline` (offline CPU image) or `offline-gpu` (offline GPU '
        'image, `--gpu`); each accepts an LM',
         meaning_zh="`2pass`（在线 CPU 镜像）、`offline`（离线 CPU 镜像）或 `offline-gpu`（离线 GPU 镜像，`--gpu`）；都可加载语言模型（LM）"),
    Knob("funasr_version", str, "0.1.13", check.version, """
        Image version within the profile's tag family (2pass: 0.1.x, offline: 0.4.x, offline-gpu: 0.2.x).
        Staged upgrade: pyinfra inventory/prod.py deploy.py --data funasr_version=0.1.13
        """, "image version within the profile's tag family",
         meaning_zh="该 profile 镜像标签系列内的版本"),
    Knob("funasr_allow_unlisted_tag", bool, False, check.boolean, """
        Allow a tag the catalog (funasr_fleet/catalog.py) does not list, e.g. one you built yourself.
        """, 'accept a version the catalog does not list',
         meaning_zh="接受目录（catalog）未收录的版本"),
    Knob("funasr_image_tag", str, "",
         check.text(r"([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?", "'' or a Docker image tag"), """
        Full image tag instead of the profile's family + funasr_version ("" = derived). An
        unlisted tag (e.g. the "online-gpu" tags of third-party guides) needs the allow flag.
        """, 'full tag instead of profile family + version; unlisted tags need `funasr_allow_unlisted_tag`',
         meaning_zh="完整镜像标签，代替 profile 系列 + 版本；未收录的标签需要 `funasr_allow_unlisted_tag`"),
    Knob("funasr_image_registry", str, "registry.cn-hangzhou.aliyuncs.com",
         check.text(r"([\w.-]+(:[0-9]+)?)?", "a registry host[:port] or ''"), """
        Registry host and repository of the image; full reference is REGISTRY/REPOSITORY:TAG.
        To use a registry mirror, put the mirror's host here.
        """, "image reference `REGISTRY/REPOSITORY:TAG` (put a mirror's host here)", shown='Aliyun',
         meaning_zh="镜像引用 `REGISTRY/REPOSITORY:TAG`（用镜像仓库时把它的主机名填在这里）"),
    Knob("funasr_image_repository", str, "funasr_repo/funasr",
         check.text(r"[a-z0-9]+([._/-][a-z0-9]+)*", "an image repository name")),
    Knob("funasr_image_delivery", str, "pull", check.choice("pull", "tarball"), """
        How the image reaches hosts: "pull" (each host pulls from the registry) or "tarball"
        (air-gapped: saved once on the control node with `docker save`, streamed to each host,
        loaded only when that image ID is missing there).
        """, '`pull`, or `tarball` (air-gapped: saved on the control node, streamed to hosts)',
         meaning_zh="`pull`，或 `tarball`（离线环境：在控制节点 docker save，再流式传到各主机）"),
    Knob("funasr_registry_username", str, "", check.text(r"\S*", "a user name or ''"), """
        Registry login for "pull" ("" = anonymous). The password never sits in data files and
        never appears in output: it is read at run time from the environment variable named by
        funasr_registry_password_env, or from the control-node file funasr_registry_password_file
        (one line, e.g. mode 600); set at most one of the two.
        """,
        'registry login; the password comes from the named environment variable or from a '
        'control-node file (one of the two)',
         meaning_zh="镜像仓库登录；密码来自指定的环境变量或控制节点上的文件（二选一）"),
    Knob("funasr_registry_password_env", str, "", check.env_var_name),
    Knob("funasr_registry_password_file", str, "", check.secret_file),
    Knob("funasr_image_cache_dir", str, "~/.cache/funasr-fleet/images", check.local_path, """
        Control-node cache for image tarballs ("tarball" delivery).
        """, 'control-node tarball cache',
         meaning_zh="控制节点上的镜像 tar 包缓存目录"),
    Section("Service"),
    Knob("funasr_dir", str, "/opt/funasr", check.absolute_path, """
        Directory on each host: compose.yaml, hotwords.txt, models/, ssl/.
        """, 'service directory and compose project',
         meaning_zh="服务目录和 compose 项目名"),
    Knob("funasr_project", str, "funasr",
         check.text(r"[a-z0-9][a-z0-9_-]*", "a compose project name (lowercase)"), """
        Compose project name (container names derive from it).
        """),
    Knob("funasr_bind_address", str, "0.0.0.0", check.ip_address, """
        Address and port the service is published on, on each host.
        """, 'where the service is published',
         meaning_zh="服务发布的地址和端口"),
    Knob("funasr_port", int, 10095, check.integer(1, 65535)),
    Knob("funasr_allow_from", tuple, [], check.networks, """
        Firewall: sources allowed to reach the service port(s) (every instance's), as addresses
        or networks, e.g. ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]. Loopback is always
        allowed; every other source is dropped (all of IPv6 when only IPv4 entries are listed).
        List the control node too: the health probe passes through the firewall (a list
        that would block this control node's probe is refused before any host changes). nftables table
        inet funasr_fleet, loaded at boot by funasr-fleet-firewall.service; Docker's own rules
        are left alone. [] = no firewall managed (and no remote command for it); going back to
        [] leaves an existing table in place (docs/how-it-works.md: Hardening says how to remove it).
        """,
        'addresses/networks allowed to reach the service port(s) (nftables, loopback always '
        'allowed); `[]` = no firewall managed',
         meaning_zh="允许访问服务端口的地址/网段（nftables，回环地址始终放行）；`[]` = 不管理防火墙"),
    Knob("funasr_io_threads", int, 2, check.integer(1, 256), """
        Server thread counts (--io-thread-num, --decoder-thread-num, --model-thread-num).
        """, 'server threads',
         meaning_zh="服务线程数"),
    Knob("funasr_decoder_threads", int, 8, check.integer(1, 256)),
    Knob("funasr_model_threads", int, 1, check.integer(1, 256)),
    Knob("funasr_quantize", bool, True, check.boolean, """
        Load model_quant.onnx (True) or model.onnx (False).
        """, '`model_quant.onnx` or `model.onnx`',
         meaning_zh="加载 `model_quant.onnx` 或 `model.onnx`"),
    Knob("funasr_fst_inc_wts", int, 20, check.integer(0, 100), """
        Hotword incremental bias for the FST (--fst-inc-wts).
        """, 'hotword FST bias',
         meaning_zh="热词的 FST 增量权重"),
    Knob("funasr_memory_limit", str, "6g", check.size("256m", "4096g"), """
        Container limits: memory (size) and CPUs (0 = no limit). A 2pass CPU server wants ~4 GB.
        """, 'container limits (0 = no CPU limit)',
         meaning_zh="容器资源限制（0 = 不限 CPU）"),
    Knob("funasr_cpus", float, 0, check.number(0, 1024)),
    Knob("funasr_restart_policy", str, "unless-stopped",
         check.choice("always", "unless-stopped", "on-failure"), """
        Restart policy of the container.
        """, 'container restart policy',
         meaning_zh="容器重启策略"),
    Knob("funasr_container_init", bool, True, check.boolean, """
        Run an init as the container's PID 1 (compose `init: true`). The FunASR servers install
        no SIGTERM handler, and as PID 1 the kernel drops SIGTERM: without an init every stop
        and restart waits the whole 20 s grace period before docker kills the server.
        """,
        "run an init as the container's PID 1 (compose `init: true`): the FunASR servers ignore "
        'SIGTERM as PID 1, so without it every stop waits the 20 s grace period',
         meaning_zh="用 init 作容器的 PID 1（compose `init: true`）：FunASR 服务作为 PID 1 时忽略 SIGTERM，"
                    "没有 init 时每次停止都要等满 20 s 宽限期"),
    Knob("funasr_gpu_bladedisc", bool, True, check.boolean, """
        GPU server (offline-gpu) only: --bladedisc (True: the BladeDISC-optimised TorchScript
        model_blade.torchscript, FunASR's default; False: plain model.torchscript) and
        --batch-size (FunASR's default 4). The first start with a new image, model revision or
        --bladedisc exports the TorchScript model from the -pytorch repo into a writable copy of
        that revision on the host (made once, kept for restarts and rollbacks); that first
        start's health gate waits up to funasr_gpu_export_timeout seconds more.
        """,
        'GPU server `--bladedisc` (`model_blade.torchscript`, else `model.torchscript`) and '
        "`--batch-size` (FunASR's defaults)",
         meaning_zh="GPU 服务的 `--bladedisc`（`model_blade.torchscript`，"
                    "否则 `model.torchscript`）和 `--batch-size`（FunASR 的默认值）"),
    Knob("funasr_gpu_batch_size", int, 4, check.integer(1, 1024)),
    Knob("funasr_gpu_export_timeout", float, 1800, check.number(1, 7200), "",
        "extra seconds the health gate waits at a GPU server's first start, which exports the "
        'TorchScript model into a writable per-host copy of the `-pytorch` revision (once per '
        'image, revision and `--bladedisc`; kept for restarts and rollbacks)',
         meaning_zh="GPU 服务首次启动时健康检查额外等待的秒数：首次启动要把 TorchScript 模型导出到该 `-pytorch` 版本在主机上的可写副本（每个镜像、"
                    "版本和 `--bladedisc` 组合导出一次；重启和回滚时保留）"),
    Knob("funasr_tls", str, "generated", check.choice("off", "files", "generated"), """
        TLS: "generated" (the default: wss with a certificate per host from a fleet CA the
        control node keeps; the probe verifies it against that CA and the host name), "files"
        (wss with your certificate and key; the probe pins the certificate) or "off" (plain ws,
        only when you choose it). Keys are uploaded with mode 0600 and never shown.
        """,
        '`generated` (wss; per-host certificate from the fleet CA; the probe verifies against the'
        ' CA), `files` (wss; key uploaded 0600; the probe pins the certificate) or `off` (plain '
        'ws, only when chosen)',
         meaning_zh="`generated`（wss；集群 CA 为每台主机签发证书；探测用该 CA 校验）、`files`（wss；"
                    "私钥以 0600 上传；探测固定证书指纹）或 `off`（明文 ws，仅在明确选择时）"),
    Knob("funasr_tls_cert", str, "", check.optional_local_file, """
        Certificate and key files on the control node (funasr_tls = "files").
        """),
    Knob("funasr_tls_key", str, "", check.optional_local_file),
    Knob("funasr_tls_dir", str, "~/.config/funasr-fleet/tls", check.local_path, """
        Control-node directory of the fleet CA and the hosts' certificates (funasr_tls =
        "generated"; mode 0700, keys 0600). Back it up: a new CA re-issues every certificate.
        """, 'control-node directory of the fleet CA and host certificates (`generated`)',
         meaning_zh="控制节点上存放集群 CA 和各主机证书的目录（`generated`）"),
    Knob("funasr_tls_sans", tuple, [], check.san_list, """
        Names a generated certificate holds besides the inventory name, ssh_hostname,
        funasr_probe_address and the load balancers' names and addresses: DNS names or IP
        addresses clients use, e.g. ["asr.example.com"].
        A changed list re-issues the certificate (and restarts that host's server).
        """,
        'extra DNS names / IP addresses for generated certificates (besides inventory name, '
        "`ssh_hostname`, `funasr_probe_address` and the load balancers' names)",
         meaning_zh="生成证书时额外写入的 DNS 名称 / IP 地址（清单主机名、`ssh_hostname`、`funasr_probe_address` 和负载均衡器名称之外）"),
    Section("Models"),
    Knob("funasr_models", dict, DEFAULT_MODELS, check.passthrough, """
        Model per role and profile: ModelScope id and a pinned revision. Merged across layers
        role by role; a role set to None is removed (e.g. {"2pass": {"lm": None, "itn": None}}).
        Every role the server knows is rendered: a removed one as "" (off), because the
        servers' own defaults are ModelScope ids they would try to download at start. The 2pass
        server needs vad, asr, online_asr and punc; itn and lm may be off. The language model
        (lm) is what makes server hotwords work (FunASR's run_server*.sh load it too); for the
        offline CPU profile the contextual ASR model is the other way:
          {"offline": {"asr": {"id": "iic/speech_paraformer-large-contextual_asr_nat-zh-cn-16k-common-vocab8404-onnx",
                               "revision": "v2.0.5"}}}
        Revisions v2.0.4 and later have FunASR 1.0's file names (images from online-cpu 0.1.10,
        cpu 0.4.5); a pair an image cannot load is refused before any host changes.
        offline-gpu follows FunASR's GPU guide: a PyTorch ASR model, which the GPU server exports
        to TorchScript at its first start (into a writable per-host copy of the revision, see
        funasr_gpu_bladedisc).
        """,
        'per profile and role: ModelScope id + revision; `None` turns a role off (2pass: only '
        "`itn` and `lm` may be off); revisions must have the image's model layout (v2.0.4+ from "
        'online-cpu 0.1.10 / cpu 0.4.5)',
         shown="FunASR's runtime model set with the LM, pinned", layered=True,
         meaning_zh="按 profile 和角色：ModelScope 模型 id + 版本（revision）；`None` 关闭该角色（2pass 只有 `itn` 和 `lm` 可关）"
                    "；版本须符合镜像的模型目录布局（online-cpu 0.1.10 / cpu 0.4.5 起为 v2.0.4+）"),
    Knob("funasr_models_cache_dir", str, "~/.cache/funasr-fleet/models", check.local_path, """
        Control-node model cache: <id>/<revision>/ with the files and a manifest. Each model
        revision is fetched once per fleet, verified, then copied to hosts that lack it.
        """,
        'control-node model cache (`<id>/<revision>/` + manifest), filled by the deploy or `models fetch`',
         meaning_zh="控制节点上的模型缓存（`<id>/<revision>/` + manifest），由部署或 `models fetch` 填充"),
    Knob("funasr_models_endpoint", str, "https://www.modelscope.cn",
         check.text(r"https?://[^\s/]+(/\S*)?", "an http(s) URL of a ModelScope hub or mirror"), """
        ModelScope hub (or a mirror with the same API) the control node fetches models from.
        """, 'ModelScope hub or mirror the control node fetches models from',
         meaning_zh="控制节点下载模型的 ModelScope 站点或镜像"),
    Knob("funasr_models_ssh_ciphers", str, "auto",
         check.text(r"auto|([a-z0-9@.-]+(,[a-z0-9@.-]+)*)?", "'auto', '' (ssh's own choice) or a comma-separated "
                    "list of ssh ciphers, e.g. aes128-gcm@openssh.com"), """
        SSH ciphers for copying models to hosts with rsync, in preference order. "auto": AES-GCM
        first when the CPUs of both the control node and the host have AES instructions (ssh
        works on one core per copy, and there AES-GCM costs about a third less than ssh's
        default chacha20-poly1305), with ssh's other defaults after it; "": ssh and its config
        choose; or a list for `ssh -c`.
        """,
        'SSH ciphers for the rsync model copy: `auto` (AES-GCM first when the CPUs of the control'
        ' node and the host have AES instructions), `""` (ssh and its config choose) or a list '
        'for `ssh -c`',
         meaning_zh='rsync 复制模型时的 SSH 加密算法：`auto`（控制节点和主机的 CPU 都有 AES 指令时优先 AES-GCM）'
                    '、`""`（由 ssh 及其配置决定）或传给 `ssh -c` 的列表'),
    Section("Hotwords"),
    Knob("funasr_hotwords", dict, {}, check.passthrough, """
        Phrase -> weight (integer 1-100). Merged across layers phrase by phrase; None removes
        a phrase a lower layer added. A change restarts only the servers whose file changed.
        They act only with an LM (the default model sets have one) or a contextual ASR model:
        a host whose model set has neither is refused while hotwords are set.
        """, "phrase -> integer weight 1-100; needs an LM or a contextual ASR model in the host's "
        "model set", layered=True,
         meaning_zh="热词 -> 整数权重 1-100；主机的模型组合里须有语言模型（LM）或 contextual ASR 模型"),
    Section("Rollout", """
        Hosts whose configuration or image changes are changed in waves, each gated by the
        health probe of its hosts; after a failed wave nothing further changes and the failed
        host is rolled back to its previous release. Fleet-wide: set these here or with --data.
        """),
    Knob("funasr_canary", object, 1, check.canary, """
        Canary: the first N hosts (inventory order), a group name (e.g. "canary"), or 0.
        """, 'first wave: the first N hosts, a group name, or 0 (fleet-wide)', fleet_wide=True,
         meaning_zh="第一批（金丝雀）：前 N 台主机、一个主机组名，或 0（全集群统一）"),
    Knob("funasr_waves", tuple, ["50%"], check.waves, """
        Wave sizes after the canary, like Ansible's serial: counts or percentages of the fleet,
        the last size repeating, e.g. [1, 5, "25%"].
        """,
        "later wave sizes (counts or percentages, the last repeating), like Ansible's `serial` "
        "(fleet-wide)", fleet_wide=True,
         meaning_zh="之后各批的大小（台数或百分比，最后一项重复），同 Ansible 的 `serial`（全集群统一）"),
    Section("Load balancer (optional)"),
    Knob("funasr_lb_group", str, "lb",
         check.text(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", "an inventory group name"), """
        Hosts in this inventory group run a TCP load balancer (nginx stream, from the
        distribution) instead of a FunASR server; no such group, no load balancer. It fronts the
        servers whose funasr_profile equals its own (set funasr_profile for the group). During
        a rollout each server about to restart is drained first (taken out, sessions in flight
        allowed to finish) and put back after its health probe passes. Fleet-wide.
        """,
        'inventory group whose hosts run the TCP load balancer (nginx stream) instead of a '
        'server; no such group, no balancer (fleet-wide)', fleet_wide=True,
         meaning_zh="该清单主机组的主机运行 TCP 负载均衡（nginx stream）而不是 FunASR 服务；没有该组就没有负载均衡（全集群统一）"),
    Knob("funasr_lb_port", int, 10095, check.integer(1, 65535), """
        Port the load balancer listens on (clients, e.g. xiaozhi-esp32-server, connect here).
        """, 'port the load balancer listens on',
         meaning_zh="负载均衡器监听的端口"),
    Knob("funasr_lb_backend_address", str, "",
         check.text(r"[A-Za-z0-9_.:\[\]-]*", "a host name or address, or '' for the SSH host"), """
        On a server host: the address the load balancer uses to reach it ("" = the SSH host).
        """, 'on a server host: the address the balancer reaches it at (`""` = the SSH host)',
         meaning_zh='在服务主机上设置：负载均衡器访问它的地址（`""` = SSH 主机地址）'),
    Knob("funasr_lb_drain_timeout", float, 60, check.number(1, 3600), """
        Seconds a drained server's sessions may take to finish before it is restarted anyway
        (also nginx's worker_shutdown_timeout on the load balancer).
        """, "seconds a drained server's sessions may take to finish before its restart",
         meaning_zh="被摘流的服务在重启前等待已有会话结束的最长秒数"),
    Section("Health gate"),
    Knob("funasr_probe_address", str, "",
         check.text(r"\S*", "a host name or address, or '' for the SSH host"), """
        Where the control node reaches the service for the probe: the address ("" = the SSH
        host) and, where ports are forwarded (NAT, the lab), {service port: port to probe}.
        """,
        'where the control node probes: address (default: SSH host) and `{service port: forwarded'
        ' port}` where ports are forwarded',
         meaning_zh="控制节点探测的位置：地址（默认 SSH 主机）和端口转发时的 `{服务端口: 转发端口}`"),
    Knob("funasr_probe_ports", dict, {}, check.port_map),
    Knob("funasr_probe_timeout", float, 30, check.number(1, 600), """
        Seconds one probe may wait for the final result after end of input.
        """, 'seconds for one final result; for a restarted server to pass',
         meaning_zh="一次探测等待最终结果的秒数；重启后的服务通过探测的时限"),
    Knob("funasr_start_timeout", float, 300, check.number(1, 3600), """
        Seconds a (re)started server may take to load models and pass the probe.
        """),
)


KNOB_DECLARATIONS = tuple(item for item in DECLARATIONS if isinstance(item, Knob))
KNOBS = {knob.name: knob.check for knob in KNOB_DECLARATIONS}
DEFAULTS = {knob.name: knob.default for knob in KNOB_DECLARATIONS}
LAYERED = tuple(knob.name for knob in KNOB_DECLARATIONS if knob.layered)
FLEET_WIDE = tuple(knob.name for knob in KNOB_DECLARATIONS if knob.fleet_wide)
