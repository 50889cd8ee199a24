# funasr-fleet's FunASR STAND-IN image (not FunASR): the real image's layout, the
# stand-in server at the real binaries' paths, a self-signed pair where the real
# image ships one, and a shell as the default command (the server is started
# explicitly, as with the real image).
ARG BASE
FROM ${BASE}
LABEL org.opencontainers.image.title="funasr-fleet FunASR stand-in (not FunASR)" \
      org.opencontainers.image.description="Speaks the FunASR runtime protocol; recognises nothing"
COPY funasr_standin.py /workspace/FunASR/runtime/websocket/build/bin/funasr-wss-server-2pass
COPY funasr_standin.py /workspace/FunASR/runtime/websocket/build/bin/funasr-wss-server
COPY server.crt server.key /workspace/FunASR/runtime/ssl_key/
RUN chmod 755 /workspace/FunASR/runtime/websocket/build/bin/funasr-wss-server* \
    && mkdir -p /workspace/models /workspace/resources
WORKDIR /workspace/FunASR/runtime/websocket/build/bin
CMD ["/bin/bash"]
