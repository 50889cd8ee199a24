"""
Facts funasr-fleet reads from hosts, one module per domain (as ``pyinfra.facts``). One
remote command each; a missing binary or path gives the empty value, never an error.
"""

MISSING = None
