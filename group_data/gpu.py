# GPU nodes: the offline GPU server (the only GPU image FunASR publishes) with the GPUs
# reserved through the NVIDIA Container Toolkit. Needs a working NVIDIA driver on the
# host (checked before anything changes; funasr-fleet does not install drivers).
funasr_profile = "offline-gpu"
funasr_version = "0.2.1"
