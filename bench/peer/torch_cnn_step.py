#!/usr/bin/python3
"""Peer for bench/cnn_step_bench.cc: the same full-batch CNN step in PyTorch.

Paper 1's CNN (conv 5x5 pad 2 -> ReLU -> maxpool 2, twice, -> flatten -> Linear to 10 classes) on
2,000 random 28 x 28 images in one chunk: zero_grad, forward, cross-entropy, backward (no
optimizer step, as the engine's bench). float32, denormals flushed like the engine. The input
needs no gradient, so the first convolution computes only its weight gradient, as in the engine.
Wall time.
    torch_cnn_step.py THREADS MIN_SECONDS
Prints "c1=<c1> c2=<c2> ms_per_step=<x>" for each width pair.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_setup  # pylint: disable=wrong-import-position

ROWS = 2000
WIDTHS = ((8, 16), (32, 64))


def main():
    threads, min_time = int(sys.argv[1]), float(sys.argv[2])
    torch = peer_setup.torch_with_threads(threads)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(ROWS, 1, 28, 28, generator=g)
    y = torch.arange(ROWS) % 10
    for c1, c2 in WIDTHS:
        torch.manual_seed(0)
        model = torch.nn.Sequential(
            torch.nn.Conv2d(1, c1, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(c1, c2, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Flatten(), torch.nn.Linear(c2 * 7 * 7, 10))

        def step():
            model.zero_grad(set_to_none=False)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()

        ms = 1000 * peer_setup.timed(step, min_time)
        print(f"c1={c1} c2={c2} ms_per_step={ms:.3f}", flush=True)


if __name__ == "__main__":
    main()
