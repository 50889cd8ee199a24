# CPU nodes: the realtime 2pass server (online CPU image). Overrides group_data/all.py.
funasr_profile = "2pass"
funasr_version = "0.1.13"
