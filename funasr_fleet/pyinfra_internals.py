"""
What funasr-fleet reads from pyinfra that pyinfra does not publish. Keep it here, small,
and re-check it when pyinfra is upgraded (tests/unit/test_dry_run.py runs the real CLI).
"""

import sys


def dry_run():
    """True while the pyinfra CLI prepares a ``--dry`` run; False anywhere else (tests, API).

    pyinfra (checked against 3.10) has no public flag for ``--dry``: the CLI's click command
    (``pyinfra_cli.cli.cli``) gets it as its ``dry`` parameter, prepares every host and then
    stops before executing. Its click context holds ``params["dry"]``. But deploy files are
    prepared in one gevent greenlet per host (``pyinfra_cli.util._parallel_load_hosts``),
    and pyinfra_cli's gevent monkey patching makes click's context stack (a
    ``threading.local``) greenlet-local, so ``click.get_current_context()`` is None there.
    The context is found instead on the stack of the greenlet that runs the command (the
    root greenlet, waiting for the hosts to be prepared): the frame of click's
    ``Command.invoke`` holds it as its local ``ctx``.
    """
    # Not imported here: importing pyinfra_cli monkey-patches the whole process with gevent.
    command_module = sys.modules.get("pyinfra_cli.cli")
    if command_module is None:
        return False
    import click

    cli = command_module.cli
    context = click.get_current_context(silent=True)
    if context is None:
        context = next((ctx for ctx in map(_click_context, _frames()) if ctx and ctx.command is cli),
                       None)
    return bool(context is not None and context.command is cli and context.params.get("dry"))


def _click_context(frame):
    import click

    context = frame.f_locals.get("ctx")
    return context if isinstance(context, click.Context) else None


def _frames():
    """The frames of this greenlet's stack, then those of the greenlets it runs under."""
    frame = sys._getframe(1)
    while frame is not None:
        yield frame
        frame = frame.f_back
    try:
        import greenlet
    except ImportError:
        return
    parent = greenlet.getcurrent().parent
    while parent is not None:
        frame = parent.gr_frame
        while frame is not None:
            yield frame
            frame = frame.f_back
        parent = parent.parent
