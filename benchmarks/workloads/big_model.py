"""Benchmark workload: a ~2.1M-parameter model, SGD with momentum, batch 64 (deterministic).

Usage: python big_model.py [STEPS]   (default 20)
Prints LOOP_SECONDS=<float> (the training loop alone) and the final loss.
"""

import sys
import time

import torch
import torch.nn.functional as F

STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 20

torch.manual_seed(0)
torch.set_num_threads(1)

model = torch.nn.Sequential(
    torch.nn.Linear(1024, 1024),
    torch.nn.ReLU(),
    torch.nn.Linear(1024, 1024),
)
x = torch.randn(64, 1024)
y = torch.randn(64, 1024)
opt = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)

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
