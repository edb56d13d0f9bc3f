"""What every peer does before it measures: fix PyTorch's thread count and say which BLAS runs
its matrix products, refusing the reference BLAS (a fresh Debian 12 machine's python3-torch
runs netlib's, ~25x slower: that would be no peer at all).

Usage, first thing in a peer script, before importing torch:
    import peer_setup
    torch = peer_setup.torch_with_threads(threads)
"""
import ctypes
import os
import sys
import time


_STATE = {}


def torch_with_threads(threads):
    """Imports torch with `threads` threads for its BLAS and its own kernels; prints one line
    "# peer: ..." naming PyTorch, the BLAS library file and its kernels."""
    if "torch" in sys.modules:
        sys.exit("peer_setup: import torch only through torch_with_threads (OpenBLAS reads its "
                 "thread count when it loads)")
    # Read by OpenBLAS (and OpenMP) when the library loads, so before the import.
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    # PyTorch's OpenMP workers spin while OpenBLAS's threads run a GEMM, on the same cores: with
    # the default (active) policy a 2-thread MLP step took 29 ms against 8 ms passive and 10 ms
    # on one thread. Passive waiting is the peer's best configuration, so it is the one measured.
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    import torch  # pylint: disable=import-outside-toplevel
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)  # As the engine does.
    probe = torch.ones(256, 256)
    probe @ probe  # Loads the BLAS.
    with open("/proc/self/maps", encoding="ascii", errors="replace") as maps:
        paths = sorted({line.split()[-1] for line in maps
                        if "/" in line and ("blas" in line.lower() or "blis" in line.lower())})
    paths = [p for p in paths if ".so" in p]
    if not paths:
        sys.exit("peer_setup: found no BLAS library mapped into this process")
    real = os.path.realpath(paths[0])
    if "/blas/" in real or "netlib" in real:
        sys.exit(f"peer_setup: PyTorch runs the reference BLAS ({real}), 25x slower than an "
                 "optimized one; install OpenBLAS for it: apt-get install libopenblas0-pthread")
    kernels = "unknown kernels"
    if "openblas" in real:
        lib = ctypes.CDLL(real)
        lib.openblas_get_config.restype = ctypes.c_char_p
        lib.openblas_get_corename.restype = ctypes.c_char_p
        config = lib.openblas_get_config().decode()
        kernels = (f"{config.split()[1] if config.startswith('OpenBLAS') else config}, "
                   f"{lib.openblas_get_corename().decode()} kernels, "
                   f"{lib.openblas_get_num_threads()} thread(s)")
        if lib.openblas_get_num_threads() != threads:
            sys.exit(f"peer_setup: OpenBLAS runs {lib.openblas_get_num_threads()} threads, "
                     f"not {threads}")
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    capability = [line.split(":")[1].strip() for line in torch.__config__.show().splitlines()
                  if "CPU capability usage" in line]
    print(f"# peer: PyTorch {torch.__version__} ({(capability or ['?'])[0]} kernels of its own), "
          f"BLAS {real} ({kernels})"
          + (f", OPENBLAS_CORETYPE={coretype}" if coretype else ""), flush=True)
    _STATE.update(torch=torch, threads=threads)
    return torch


def _seconds_per_step(step, min_time, warmup):
    for _ in range(warmup):
        step()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_time:
        step()
        steps += 1
    return (time.perf_counter() - start) / steps


def timed(step, min_time, warmup=2):
    """Seconds per call of step(), wall clock, over at least min_time seconds after warmup calls.
    With more than one thread, the faster of two configurations: PyTorch's own kernels on every
    thread, or on one thread with the BLAS on every thread (as optbench runs); OpenBLAS's
    threads stay as set at import. The peer gets its best."""
    torch, threads = _STATE["torch"], _STATE["threads"]
    best = _seconds_per_step(step, min_time, warmup)
    if threads > 1:
        torch.set_num_threads(1)
        best = min(best, _seconds_per_step(step, min_time, warmup))
        torch.set_num_threads(threads)
    return best
