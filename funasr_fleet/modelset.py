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
    if role == "lm":
        return (
            f"profile {profile.name!r} cannot use a language model: its server "
            f"({profile.binary}) has no --lm-dir; LM models belong to profile 'offline'. "
            f"Remove funasr_models[{profile.name!r}]['lm'] or set funasr_profile = 'offline'"
        )
    return (
        f"unknown model role {role!r} for profile {profile.name!r}; "
        f"known roles: {', '.join(sorted(profile.model_roles))}"
    )


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
