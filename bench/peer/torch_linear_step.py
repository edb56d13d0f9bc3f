#!/usr/bin/python3
"""Peer for bench/linear_step_bench.cc: the same full-batch softmax-regression step in PyTorch.

D1 data of size m (n = m 2^m, d = (m+1) 2^m, c = 2^m - 1; inputs Uniform[0,1)), float32, zero
init, denormals flushed like the engine; then the same-run sgemm peak (2048^3). Wall time.
    torch_linear_step.py THREADS MIN_SECONDS M...
Prints "m=<m> ms_per_step=<x>" for each m, then "sgemm_gflops=<x>".
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_setup  # pylint: disable=wrong-import-position


def d1(torch, m):
    labels = []
    cls = 0
    for i in range(m):
        for _ in range(2 ** i):
            labels += [cls] * (2 ** (m - i))
            cls += 1
    n, d = m * 2 ** m, (m + 1) * 2 ** m
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, d, generator=g), torch.tensor(labels), cls



def main():
    threads, min_time = int(sys.argv[1]), float(sys.argv[2])
    torch = peer_setup.torch_with_threads(threads)
    for m in map(int, sys.argv[3:]):
        x, y, c = d1(torch, m)
        model = torch.nn.Linear(x.shape[1], c)
        torch.nn.init.zeros_(model.weight)
        torch.nn.init.zeros_(model.bias)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step():
            opt.zero_grad(set_to_none=False)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()

        print(f"m={m} ms_per_step={1000 * peer_setup.timed(step, min_time):.3f}", flush=True)
    a, b = torch.rand(2048, 2048), torch.rand(2048, 2048)
    seconds = peer_setup.timed(lambda: a @ b, min_time)
    print(f"sgemm_gflops={2 * 2048 ** 3 / seconds / 1e9:.1f}", flush=True)


if __name__ == "__main__":
    main()
