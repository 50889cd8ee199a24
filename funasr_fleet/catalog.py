"""
What each FunASR service profile runs: image tag family, server binary, the
model roles it accepts, and the image versions known to exist.

The tags come from the FunASR runtime docs (see ../shared/docs/funasr-runtime-facts.md).
A version that is not listed here is refused unless the operator sets
``funasr_allow_unlisted_tag`` (third-party guides circulate tags, such as
``funasr-runtime-sdk-online-gpu-*``, that no official source lists).
"""

from dataclasses import dataclass, replace

BIN_DIR = "/workspace/FunASR/runtime/websocket/build/bin"


@dataclass(frozen=True)
class Profile:
    """One way of running a FunASR server.

    + name: profile name used in group_data (``funasr_profile``)
    + tag_prefix: image tag without the version, e.g. ``funasr-runtime-sdk-online-cpu-``
    + binary: server binary inside the image
    + probe_mode: the ``mode`` the health probe asks for
    + model_roles: model roles the server accepts, mapped to its command-line option
    + required_roles: roles that must be configured
    + versions: image versions known to exist (newest last)
    + gpu: the server needs NVIDIA GPUs (driver, Container Toolkit, device reservations)
    """

    name: str
    tag_prefix: str
    binary: str
    probe_mode: str
    model_roles: dict
    required_roles: tuple
    versions: tuple
    gpu: bool = False

    def tag(self, version):
        return f"{self.tag_prefix}{version}"


_COMMON_ROLES = {
    "asr": "--model-dir",
    "vad": "--vad-dir",
    "punc": "--punc-dir",
    "itn": "--itn-dir",
}

_OFFLINE = Profile(
    name="offline",
    tag_prefix="funasr-runtime-sdk-cpu-",
    binary="funasr-wss-server",
    probe_mode="offline",
    model_roles={**_COMMON_ROLES, "lm": "--lm-dir"},
    required_roles=("asr", "vad", "punc"),
    versions=("0.4.4", "0.4.5", "0.4.6", "0.4.7"),
)

PROFILES = {
    "2pass": Profile(
        name="2pass",
        tag_prefix="funasr-runtime-sdk-online-cpu-",
        binary="funasr-wss-server-2pass",
        probe_mode="2pass",
        model_roles={**_COMMON_ROLES, "online_asr": "--online-model-dir"},
        required_roles=("asr", "online_asr", "vad", "punc"),
        versions=("0.1.9", "0.1.10", "0.1.11", "0.1.12", "0.1.13"),
    ),
    "offline": _OFFLINE,
    # The only GPU server FunASR publishes is the offline one (its GPU build); there is no
    # official 2pass GPU image (the `online-gpu` tags of third-party guides are unlisted).
    "offline-gpu": replace(_OFFLINE, name="offline-gpu", tag_prefix="funasr-runtime-sdk-gpu-",
                           versions=("0.1.0", "0.1.1", "0.2.0", "0.2.1"), gpu=True),
}


def get_profile(name):
    """Return the `Profile` called ``name`` (KeyError when unknown)."""
    return PROFILES[name]
