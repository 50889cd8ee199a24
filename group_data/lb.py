# Load balancer hosts (the inventory group funasr_lb_group names, "lb" by default): nginx
# stream in front of the servers whose funasr_profile equals this group's. No FunASR
# server, Docker or models on these hosts.
funasr_profile = "2pass"
