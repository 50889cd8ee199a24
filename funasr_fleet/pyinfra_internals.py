"""
What funasr-fleet reads from pyinfra that pyinfra does not publish, in this one module.
Each use below was checked against pyinfra 3.10.0 (pyproject.toml pins it); re-check
each when pyinfra is upgraded. Why each is needed:

- `dry_run`: pyinfra has no public flag for ``--dry``, and deploy.py must not fetch
  models, save images or issue certificates on the control node in a dry run. The CLI's
  command line (``sys.argv``) is read; tests/unit/test_dry_run.py runs the real CLI.
- `operation_hash`, `operation_meta`: a load balancer drains, in each wave, the servers
  whose restart check changed on *other* hosts (`deploys.rollout.changed_on`). pyinfra
  gives an operation's outcome only to the host that ran it (``OperationMeta``), so the
  other hosts' copies are found by the operation's hash (``OperationMeta._hash``, the
  same on every host for one call site) in pyinfra's per-host state (``State.ops``).
  tests/unit/test_waves.py checks the op order and conditions this relies on.
- `current_host`, `run_stage`, `host_changed`: a converge that changes nothing reads
  each host's facts in one command (`facts.batch`), and a batch answers later reads only
  while nothing has changed on the host. pyinfra's ``host`` is a context proxy (the
  batch is kept per real ``Host``: ``ctx_host.get()``); the run stage is
  ``State.current_stage`` (prepare and execute read separately); whether an operation
  ran commands on a host is its ``OperationMeta.executed`` in ``State.ops``.
- `size_parallel_to_fleet`: pyinfra runs an operation on ``--parallel`` hosts at a time
  and, unless told, sizes that to 20 per CPU core (40 on a 2-core control node): a
  1,000-host no-op would wait for 25 batches of its fact read and of each gate. When the
  operator did not choose (``--parallel`` or config.py), the run is sized to the fleet
  (up to what the open-files limit allows, 3 per host as pyinfra reckons, the soft
  limit raised to the hard one first): ``Config.PARALLEL`` (each host's deploy runs
  with a copy, read by each operation's ``_parallel``) and the greenlet pools
  ``State.pool``/``State.fact_pool`` (sized from it at ``State.init``).
- `use_fast_pyinfra`: pyinfra identifies each operation call by the line
  numbers of the calling frames (``pyinfra.api.util.get_operation_order_from_stack``),
  which it reads with ``inspect.stack()``: that builds every frame's source context,
  reading and scanning the source files, about 1 ms per frame, 90 ms per host of a
  converge. `operation_order` computes the same list from the frames themselves (the
  line ``inspect.getframeinfo`` gives, without the source); pyinfra's operation
  module calls it instead (``pyinfra.api.operation.get_operation_order_from_stack``).
  tests/unit/test_pyinfra_internals.py checks both give the same lists. Likewise each
  operation call lists pyinfra's global arguments (``all_global_arguments``), resolving
  the type hints of their TypedDicts every time (1 ms), and each inventory host lists
  the installed connectors (``get_all_connectors``: a scan of every installed package's
  entry points, 5 ms, twice per host); both are fixed once pyinfra is imported, so they
  are computed once (``pyinfra.api.arguments``, ``pyinfra.api.connectors``,
  ``pyinfra.api.inventory``). pyinfra builds the inventory before it runs deploy.py:
  the repository's config.py, which pyinfra runs first, calls `use_fast_pyinfra` too.
- `ssh_exec`: `operations.docker.image_loaded` streams an image tarball of gigabytes
  into ``docker load``. pyinfra's ``run_shell_command`` sends stdin as text lines (a
  newline added to each: binary data would be altered) and ``put_file`` writes the file
  to the host's disk first, so the command runs on the SSH connector's paramiko client
  (``SSHConnector.client``), built like pyinfra's own commands
  (``make_unix_command_for_host`` with the running operation's connector arguments,
  ``Host.current_op_global_arguments``: sudo, environment, shell).
- `uses_ssh`, `connector_can_rsync`: models are copied with rsync over the system ssh
  client, which works only for hosts reached with pyinfra's SSH connector and a key ssh
  can use unattended (``SSHConnector``, ``check_can_rsync``).
- `run_local`: that rsync runs on the control node as pyinfra's connectors run local
  commands (``run_local_process``: output printed with the host's prefix under ``-v``).
- `pyinfra_data_keys`: host data keys funasr-fleet does not know are refused (a typo
  must not pass silently), but pyinfra's own are allowed (``_sudo``, ``ssh_port``, ...).
  pyinfra publishes no list of them; it keeps its global arguments in
  ``pyinfra.api.arguments.all_global_arguments`` and each connector's keys in its
  ``data_meta`` (``pyinfra.api.connectors.get_all_connectors``).
- `uses_sudo`: a host that must run the deploy's commands with sudo is checked first
  (`facts.server.HostAccess`, read without pyinfra's sudo, which would stop the run to
  prompt for a password). Whether a run uses sudo on a host is decided by pyinfra from
  the host's data (``_sudo``) and the command line (``--sudo``); pyinfra resolves them
  for an operation in ``pyinfra.api.arguments.pop_global_arguments`` and publishes no
  other way, so that is called with no operation arguments.
- `load_inventory`: the CLI commands (``python -m funasr_fleet status ...``) load an
  inventory file exactly as the pyinfra CLI does (group_data, inventory functions);
  pyinfra publishes no loader, so pyinfra_cli's is used (``make_inventory_from_files``).
"""

import functools
import inspect
import os
import resource
import sys
import warnings
from multiprocessing import cpu_count

import pyinfra
from gevent.pool import Pool
from pyinfra.api import State
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS, all_global_arguments, pop_global_arguments
from pyinfra.api.connectors import get_all_connectors
from pyinfra.connectors.ssh import SSHConnector
from pyinfra.connectors.util import make_unix_command_for_host, run_local_process
from pyinfra.api.state import MAX_PARALLEL, StateStage
from pyinfra.api.util import PYINFRA_INSTALL_DIR
from pyinfra.context import ctx_host, ctx_state

from .errors import SettingsError


def dry_run():
    """True while the pyinfra CLI prepares a ``--dry`` run; False anywhere else (tests, API).

    pyinfra (checked against 3.10) has no public flag for ``--dry``: its CLI prepares
    every host (running deploy.py) and only then stops before executing. The deploy file
    runs inside that CLI process, so its command line says whether the run is dry. (The
    CLI's click context, which holds the parsed flag, is not reachable from deploy code:
    hosts are prepared in gevent greenlets, where click's context stack is empty.)
    """
    if "pyinfra_cli.cli" not in sys.modules:  # not the pyinfra CLI (tests, the API)
        return False
    args = sys.argv[1:]
    return "--dry" in (args[:args.index("--")] if "--" in args else args)


def operation_hash(operation):
    """pyinfra's identity of an operation: what a call to it returned (``OperationMeta``)
    names the same operation on every host that calls it from the same place."""
    return operation._hash


def operation_meta(state, host, op_hash):
    """``host``'s ``OperationMeta`` of the operation ``op_hash`` (`operation_hash`), or None
    when ``host`` does not carry that operation."""
    data = state.ops.get(host, {}).get(op_hash)
    return data.operation_meta if data else None


def frame_line(frame):
    """The line ``inspect.getframeinfo(frame)`` names: where the frame's current
    instruction starts (Python 3.11+), else the frame's line number."""
    position = getattr(inspect, "_get_code_position", None)
    line = position(frame.f_code, frame.f_lasti)[0] if position else None
    return frame.f_lineno if line is None else line


def operation_order(state):
    """What pyinfra's ``get_operation_order_from_stack(state)`` returns, read from the
    frames' code and line without building their source context (see the module doc)."""
    frames, frame = [], sys._getframe(1)
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    # Outermost first; last, pyinfra's own frame (None here), which it always skips.
    frames = [*reversed(frames), None]
    start = 0
    if state.current_deploy_filename:
        for start, frame in enumerate(frames):
            if frame is not None and frame.f_code.co_filename == state.current_deploy_filename:
                break
    lines = [state.current_op_file_number] if pyinfra.is_cli else []
    install_dir = PYINFRA_INSTALL_DIR
    lines += [frame_line(frame) for frame in frames[start:]
              if frame is not None and not frame.f_code.co_filename.startswith(install_dir)]
    return lines


def use_fast_pyinfra():
    """Make pyinfra's operations read their call site with `operation_order`, and compute
    its global argument list and its connector list once. (Modules by their names:
    ``pyinfra.api.operation`` is also the decorator's name.)"""
    sys.modules["pyinfra.api.operation"].get_operation_order_from_stack = operation_order
    for module, name in (("pyinfra.api.arguments", "all_global_arguments"),
                         ("pyinfra.api.connectors", "get_all_connectors"),
                         ("pyinfra.api.inventory", "get_all_connectors")):
        function = getattr(sys.modules[module], name)
        if not hasattr(function, "cache_info"):
            setattr(sys.modules[module], name, functools.cache(function))


def current_host():
    """The `Host` pyinfra is preparing or executing now (not its context proxy)."""
    return ctx_host.get()


def run_stage(state):
    """``"prepare"`` or ``"execute"``: the stage of the pyinfra run ``state`` is in."""
    return "execute" if state.current_stage >= StateStage.Execute else "prepare"


def host_changed(state, host):
    """Whether an operation has run commands on ``host`` so far in this run (whether
    they succeeded or not)."""
    return any(data.operation_meta.executed for data in state.ops.get(host, {}).values())


def open_files_parallel():
    """Hosts at once the open-files limit allows (3 files per host, 10 spare), with the
    soft limit raised to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        wanted = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    return max(1, (soft - 10) // 3)


def size_parallel_to_fleet(state, config):
    """Run each operation on every host of the run at once (as the open-files limit
    allows) unless the operator chose ``--parallel`` (or ``PARALLEL`` in config.py);
    ``config`` is the current host's config (pyinfra gives each host's deploy a copy).
    Returns the number of hosts at once."""
    hosts = len(state.inventory)
    if "--parallel" in sys.argv or state.config.PARALLEL != min(cpu_count() * 20, hosts, MAX_PARALLEL):
        return config.PARALLEL
    size = min(hosts, open_files_parallel())
    if state.pool.size < size:
        state.pool, state.fact_pool = Pool(size), Pool(size)
    config.PARALLEL = size
    return size


# Connector arguments pyinfra's SSH connector takes off before it builds a command.
SSH_CONTROL_ARGUMENTS = ("_get_pty", "_timeout", "_stdin", "_success_exit_codes")


def ssh_exec(state, host, command):
    """Start ``command`` (a ``StringCommand``) on ``host`` over its SSH connection, as
    pyinfra would run it (``_sudo`` and the like), and return paramiko's ``(stdin,
    stdout, stderr)`` channel files, to stream bytes through; None when the host is not
    reached over SSH (``@local``, ``@docker``, a test's fake host)."""
    client = getattr(host.connector, "client", None)
    if client is None:
        return None
    # The running operation's arguments (pyinfra sets them while it executes one), else
    # the host's: _sudo and the like, as pyinfra's own commands get them.
    arguments = host.current_op_global_arguments or pop_global_arguments(state, host, {})[0]
    # (less the ones the SSH connector handles itself, as its run_shell_command does)
    connector_arguments = {key: value for key, value in arguments.items()
                           if key in CONNECTOR_ARGUMENT_KEYS and key not in SSH_CONTROL_ARGUMENTS}
    return client.exec_command(make_unix_command_for_host(
        state, host, command, **connector_arguments).get_raw_value())


def uses_ssh(host):
    """Whether ``host`` is reached with pyinfra's SSH connector."""
    return isinstance(host.connector, SSHConnector)


def connector_can_rsync(host):
    """Whether ``host``'s connector lets rsync reach it (over SSH: no password and no
    passphrase-protected key, which ssh in batch mode cannot type)."""
    try:
        host.connector.check_can_rsync()
    except NotImplementedError:
        return False
    return True


def run_local(command, print_output, print_prefix):
    """Run the shell ``command`` on the control node as pyinfra's connectors do; returns
    ``(exit status, output)`` (``output.stderr``: its standard error as text)."""
    return run_local_process(command, print_output=print_output, print_prefix=print_prefix)


def uses_sudo(host):
    """Whether pyinfra runs this run's commands on ``host`` with sudo (host data
    ``_sudo``, else the command line's ``--sudo``)."""
    arguments, _ = pop_global_arguments(host.state, host, {})
    return bool(arguments.get("_sudo"))


@functools.cache
def pyinfra_data_keys():
    """The host data keys pyinfra itself reads: global arguments and connector data
    (read once: pyinfra computes its arguments' types each time, 10 ms a call)."""
    keys = {name for name, _ in all_global_arguments()}
    for connector in get_all_connectors().values():
        keys.update(getattr(connector, "data_meta", {}))
    return frozenset(keys)


def load_inventory(path):
    """Build the pyinfra Inventory of an inventory file, with group_data from the current dir.

    + path: inventory file, e.g. ``inventory/prod.py``
    """
    if not os.path.isfile(path):
        raise SettingsError(f"inventory {path}: no such file; give the path of a pyinfra inventory "
                            "file, e.g. inventory/prod.py, from the directory that holds group_data/")
    with warnings.catch_warnings():  # pyinfra_cli patches with gevent when imported
        warnings.simplefilter("ignore")
        from pyinfra_cli.inventory import make_inventory_from_files

    with ctx_state.use(State()):
        return make_inventory_from_files(path, cwd=os.getcwd())
