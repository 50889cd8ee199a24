"""
Model sets: which ModelScope model (id + pinned revision) fills each role of a
FunASR server profile.

In group_data ``funasr_models`` maps profile -> role -> ``{"id": ..., "revision": ...}``;
later layers override earlier ones role by role, and a role set to ``None`` removes
it (for example ``{"2pass": {"itn": None}}`` runs without inverse text normalisation).
"""

import re
from dataclasses import dataclass

_MODEL_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
_REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")


@dataclass(frozen=True)
class ModelSpec:
    """One pinned model repository.

    + id: ModelScope id, ``owner/name``
    + revision: tag or commit to fetch; always pinned
    """

    id: str
    revision: str

    @property
    def dirname(self):
        """Directory of this model below the models dir: ``owner/name@revision``. Each
        revision has its own, so a release's compose names exactly its models, and the
        previous release's stay in place for a rollback."""
        return f"{self.id}@{self.revision}"


def merge_layers(layers):
    """Deep-merge ``funasr_models`` layers (profile -> role -> spec), later layers winning.

    + layers: the raw dicts, lowest precedence first

    **Example:**

    .. code:: python

        merge_layers([{"2pass": {"itn": {...}}}, {"2pass": {"itn": None}}])
        # -> {"2pass": {"itn": None}}
    """
    merged = {}
    for layer in layers:
        if not isinstance(layer, dict):
            raise ValueError(
                "must be a dict of profile -> role -> {'id': ..., 'revision': ...}, "
                f"got {type(layer).__name__}",
            )
        for profile, roles in layer.items():
            if not isinstance(roles, dict):
                raise ValueError(f"[{profile!r}] must be a dict of role -> model, got {roles!r}")
            merged.setdefault(profile, {}).update(roles)
    return merged


def check_model_set(profile, roles):
    """Validate the merged roles of ``profile`` and return ``{role: ModelSpec}``.

    + profile: a `funasr_fleet.catalog.Profile`
    + roles: role -> ``{"id", "revision"}`` or None (removed)

    Raises ``ValueError`` naming the role and the fix.
    """
    models = {}
    for role, spec in roles.items():
        if spec is None:
            continue
        if role not in profile.model_roles:
            raise ValueError(_unknown_role_message(profile, role))
        models[role] = _check_spec(profile.name, role, spec)
    missing = [role for role in profile.required_roles if role not in models]
    if missing:
        raise ValueError(
            f"profile {profile.name!r} needs models for {', '.join(missing)}; "
            f"add them under funasr_models[{profile.name!r}]",
        )
    return models


def _unknown_role_message(profile, role):
    return (
        f"unknown model role {role!r} for profile {profile.name!r}; "
        f"known roles: {', '.join(sorted(profile.model_roles))}"
    )


# The ASR repositories whose export carries the hotword embedding model (model_eb.onnx):
# FunASR's contextual (SeACo) Paraformer (model-repos.md 3.8).
_CONTEXTUAL = "contextual"


def hotword_path(models):
    """How the server applies the hotword file with these models: ``"lm"`` (the WFST
    decoder, which exists only with an LM loaded: websocket-server-2pass.cpp
    FunWfstDecoderLoadHwsRes), ``"embedding"`` (a contextual ASR model whose model_eb.onnx
    switches the hotword embedding on: paraformer.cpp InitHwCompiler), or None: then the
    server reads and logs the hotwords but nothing applies them.

    + models: ``{role: ModelSpec}`` of a host
    """
    if "lm" in models:
        return "lm"
    if "asr" in models and _CONTEXTUAL in models["asr"].id:
        return "embedding"
    return None


def hotwords_unusable_message(profile):
    """Why hotwords do nothing with a model set of ``profile`` without an LM or a
    contextual model, and the fix (for the validation message)."""
    contextual = ("" if profile.name != "offline" else
                  ", or the contextual ASR model {'asr': {'id': 'iic/speech_paraformer-large-"
                  "contextual_asr_nat-zh-cn-16k-common-vocab8404-onnx', 'revision': 'v2.0.5'}}")
    return (f"hotwords are set, but this host's {profile.name} model set cannot apply them: "
            "FunASR applies server hotwords only through the language model (WFST decoder) or a "
            f"contextual ASR model. Add funasr_models[{profile.name!r}]['lm'] = {{'id': "
            f"'iic/speech_ngram_lm_zh-cn-ai-wesp-fst', 'revision': 'v1.0.2'}}{contextual}; or "
            "remove funasr_hotwords for this host")


def _check_spec(profile_name, role, spec):
    where = f"funasr_models[{profile_name!r}][{role!r}]"
    if not isinstance(spec, dict) or set(spec) != {"id", "revision"}:
        raise ValueError(
            f"{where} = {spec!r}; write it as {{'id': 'owner/name', 'revision': 'v1.2.0'}}",
        )
    model_id, revision = spec["id"], spec["revision"]
    if not isinstance(model_id, str) or not _MODEL_ID.match(model_id):
        raise ValueError(f"{where} id {model_id!r} is not a ModelScope id 'owner/name'")
    if not isinstance(revision, str) or not _REVISION.match(revision) or revision == "master":
        raise ValueError(
            f"{where} revision {revision!r}: pin a tag or commit (e.g. 'v2.0.4': letters, digits, "
            "'.', '_', '-'), never master",
        )
    return ModelSpec(id=model_id, revision=revision)
