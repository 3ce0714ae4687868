"""Benchmark workload: a small MLP trained with Adam on one fixed batch (deterministic).

Usage: python small_mlp.py [STEPS]   (default 300)
Prints LOOP_SECONDS=<float> (the training loop alone) and the final loss.
"""

import sys
import time

import torch
import torch.nn.functional as F

STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 300

torch.manual_seed(0)
torch.set_num_threads(1)

model = torch.nn.Sequential(
    torch.nn.Linear(32, 64),
    torch.nn.ReLU(),
    torch.nn.Linear(64, 64),
    torch.nn.ReLU(),
    torch.nn.Linear(64, 1),
)
x = torch.randn(128, 32)
y = torch.randn(128, 1)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)

start = time.perf_counter()
for step in range(STEPS):
    opt.zero_grad()
    pred = model(x)
    loss = F.mse_loss(pred, y)
    loss.backward()
    opt.step()
elapsed = time.perf_counter() - start

print(f"LOOP_SECONDS={elapsed:.6f}")
print(f"final loss {loss.item():.6g}")
