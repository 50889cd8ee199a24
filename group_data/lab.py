# The local lab (python -m funasr_fleet.lab up): stand-ins for what is unreachable here.
# The FunASR image is the lab's stand-in (funasr_fleet/lab/standin), delivered air-gapped
# from the control node's Docker engine; models come from the lab's ModelScope stand-in.
# Cache paths and the hub's URL point into the lab: inventory/lab.py sets them.
funasr_image_registry = ""
funasr_image_repository = "funasr-fleet-lab/funasr-standin"
funasr_image_delivery = "tarball"
# Lab hosts are 2-core containers: keep the server small.
funasr_memory_limit = "1g"
funasr_start_timeout = 60
funasr_hotwords = {"阿里巴巴": 20, "语音识别": 15}
# The lab chooses plain ws, so tests and demos probe without a CA; the default (generated
# TLS from a fleet CA) is exercised by tests/lab/test_hardening.py.
funasr_tls = "off"
# Simulated GPU hosts: check the GPUs reach a container (the GPU stand-in image carries a
# SIMULATED nvidia-smi where NVIDIA's toolkit would mount the driver's).
nvidia_verify_in_container = True
