"""
What each FunASR service profile runs: image tag family, server binary, the
model roles it accepts, the image versions known to exist and the model layout each
of them loads.

The tags come from the FunASR runtime docs (see ../shared/docs/funasr-runtime-facts.md).
A version that is not listed here is refused unless the operator sets
``funasr_allow_unlisted_tag`` (third-party guides circulate tags, such as
``funasr-runtime-sdk-online-gpu-*``, that no official source lists).

Model layouts: FunASR 1.0 renamed the files of its ONNX model repositories (am.mvn,
config.yaml, tokens.json instead of vad.mvn, vad.yaml, punc.yaml, tokens.txt) with
revision v2.0.4; the C++ runtime followed in commit 00cfc36b9 ("c++ runtime adapt to
1.0"), first shipped in online-cpu 0.1.10 and cpu 0.4.5. An image loads only the
revisions of its own layout, so an image/revision pair is checked before any host changes.
"""

import re
from dataclasses import dataclass, replace

BIN_DIR = "/workspace/FunASR/runtime/websocket/build/bin"

# The two model layouts (see the module docstring).
LAYOUT_PRE_1_0 = "pre-1.0"
LAYOUT_1_0 = "1.0"
# Roles whose repositories changed file names with FunASR 1.0 (ITN and LM did not).
LAYOUT_ROLES = ("asr", "online_asr", "vad", "punc")
_VERSION_TAG = re.compile(r"v?(\d+)\.(\d+)\.(\d+)\Z")


@dataclass(frozen=True)
class Profile:
    """One way of running a FunASR server.

    + name: profile name used in group_data (``funasr_profile``)
    + tag_prefix: image tag without the version, e.g. ``funasr-runtime-sdk-online-cpu-``
    + binary: server binary inside the image
    + probe_mode: the ``mode`` the health probe asks for
    + model_roles: model roles the server accepts, mapped to its command-line option; every
      role is rendered, an unused one as ``""`` (the servers' defaults are ModelScope ids
      they would try to download: funasr-wss-server-2pass.cpp:45-129)
    + required_roles: roles that must be configured
    + versions: ``{version: model layout}`` of the images known to exist (oldest first)
    + gpu: the server needs NVIDIA GPUs (driver, Container Toolkit, device reservations)
    + final_reply: the server ends an utterance with ``is_final: true`` (the 2pass server
      does; the offline server's only reply has ``is_final: false``, websocket-server.cpp:102)
    """

    name: str
    tag_prefix: str
    binary: str
    probe_mode: str
    model_roles: dict
    required_roles: tuple
    versions: dict
    gpu: bool = False
    final_reply: bool = False

    def tag(self, version):
        return f"{self.tag_prefix}{version}"


_OFFLINE_ROLES = {"vad": "--vad-dir", "asr": "--model-dir", "punc": "--punc-dir",
                  "itn": "--itn-dir", "lm": "--lm-dir"}

_OFFLINE = Profile(
    name="offline",
    tag_prefix="funasr-runtime-sdk-cpu-",
    binary="funasr-wss-server",
    probe_mode="offline",
    model_roles=_OFFLINE_ROLES,
    required_roles=("asr", "vad", "punc"),
    versions={"0.4.4": LAYOUT_PRE_1_0, "0.4.5": LAYOUT_1_0, "0.4.6": LAYOUT_1_0,
              "0.4.7": LAYOUT_1_0},
)

PROFILES = {
    # The 2pass server accepts an LM since online-cpu 0.1.6 (--lm-dir,
    # funasr-wss-server-2pass.cpp:128). Without VAD or PUNC it starts and then breaks at
    # serving time (tpass-online-stream.cpp:9; funasrruntime.cpp FunTpassInferBuffer), so
    # only ITN and the LM may be off.
    "2pass": Profile(
        name="2pass",
        tag_prefix="funasr-runtime-sdk-online-cpu-",
        binary="funasr-wss-server-2pass",
        probe_mode="2pass",
        model_roles={"vad": "--vad-dir", "asr": "--model-dir", "online_asr": "--online-model-dir",
                     "punc": "--punc-dir", "itn": "--itn-dir", "lm": "--lm-dir"},
        required_roles=("asr", "online_asr", "vad", "punc"),
        versions={"0.1.9": LAYOUT_PRE_1_0, "0.1.10": LAYOUT_1_0, "0.1.11": LAYOUT_1_0,
                  "0.1.12": LAYOUT_1_0, "0.1.13": LAYOUT_1_0},
        final_reply=True,
    ),
    "offline": _OFFLINE,
    # The only GPU server FunASR publishes is the offline one (its GPU build); there is no
    # official 2pass GPU image (the `online-gpu` tags of third-party guides are unlisted).
    # Every GPU tag postdates the 1.0 layout.
    "offline-gpu": replace(_OFFLINE, name="offline-gpu", tag_prefix="funasr-runtime-sdk-gpu-",
                           versions={"0.1.0": LAYOUT_1_0, "0.1.1": LAYOUT_1_0,
                                     "0.2.0": LAYOUT_1_0, "0.2.1": LAYOUT_1_0}, gpu=True),
}


def get_profile(name):
    """Return the `Profile` called ``name`` (KeyError when unknown)."""
    return PROFILES[name]


def revision_layout(role, revision):
    """The model layout of a pinned revision of a ``role``'s repository, or None when
    it does not matter (ITN, LM) or cannot be told (a commit id, a custom tag).

    FunASR-1.0 file names came with revision v2.0.4 of the ONNX repositories
    (model-repos.md section 2); earlier tags (v1.x, v2.0.0-v2.0.3) have the old names.
    """
    match = _VERSION_TAG.match(revision)
    if role not in LAYOUT_ROLES or not match:
        return None
    return LAYOUT_1_0 if tuple(map(int, match.groups())) >= (2, 0, 4) else LAYOUT_PRE_1_0


def layout_mismatches(profile, version, models):
    """``[(role, spec, layout)]`` of the models an image ``version`` of ``profile`` cannot load.

    + profile: a `Profile`
    + version: an image version of it (an unlisted one: nothing can be told, [] )
    + models: ``{role: ModelSpec}``
    """
    image_layout = profile.versions.get(version)
    if image_layout is None:
        return []
    return [(role, spec, layout) for role, spec in sorted(models.items())
            for layout in [revision_layout(role, spec.revision)]
            if layout is not None and layout != image_layout]
