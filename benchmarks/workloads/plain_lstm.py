"""Benchmark workload: an LSTM written with plain tensor ops, unrolled over 50 time steps.

Many small operations per training step (about 750: a dozen per time step and cell,
then the head and the loss), the shape where recording's per-operation cost dominates
rather than the arithmetic. A character-level next-token task on a fixed random text,
Adam, deterministic.

Usage: python plain_lstm.py [STEPS]   (default 30)
Prints LOOP_SECONDS=<float> (the training loop alone) and the final loss.
"""

import sys
import time

import torch
import torch.nn.functional as F

STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 30
VOCAB, EMBED, HIDDEN, SEQ, BATCH = 27, 16, 32, 50, 8

torch.manual_seed(0)
torch.set_num_threads(1)


class Cell(torch.nn.Module):
    def __init__(self, inputs, hidden):
        super().__init__()
        self.wx = torch.nn.Parameter(torch.randn(inputs, 4 * hidden) * 0.1)
        self.wh = torch.nn.Parameter(torch.randn(hidden, 4 * hidden) * 0.1)
        self.b = torch.nn.Parameter(torch.zeros(4 * hidden))

    def forward(self, x, h, c):
        gates = x @ self.wx + h @ self.wh + self.b
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class CharLSTM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, EMBED)
        self.cell = Cell(EMBED, HIDDEN)
        self.head = torch.nn.Linear(HIDDEN, VOCAB)

    def forward(self, tokens):
        h = torch.zeros(tokens.shape[0], HIDDEN)
        c = torch.zeros(tokens.shape[0], HIDDEN)
        outputs = []
        for t in range(tokens.shape[1]):
            h, c = self.cell(self.embed(tokens[:, t]), h, c)
            outputs.append(h)
        return self.head(torch.stack(outputs, dim=1))


text = torch.randint(0, VOCAB, (BATCH, SEQ + 1))
inputs, targets = text[:, :-1], text[:, 1:]
model = CharLSTM()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)

start = time.perf_counter()
for step in range(STEPS):
    opt.zero_grad()
    logits = model(inputs)
    loss = F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))
    loss.backward()
    opt.step()
elapsed = time.perf_counter() - start

print(f"LOOP_SECONDS={elapsed:.6f}")
print(f"final loss {loss.item():.6g}")
