# dataset_workers.py with the worker processes started by another method: spawn or forkserver
# (the first argument). Those workers import this file afresh, as __mp_main__.
import sys

import torch
from torch.utils.data import DataLoader, Dataset


class Squares(Dataset):
    def __init__(self, n):
        self.x = torch.linspace(-1, 1, n).unsqueeze(1)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        x = self.x[i]
        return x, x * x


print(f"imported as {__name__}", file=sys.stderr)

if __name__ == "__main__":
    method = sys.argv[1] if len(sys.argv) > 1 else "spawn"
    torch.manual_seed(0)
    loader = DataLoader(Squares(16), batch_size=4, num_workers=1, multiprocessing_context=method)
    net = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for xb, yb in loader:
        loss = torch.nn.functional.mse_loss(net(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        print(f"loss {loss.item():.6f}")
