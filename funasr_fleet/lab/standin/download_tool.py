"""
runtime_sdk_download_tool.py as the servers run it with system(): ModelScope download
(never reachable here), and the export of a missing weights file. Citations use the short
source names listed in the package docstring (__init__.py).
"""

import os
import time

from .gpu import cuda_available
from .modelfiles import BLADE_MODEL_NAME, MODEL_NAME, QUANT_MODEL_NAME, TORCH_MODEL_NAME


def _writable(path):
    """Whether the process may create files in ``path`` (a read-only bind mount says no,
    even to root). Tests replace this to simulate a read-only mount."""
    return os.access(path, os.W_OK)


def _creatable(path):
    """Whether a directory can be made or written at ``path``."""
    while path and not os.path.exists(path):
        parent = os.path.dirname(path.rstrip("/"))
        if parent == path:
            break
        path = parent
    return os.path.isdir(path or ".") and _writable(path or ".")


def str2bool(value):
    """funasr/utils/type_utils.py str2bool: bool(strtobool(value))."""
    lowered = str(value).lower()
    if lowered in ("y", "yes", "t", "true", "on", "1"):
        return True
    if lowered in ("n", "no", "f", "false", "off", "0"):
        return False
    raise ValueError(f"invalid truth value {value!r}")


PLACEHOLDER = b"funasr-fleet stand-in export: NOT a model\n"


def download_tool(st, role, model_name, export_dir, revision, model_type="onnx",
                  quantize="False", export=True):
    """The server's ``system("python -m funasr.download.runtime_sdk_download_tool ...")``:
    returns its exit status (0 = success). Replays runtime_sdk_download_tool.py.

    + role: the server role (for the export's extra files only)
    + quantize: the --quantize string the server passes (2pass: always "True",
      funasr-wss-server-2pass.cpp:210; offline: the --*quant value, funasr-wss-server.cpp:212)
    + export: False for ITN and LM ("--export False", funasr-wss-server-2pass.cpp:379,467)
    """
    run = {"role": role, "model_name": model_name, "export_dir": export_dir, "revision": revision,
           "type": model_type, "quantize": quantize, "export": export, "status": None}
    st.tool_runs.append(run)
    try:
        quantize_flag = str2bool(quantize)  # runtime_sdk_download_tool.py:16 type=str2bool
    except ValueError:
        st.log("", "", "usage: runtime_sdk_download_tool.py [-h] --model-name MODEL_NAME ...")
        st.log("", "", "runtime_sdk_download_tool.py: error: argument --quantize: invalid str2bool "
                       f"value: '{quantize}'")
        run["status"] = 2
        return 2
    model_dir = model_name
    if not os.path.exists(model_name):  # runtime_sdk_download_tool.py:25
        # runtime_sdk_download_tool.py:26-36: snapshot_download(model, cache_dir=export_dir,
        # revision=...); on any error it executes `raise "<str>"`, a TypeError. The stand-in
        # has no network (and a non-writable cache dir fails as well).
        reason = ("no network in the funasr-fleet stand-in" if _creatable(export_dir)
                  else f"[Errno 13] Permission denied: '{export_dir}'")
        st.log("", "", f"(stand-in) snapshot_download('{model_name}', cache_dir='{export_dir}', "
                       f"revision='{revision}') failed: {reason}")
        st.log("", "", "TypeError: exceptions must derive from BaseException")
        run["status"] = 1
        return 1
    if export:  # runtime_sdk_download_tool.py:37-55
        model_file = os.path.join(model_dir, QUANT_MODEL_NAME if quantize_flag else MODEL_NAME)
        if model_type == "torchscript":
            model_file = os.path.join(model_dir, TORCH_MODEL_NAME)
        elif model_type == "bladedisc":
            model_file = os.path.join(model_dir, BLADE_MODEL_NAME)
        if not os.path.exists(model_file):
            st.log("", "", "model is not exist, begin to export " + model_file)
            status = _export(st, role, model_dir, model_type, quantize_flag)
            run["status"] = status
            return status
    run["status"] = 0
    return 0


def _export(st, role, model_dir, model_type, quantize):
    """AutoModel(model=<dir>).export(quantize, type) (runtime_sdk_download_tool.py:49-55)."""
    missing = [name for name in ("config.yaml", "model.pt")
               if not os.path.exists(os.path.join(model_dir, name))]
    if missing:  # AutoModel builds the PyTorch model from config.yaml + model.pt (-pytorch repos)
        st.log("", "", f"(stand-in) AutoModel('{model_dir}') failed: no {' or '.join(missing)} "
                       "(only the -pytorch model repositories can be exported)")
        return 1
    if model_type == "bladedisc" and not cuda_available(st.env):
        # export_utils.py (cd4c6485e):30-33. "torchscript" falls back to the CPU
        # (export_utils.py:26-29, auto_model.py:181-185), so it needs no GPU to export.
        st.log("", "", "AssertionError: Currently bladedisc optimization for FunASR only supports GPU")
        return 1
    if not _writable(model_dir):  # the export writes into the model directory itself
        st.log("", "", f"PermissionError: [Errno 13] Permission denied: '{model_dir}'")
        return 1
    time.sleep(float(st.env.get("FUNASR_STANDIN_EXPORT_SECONDS", "5")))
    if model_type == "torchscript":
        names = [TORCH_MODEL_NAME]
    elif model_type == "bladedisc":
        names = [BLADE_MODEL_NAME]
    else:  # export_utils.py _onnx: <name>.onnx, plus <name>_quant.onnx when quantising
        stems = ["model", "decoder"] if role == "online_asr" else ["model"]
        names = [f"{stem}{suffix}.onnx" for stem in stems
                 for suffix in ([""] + (["_quant"] if quantize else []))]
    for name in names:
        path = os.path.join(model_dir, name)
        with open(path, "wb") as out:
            out.write(PLACEHOLDER)
        st.exports.append(path)
    return 0
