# funasr-fleet's FunASR STAND-IN image (not FunASR): the real image's layout, the
# stand-in server at the real binaries' paths, a self-signed pair where the real
# image ships one, and a shell as the default command (the server is started
# explicitly, as with the real image).
ARG BASE
FROM ${BASE}
LABEL org.opencontainers.image.title="funasr-fleet FunASR stand-in (not FunASR)" \
      org.opencontainers.image.description="Speaks the FunASR runtime protocol; recognises nothing"
# The stand-in is a Python package (funasr_fleet/lab/standin); its launcher is linked at the
# real binaries' paths, so argv[0] is the real name (it picks the server) and the launcher
# finds the package next to the link's target.
COPY standin /opt/funasr-fleet-standin/standin
COPY server.crt server.key /workspace/FunASR/runtime/ssl_key/
RUN chmod 755 /opt/funasr-fleet-standin/standin/funasr_standin.py \
    && mkdir -p /workspace/FunASR/runtime/websocket/build/bin \
    && ln -s /opt/funasr-fleet-standin/standin/funasr_standin.py \
             /workspace/FunASR/runtime/websocket/build/bin/funasr-wss-server-2pass \
    && ln -s /opt/funasr-fleet-standin/standin/funasr_standin.py \
             /workspace/FunASR/runtime/websocket/build/bin/funasr-wss-server \
    && mkdir -p /workspace/models /workspace/resources
WORKDIR /workspace/FunASR/runtime/websocket/build/bin
CMD ["/bin/bash"]
