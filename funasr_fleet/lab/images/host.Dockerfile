# A lab host: Debian trixie with systemd as PID 1 and sshd, like a fresh server.
# Docker is NOT installed: the deploy installs it over SSH.
ARG BASE
FROM ${BASE}
ARG MIRROR
RUN printf 'Types: deb\nURIs: %s\nSuites: trixie trixie-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$MIRROR" \
        > /etc/apt/sources.list.d/debian.sources \
    && rm -f /etc/apt/sources.list \
    && apt-get update -q \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        systemd systemd-sysv dbus openssh-server sudo iproute2 curl gpg ca-certificates rsync procps \
    && apt-get clean && rm -rf /var/lib/apt/lists/* \
    && rm -f /etc/ssh/ssh_host_* \
    && printf 'PermitRootLogin prohibit-password\nPasswordAuthentication no\n' > /etc/ssh/sshd_config.d/lab.conf \
    && systemctl mask systemd-modules-load.service getty@tty1.service \
    && systemctl enable ssh
STOPSIGNAL SIGRTMIN+3
CMD ["/lib/systemd/systemd"]
