# A Dataset class of the script's own, read by a DataLoader with two worker processes.
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


if __name__ == "__main__":
    torch.manual_seed(0)
    ds = Squares(32)
    loader = DataLoader(ds, batch_size=4, num_workers=2)
    net = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for epoch in range(2):
        total = 0.0
        for xb, yb in loader:
            loss = torch.nn.functional.mse_loss(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        print(f"epoch {epoch}: {total:.4f}")
