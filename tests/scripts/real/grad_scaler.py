# The CPU mixed-precision recipe: autocast to bfloat16 and a GradScaler; backward runs
# from scaler.scale(loss), a tensor the script never names.
import torch

torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
opt = torch.optim.SGD(net.parameters(), lr=0.01)
scaler = torch.amp.GradScaler("cpu")
data = torch.randn(8, 16)
target = torch.randn(8, 4)
for epoch in range(5):
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        output = net(data)
        loss = torch.nn.functional.mse_loss(output.float(), target)
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    opt.zero_grad()
    print(f"epoch {epoch}: loss {loss.item():.4f}")
