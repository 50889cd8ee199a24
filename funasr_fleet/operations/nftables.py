"""Manage nftables tables (the service firewall), undone when they cut off the probe."""

from io import BytesIO

from pyinfra import host
from pyinfra.api import FunctionCommand, StringCommand, operation
from pyinfra.api.command import FileUploadCommand, QuoteString

from ..digest import sha256_bytes
from ..facts.batch import read, reads
from ..facts.nftables import NftTableDigest
from ..probe import reaches
from .files import show_diff


@reads(lambda path, table, **_: [(NftTableDigest, {"table": table, "path": path})])
@operation()
def nft_table_loaded(path, table, text, config_sha256, probe_urls=()):
    """
    Install and load an nftables file that replaces one table, when the live table or
    the file is not this one; undo it on the spot when it cuts the control node off.

    + path: where the ruleset file lives on the host (a boot unit loads it)
    + table: the table the file replaces, ``"FAMILY NAME"``, e.g. ``"inet funasr_fleet"``
    + text: the file's content; it must replace only its own table: ``table FAMILY NAME
      {}`` (created if missing), ``delete table FAMILY NAME``, then the definition
    + config_sha256: the digest the file gives its table as comment
      (``comment "funasr-fleet config-sha256 <hex>"``, see `funasr_fleet.render.render_firewall`)
    + probe_urls: the servers' probe URLs; after loading, each must still be reached from
      this control node (`funasr_fleet.probe.reaches`)

    The new file is loaded from beside the live one: ``nft -f`` applies it in one
    transaction (the old rules stay until the new ones are in; no other table, such as
    Docker's iptables-nft rules, is touched). When a probe URL is then dropped on the way,
    the table as it was is loaded back (or deleted, when there was none), the file is not
    installed, and the host fails with one line: the health gate could never pass.
    Otherwise the file replaces the live one. One fact reads the live table's digest and
    the file's: a converged host costs one command.

    **Example:**

    .. code:: python

        nft_table_loaded(path="/etc/funasr-fleet/firewall.nft", table="inet funasr_fleet",
                         text=ruleset, config_sha256=digest, probe_urls=["ws://asr-1:10095"])
    """
    state = read(NftTableDigest, table=table, path=path)
    in_file = state["file"] == sha256_bytes(text.encode("utf-8"))
    if state["live"] == config_sha256 and in_file:
        return
    if state["live"] == config_sha256:  # loaded, but the boot file differs: the file only
        show_diff(path, text.encode("utf-8"))
        yield FileUploadCommand(BytesIO(text.encode("utf-8")), f"{path}.funasr-fleet-new")
        yield StringCommand("chmod", "644", QuoteString(f"{path}.funasr-fleet-new"), "&&", "mv", "-f",
                            QuoteString(f"{path}.funasr-fleet-new"), QuoteString(path))
        return
    show_diff(path, text.encode("utf-8"))
    yield StringCommand("mkdir", "-p", "-m", "755", QuoteString(path.rsplit("/", 1)[0]))
    yield FileUploadCommand(BytesIO(text.encode("utf-8")), f"{path}.funasr-fleet-new")
    yield FunctionCommand(_ruleset_loaded, (path, table, tuple(probe_urls)), {})


def _ruleset_loaded(state, host, path, table, probe_urls):
    """FunctionCommand body of `nft_table_loaded`: keep the live table, load the new
    file, check the probe still gets through, then install the file or undo the load."""
    new, kept = QuoteString(f"{path}.funasr-fleet-new"), QuoteString(f"{path}.funasr-fleet-live")
    family_name = table.split()
    had, _ = host.run_shell_command(StringCommand(
        "nft", "list", "table", *family_name, ">", kept, "2>/dev/null"))
    loaded, output = host.run_shell_command(StringCommand("nft", "-f", new))
    if not loaded:
        host.run_shell_command(StringCommand("rm", "-f", new, kept))
        host.log_styled(f"nft refused the new ruleset ({' '.join(output.stderr_lines)[-300:]}); "
                        f"table {table} stays as it was. No further wave starts.", fg="red")
        return False
    blocked = [url for url in probe_urls if not reaches(url)]
    if not blocked:
        host.run_shell_command(StringCommand("chmod", "644", new, "&&", "mv", "-f", new, QuoteString(path),
                                             "&&", "rm", "-f", kept))
        return True
    undo = (StringCommand("(", "echo", QuoteString(f"table {table} {{}}"), ";", "echo",
                          QuoteString(f"delete table {table}"), ";", "cat", kept, ")", "|", "nft", "-f", "-")
            if had else StringCommand("nft", "delete", "table", *family_name))
    undone, _ = host.run_shell_command(undo)
    host.run_shell_command(StringCommand("rm", "-f", new, kept))
    host.log_styled(f"the new firewall (funasr_allow_from) drops this control node's probe to "
                    f"{', '.join(blocked)}: table {table} was put back as it was"
                    f"{'' if undone else ' (FAILED: check nft list ruleset)'}. Allow the control "
                    "node's address in funasr_allow_from. No further wave starts.", fg="red")
    return False
