# A sequence model in the style of the PyTorch word-language-model example: an LSTM with
# dropout, trained with model.train(), validated each epoch with model.eval() under
# torch.no_grad(), and tested at the end under torch.inference_mode(). Dropout is active
# in training only, so the validation loss is deterministic.
import torch
import torch.nn as nn
import torch.nn.functional as F


class SequenceRegressor(nn.Module):
    def __init__(self, n_in=3, n_hidden=8):
        super().__init__()
        self.lstm = nn.LSTM(n_in, n_hidden, batch_first=True)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(n_hidden, 1)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(self.drop(out[:, -1]))


def batches(n, seed):
    g = torch.Generator().manual_seed(seed)
    xs = torch.randn(n, 4, 5, 3, generator=g)
    return [(x, x.sum(dim=(1, 2)).unsqueeze(1) / 5) for x in xs]


@torch.no_grad()
def evaluate(model, data):
    return sum(F.mse_loss(model(x), y).item() for x, y in data) / len(data)


torch.manual_seed(0)
model = SequenceRegressor()
optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
train_data, val_data, test_data = batches(6, 1), batches(2, 2), batches(2, 3)

for epoch in range(3):
    model.train()
    total = 0.0
    for x, y in train_data:
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        total += loss.item()
    model.eval()
    with torch.no_grad():
        val = sum(F.mse_loss(model(x), y).item() for x, y in val_data) / len(val_data)
    print(f"epoch {epoch}: train {total / len(train_data):.4f} val {val:.4f} "
          f"(again {evaluate(model, val_data):.4f})")

model.eval()
with torch.inference_mode():
    test = sum(F.mse_loss(model(x), y).item() for x, y in test_data) / len(test_data)
print(f"test {test:.4f}")
