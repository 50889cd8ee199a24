"""
funasr-fleet's own operations, one module per domain (as ``pyinfra.operations``), for
what pyinfra's built-ins do with more remote commands or without idempotence
(``docker.compose`` always reports a change).

Each reads the host with one fact and yields commands only for what differs, so a
converged host costs one remote command per operation.
"""
