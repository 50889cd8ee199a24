"""
funasr-fleet's STAND-IN for the FunASR runtime servers. It is NOT FunASR and recognises
nothing: it exists because the real images and models cannot be fetched where the lab
runs. It is a REPLICA of the real C++ servers' DECISIONS (options, model checks, exits,
log lines, protocol replies), each citing the line of the real source it replays.

Sources (github.com/modelscope/FunASR; HEAD = 3c58cb56, 2026-08-21; the 0.1.13 2pass
image's WebSocket code is commit 1819303f5). Citations in its modules use these short names:
  funasr-wss-server-2pass.cpp   runtime/websocket/bin/funasr-wss-server-2pass.cpp (HEAD)
  funasr-wss-server.cpp         runtime/websocket/bin/funasr-wss-server.cpp (HEAD)
  websocket-server-2pass.cpp    runtime/websocket/bin/websocket-server-2pass.cpp @1819303f5
  websocket-server.cpp          runtime/websocket/bin/websocket-server.cpp (HEAD)
  funasrruntime.cpp             runtime/onnxruntime/src/funasrruntime.cpp @1819303f5
  tpass-stream.cpp, offline-stream.cpp, tpass-online-stream.cpp, paraformer.cpp,
  paraformer-torch.cpp, vocab.cpp, util.cpp, seg_dict.cpp, fsmn-vad.cpp,
  ct-transformer.cpp, itn-processor.cpp
                                runtime/onnxruntime/src/<name> (HEAD; identical at 1819303f5)
  com-define.h                  runtime/onnxruntime/include/com-define.h
  tclap/<name>                  runtime/onnxruntime/include/tclap/<name>
  runtime_sdk_download_tool.py  funasr/download/runtime_sdk_download_tool.py (HEAD)
  export_utils.py, auto_model.py funasr/utils/export_utils.py, funasr/auto/auto_model.py
                                as of cd4c6485e (2024-09-26, the GPU 0.2.x images)
The glog prefix of every replayed line names the real file:line that logs it.

What it does NOT do: load or run any model (file CONTENT is never parsed; an existing file
counts as a valid model), touch the network (the ModelScope download always fails), or
recognise speech: "recognition" is a loudness/variation heuristic that reports
"stand-in: N.N s of speech".

Environment:
  FUNASR_STANDIN_KIND=2pass|offline  which server (else from argv[0]: ...-2pass -> 2pass)
  FUNASR_STANDIN_LOAD_SECONDS        model load time after listen() (default 3)
  FUNASR_STANDIN_EXPORT_SECONDS      time the download tool's model export takes (default 5)
  FUNASR_STANDIN_GPU_BUILD=1         this is the GPU image's build (USE_GPU); CUDA exists only
                                     when NVIDIA_VISIBLE_DEVICES is set and not void/none
                                     (docker's nvidia device request sets it)
  FUNASR_STANDIN_FAIL=1              LAB-ONLY FAULT SWITCH, not a FunASR behaviour: accept
                                     connections but never answer (a broken release)
Runs on Debian's python3 with python3-websockets (>= 13), nothing else.

One job per module. The image runs the package through the launcher funasr_standin.py,
installed at the real binaries' paths (its name there picks the server: ...-2pass -> 2pass):
  options.py        both binaries' option tables (real defaults, declaring lines) and
                    TCLAP's parsing: a parse error exits 1, --help/--version exit 0
  modelfiles.py     com-define.h file names, the model names main() special-cases,
                    util.cpp PathAppend, access(F_OK)
  gpu.py            the GPU build (USE_GPU) and CUDA availability, from the environment
  glog.py           glog's line format; the location of the stand-in's own lines
  record.py         Startup, the record of one start (options, log lines, loaded roles),
                    and Exit, the real exit(status)
  download_tool.py  runtime_sdk_download_tool.py: the ModelScope download (always fails
                    here) and the export of a missing weights file
  model_check.py    main()'s model step per role before listen(): local dir or ModelScope
                    id, the download tool, the required file or exit(-1) (status 255)
  startup.py        main() before listen(): options, model step, hotword file, wss or ws;
                    `startup` is that plus the model loading, without sockets
  loading.py        WebSocketServer::initAsr: the files each loader opens, its log lines,
                    the missing files that exit(-1) after listen()
  recognition.py    the stand-in's speech heuristic and placeholder text (not FunASR)
  protocol.py       the WebSocket protocol: message fields, hotwords, when partial and
                    final replies are due, their exact JSON
  process.py        the process: which server, listen() before loading, serving, no
                    signal handlers
"""
