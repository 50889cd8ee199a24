"""Read the host itself: who the deploy acts as there, and whether it can use sudo."""

from pyinfra.api import FactBase

# What sudo says when it would have to ask for a password (-n forbids it): sudo, and
# sudo-rs (the default sudo of Ubuntu 25.10+). A user sudo does not allow at all gets the
# same line: sudo authenticates before it looks the user up in sudoers.
SUDO_WANTS_A_PASSWORD = ("a password is required", "interactive authentication is required")


class HostAccess(FactBase):
    """
    Who the deploy acts as on the host, and whether that user can run ``sudo`` without
    a password: read before anything else is read there with sudo, so that a host the
    run cannot change is refused before anything changes.

    + sudo: also try ``sudo -n true`` (the run uses sudo on this host)

    Read it without pyinfra's sudo (``_sudo=False``): the command tries sudo itself, so
    a sudo that wants a password is reported here, where pyinfra's own sudo would stop
    the run to prompt for one.

    Returns ``{"user": str, "uid": int or None, "sudo": str or None, "sudo_error": str}``:
    ``sudo`` is None when not tried, else ``"ok"``, ``"missing"`` (not installed),
    ``"password"`` (it wants one, or does not allow the user) or ``"failed"``
    (``sudo_error`` has sudo's first line).

    .. code:: python

        host.get_fact(HostAccess, sudo=True, _sudo=False)
    """

    def command(self, sudo):
        check = ("; if ! command -v sudo >/dev/null 2>&1; then echo sudo=missing; "
                 "elif out=$(sudo -n true 2>&1); then echo sudo=ok; "
                 "else echo \"sudo=failed $(printf '%s\\n' \"$out\" | head -n 1)\"; fi"
                 if sudo else "")
        return "echo \"user=$(id -un)\"; echo \"uid=$(id -u)\"" + check

    def process(self, output):
        access = self.default()
        for line in output:
            key, _, value = line.partition("=")
            if key in ("user", "uid"):
                access[key] = value.strip()
            elif key == "sudo":
                status, _, error = value.partition(" ")
                access["sudo"], access["sudo_error"] = sudo_status(status, error.strip())
        access["uid"] = int(access["uid"]) if str(access["uid"]).isdigit() else None
        return access

    def default(self):
        return {"user": "", "uid": None, "sudo": None, "sudo_error": ""}


def sudo_status(status, error):
    """``(status, error)`` of the command's ``sudo=`` line: a failure that asks for a
    password is ``"password"``; any other failure keeps sudo's line."""
    if status == "failed" and any(words in error for words in SUDO_WANTS_A_PASSWORD):
        return "password", error
    if status in ("ok", "missing", "failed"):
        return status, error
    return "failed", f"unexpected sudo check output: {status} {error}".strip()
