"""
The named deploys deploy.py and rollback.py are made of, one module per concern: docker
(install_docker before the waves, the engine changes in a host's wave), firewall
(service_firewall, its ruleset in the wave), service (funasr_service: staging, and the
release's control-node inputs), rollout (funasr_release and funasr_rollback: waves,
drains, health gates; load_balancer).

Each takes the host's validated `Settings` (and what the control node prepared for
it) and calls operations; none reads host data itself.
"""
