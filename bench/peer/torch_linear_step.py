#!/usr/bin/python3
"""Peer for bench/linear_step_bench.cc: the same full-batch softmax-regression step in PyTorch.

D1 data of size m (n = m 2^m, d = (m+1) 2^m, c = 2^m - 1; inputs Uniform[0,1)), float32, zero
init, one thread (the engine is single-threaded by design: one job per core), denormals flushed
like the engine. Prints "m=<m> ms_per_step=<x>" for each m.
"""
import sys
import time

import torch


def d1(m):
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
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    min_time = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    for m in (7, 8):
        x, y, c = d1(m)
        model = torch.nn.Linear(x.shape[1], c)
        torch.nn.init.zeros_(model.weight)
        torch.nn.init.zeros_(model.bias)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step():
            opt.zero_grad(set_to_none=False)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()

        for _ in range(3):
            step()
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < min_time:
            step()
            steps += 1
        print(f"m={m} ms_per_step={1000 * (time.perf_counter() - start) / steps:.3f}", flush=True)


if __name__ == "__main__":
    main()
