"""
The GPU build and CUDA, as the stand-in models them from its environment. Citations use
the short source names listed in the package docstring (__init__.py).
"""


def gpu_build(env):
    """The GPU image's build (compiled with USE_GPU)."""
    return env.get("FUNASR_STANDIN_GPU_BUILD") == "1"


def cuda_available(env):
    """torch.cuda.is_available() / torch::cuda::is_available() in the stand-in: only the GPU
    build has CUDA, and only when docker's nvidia device request exposed GPUs."""
    devices = env.get("NVIDIA_VISIBLE_DEVICES", "")
    return gpu_build(env) and devices not in ("", "void", "none")
