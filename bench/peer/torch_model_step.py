#!/usr/bin/python3
"""Peer for bench/model_step_bench.cc: the same mini-batch Adam steps in PyTorch.

- MLP 784-512-512-10 (ReLU), batch 256 drawn from 60,000 random rows of 784 (the engine draws
  from Fashion-MNIST: the cost does not depend on the values);
- decoder-only transformer, vocabulary 5,000, context 64, d 128, 2 pre-norm blocks of 4 heads
  (causal attention with Q/K/V/O biases, GELU MLP of 512), final LayerNorm, untied head with
  bias, cross-entropy at every position, batch 32 windows of random token ids.
float32, denormals flushed like the engine, wall time.
    torch_model_step.py THREADS MIN_SECONDS
Prints "model=<mlp|transformer> ms_per_step=<x>".
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_setup  # pylint: disable=wrong-import-position



def mlp_step(torch):
    nn = torch.nn
    x = torch.rand(60000, 784)
    y = torch.randint(0, 10, (60000,))
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                          nn.Linear(512, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        idx = torch.randint(0, 60000, (256,))
        opt.zero_grad(set_to_none=False)
        torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    return step


def transformer_step(torch):
    nn, F = torch.nn, torch.nn.functional
    vocab, context, d, heads, layers, width, batch = 5000, 64, 128, 4, 2, 512, 32

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv, self.o = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.w1, self.w2 = nn.Linear(d, width), nn.Linear(width, d)
            self.register_buffer("mask", torch.full((context, context), float("-inf")).triu(1))

        def forward(self, h):
            b, t, _ = h.shape
            q, k, v = self.qkv(self.ln1(h)).view(b, t, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
            att = F.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // heads) + self.mask, dim=-1)
            h = h + self.o((att @ v).transpose(1, 2).reshape(b, t, d))
            return h + self.w2(F.gelu(self.w1(self.ln2(h))))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed, self.pos = nn.Embedding(vocab, d), nn.Parameter(torch.zeros(context, d))
            self.blocks = nn.Sequential(*[Block() for _ in range(layers)])
            self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, vocab)

        def forward(self, tokens):
            return self.head(self.ln(self.blocks(self.embed(tokens) + self.pos)))

    model = Model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    tokens = torch.randint(0, vocab, (batch, context + 1))

    def step():
        opt.zero_grad(set_to_none=False)
        logits = model(tokens[:, :-1])
        F.cross_entropy(logits.reshape(-1, vocab), tokens[:, 1:].reshape(-1)).backward()
        opt.step()
    return step


def main():
    threads, min_time = int(sys.argv[1]), float(sys.argv[2])
    torch = peer_setup.torch_with_threads(threads)
    torch.manual_seed(0)
    for name, make in (("mlp", mlp_step), ("transformer", transformer_step)):
        print(f"model={name} ms_per_step={1000 * peer_setup.timed(make(torch), min_time):.3f}", flush=True)


if __name__ == "__main__":
    main()
