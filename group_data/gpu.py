# GPU nodes. The GPU profile (offline GPU image, NVIDIA Container Toolkit, device
# reservations) is not built yet: until then GPU nodes run the offline CPU server.
funasr_profile = "offline"
funasr_version = "0.4.7"
