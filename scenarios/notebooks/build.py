"""Writes the two seed tutorials as Jupyter notebooks, cell for cell, from the lists below.

The lists are the notebooks' source of truth, so a reviewer reads and changes the cells as
text here rather than as JSON. The code cells are the tutorials' own code, in their order,
with two changes, each said in the notebook's markdown: cells that draw random numbers
start with ``torch.manual_seed(0)``, and the remote banner image (it needs the internet)
is left out. No seed cell raises on purpose, so none had to be dropped.

Run it with plain python (it needs nbformat, a gradtui dependency), from anywhere: it
writes ``gradient_basics.ipynb`` and ``tensor_gradients.ipynb`` beside itself without
outputs (nbformat 4, kernel python3). They are committed with real outputs, as a learner
who downloads them sees them, so run them afterwards (``--execute`` does both steps)::

    python scenarios/notebooks/build.py
    PYTHONWARNINGS="ignore:Failed to initialize NumPy" \\
    jupyter nbconvert --to notebook --execute --inplace \\
        --ExecutePreprocessor.timeout=120 --ExecutePreprocessor.record_timing=False \\
        scenarios/notebooks/gradient_basics.ipynb scenarios/notebooks/tensor_gradients.ipynb

``record_timing=False`` keeps timestamps out of the files, so a re-run changes only what
differs between any two runs: the ``grad_fn`` addresses tensor_gradients prints, and the
kernel's temporary file named in torch's warning. ``PYTHONWARNINGS`` hides the one
warning torch prints at import where numpy is missing (as in gradtui's own venv): a
learner's Jupyter has numpy and never sees it, and it would store this machine's paths.
``tests/test_tutorial_notebooks.py`` checks that the files match these lists, that their
stored outputs match a fresh run, and that the printed numbers are the tutorials' own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

#: What nbconvert runs; the kernel inherits the environment, so the filter reaches it.
ENVIRONMENT_WARNINGS = "ignore:Failed to initialize NumPy"

Cell = tuple[str, str]  # ("markdown" | "code", source)


def md(text: str) -> Cell:
    """A markdown cell; the surrounding blank lines of the triple-quoted text are dropped."""
    return ("markdown", text.strip("\n"))


def code(text: str) -> Cell:
    """A code cell; as in Jupyter, its source has no trailing newline."""
    return ("code", text.strip("\n"))


SEEDED = (
    "*This copy adds `torch.manual_seed(0)` to the cells below that draw random numbers, so that "
    "every run prints the same values; the original printed other random ones "
    "(`x: tensor([0.2121], requires_grad=True)`, `Initial x: tensor([0.7421], requires_grad=True)`).*"
)

# "Pytorch basics: Gradient". The original's execution counts jump (In [8], then In [22]);
# "Restart and run all" numbers the same 25 code cells 1..25.
GRADIENT_BASICS: list[Cell] = [
    md(r"""
## Pytorch basics: Gradient

#### Gradient Descent

One basic first-order optimisation algorithm for minimising loss function $ L $ is called gradient descent.

$$
G = \theta \longleftarrow \theta - \lambda \frac{\partial L}{\partial \theta}
$$

$ \theta $ : inputs of the loss function \
$ \lambda $ : learning rate \
$ \frac{\partial L}{\partial \theta} $ : gradient of L with respect to its parameters
"""),
    code('''
def square_function(theta):
    # square loss function
    return 2 * theta
'''),
    code('''
# 1 step gredient descent
def one_step_gradient_descent(theta, lr):
    """ Returns updated value of theta after one step. """
    return theta - lr * square_function(theta)
'''),
    code('''
one_step_gradient_descent(1, 0.2)
'''),
    code('''
# multiple 1 step gredient descent
def gradient_descent(initial_theta, lr, steps):
    """ Returns final value of theta after multiple one step gradient descents. """
    theta = initial_theta # float
    for _ in range(steps):
        theta = one_step_gradient_descent(theta, lr)
        print("𝜃: ",theta)
    return theta

theta_opt = gradient_descent(
    initial_theta=1.0,
    lr=0.2,
    steps=20
)
print(f"𝜃 after optimization: {theta_opt}")
'''),
    md("""
### Automatic Gradient Descent in pytorch
"""),
    code("""
import torch
"""),
    code("""
tensor = torch.Tensor([[1, 2], [3, 4]])
parameters = torch.nn.Parameter(tensor) # stores operations applied to
print(parameters)
"""),
    md("""
requires_grad=True indicates that the parameters will keep track of all the operations applied, so that the gradients can be computed automatically when needed
"""),
    code("""
# everytime we perform an operation on a torch Parameter,
# it is recorded in each computed tensor.
temp = parameters + 5
print(temp)
"""),
    md("""
grad_fn=<AddBackward0> indicates that it remembers the last operation performed on the parameters (addition with 5)
"""),
    code("""
temp = torch.exp(parameters)
print(temp)
# remembered operation performed exp
"""),
    code("""
t0 = torch.Tensor([1])
theta = torch.nn.Parameter(t0)

loss = theta * theta
print(loss)
"""),
    code("""
print(theta.grad)
"""),
    md("""
here it is None as we did not tell torch which gradient we wanted to calculate
"""),
    code("""
loss = theta * theta
loss.backward()
print(theta.grad)
"""),
    md("""
#### Calculate automatic gradients
"""),
    code("""
def gradient_autograd(tensor):
    tensor_with_grad = torch.nn.Parameter(tensor)
    loss = tensor_with_grad * tensor_with_grad  # loss = theta * theta
    loss.backward()
    return tensor_with_grad.grad
"""),
    code('''
def gd_torch_autograd(initial_theta, lr, steps):
    """ Returns automatic gradient. """
    tensor = initial_theta
    for _ in range(steps):
        tensor = tensor - lr * gradient_autograd(tensor)
        print(tensor, "-- gd: ", gradient_autograd(tensor))
    return tensor
'''),
    code("""
initial_theta = torch.Tensor([1])
gd_torch_autograd(initial_theta, lr=0.2, steps=10)
"""),
    code("""
gradient_autograd(initial_theta)
"""),
    md(r"""
##### let's calculate

tensor = tensor - lr * gradient_autograd(tensor)

1 - 0.2 (2) = 0.6              -- g: 2*0.6 = 1.200 \
0.6000 - 0.2 (1.200) = 0.3600  -- g: 2*0.3600 = 0.7200 \
0.3600 - 0.2 (0.7200) = 0.2160 -- g: 2*2160 = 0.4320  \
0.2160 - 0.2 (0.4320) = 0.1296 -- g: 2*0.1296 = 0.2592 \
  ...  \
0.0060 - 0.2 (0.0121) = 0.00358

> Finally, we solve the mystery of gradient >_<
"""),
    code("""
t = torch.Tensor([1])
theta = torch.nn.Parameter(t)

loss = theta * theta
print(theta.grad)
loss.backward()
print(theta.grad)
"""),
    code("""
print(theta)
"""),
    md("""
The value of theta is not updated!
"""),
    md("""
#### Optimizer

PyTorch optimizers automatically perform parameter updates based on the computed gradients.

It has two methods: zero_grad() and step()
"""),
    code("""
list_parameters = [theta]
learning_rate = 0.2

# each optimizer is initialised with a list of the parameters to optimize
optimizer = torch.optim.SGD(params=list_parameters, lr=learning_rate)
optimizer
"""),
    code("""
loss = theta * theta
loss.backward()
print(f"After 1st loss.backward(): theta.grad={theta.grad}")

loss = theta * theta  # necessary to recompute and store
loss.backward()
print(f"After 2nd loss.backward(): theta.grad={theta.grad}")

loss = theta * theta
loss.backward()
print(f"After 3rd loss.backward(): theta.grad={theta.grad}")
"""),
    md("""
loss.backward() computes the gradients and adds those to the attributes .grad of the parameters. So to solve this zero_grad() is needed to reset gradients to 0.
"""),
    code("""
# zero_grad() : reset to 0
optimiser = torch.optim.SGD(params=list_parameters, lr=learning_rate)
optimiser.zero_grad()
loss = theta * theta
loss.backward()
print(f"After 1st loss.backward(): theta.grad={theta.grad}")

optimiser.zero_grad()
print(f"After optimiser.zero_grad(): theta.grad={theta.grad}")

loss = theta * theta   # necessary to recompute and store
loss.backward()
print(f"After 2nd loss.backward(): theta.grad={theta.grad}")
"""),
    code("""
# step() : performs one optimisation step
optimiser = torch.optim.SGD(params=list_parameters, lr=learning_rate)
optimiser.zero_grad()
loss = theta * theta
loss.backward()
print(f"Before optimization step: {theta}")
optimiser.step()
print(f"After optimization step: {theta}")
"""),
    code('''
# gradient descent with optimizer
def gd_with_optimizer(initial_theta, lr, steps):
    """ Returns gradient descents with the SGD optimiser. """
    tensor = torch.nn.Parameter(initial_theta, requires_grad=True)
    optimizer = torch.optim.SGD(params=[tensor], lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.sum(tensor * tensor)
        loss.backward()
        optimizer.step()
        print(tensor)
    return tensor

initial_tensor = torch.Tensor([1,-1])
gd_with_optimizer(initial_tensor, lr=0.2, steps=10)
'''),
    code("""
adam_opt = torch.optim.Adam(params=list_parameters)
adam_opt
"""),
    code("""
rms_opt = torch.optim.RMSprop(params=list_parameters)
rms_opt
"""),
    code("""
lbg_opt = torch.optim.LBFGS(params=list_parameters)
lbg_opt
"""),
]

_RULE = "<br>\n\n<hr>\n\n<br>"

# "Tutorial 2: Tensor Gradients and Optimization", its HTML headings kept as written.
TENSOR_GRADIENTS: list[Cell] = [
    md(f"""
<!-- The original opens with a banner image from drive.google.com; left out, as it needs the internet. -->

{_RULE}

<center>

<h1> Avisek Gupta </h1>

<h1> Indian Statistical Institute, Kolkata </h1>

</center>

{_RULE}
"""),
    md(f"""
{_RULE}

<center>

<h1> Tutorial 2: Tensor Gradients and Optimization </h1>

</center>

{_RULE}
"""),
    code("""
import torch
"""),
    md(f"""
{_RULE}

<h2> 1. Computing Tensor Gradients : </h2>

<h2> (i) Every Tensor has a flag ''requires_grad'' that allows for fine grained exclusion of subgraphs from gradient computation </h2>

<h2> (ii) By default, the gradients of user-created tensors are not calculated. </h2>

{_RULE}
"""),
    code("""
x = torch.ones(2, 2)
print(x)
print(x.requires_grad)

x = torch.ones(2, 2, requires_grad=True)
print(x)
print(x.requires_grad)
"""),
    md(f"""
{_RULE}

<h2> (iii) The backward() function calculates the gradients. </h2>

{_RULE}
"""),
    code("""
x = torch.ones(2, 2, requires_grad=True)
print(x)

y = x + 2
print(y)

z = 3 * (y ** 2)
print(z)

out = z.mean()
print(out)

out.backward()  # equivalent to out.backward(torch.tensor(1.)) since out contains a single scalar

print(x.grad)
"""),
    md(f"""
{_RULE}

<h2> (iv) We cannot print the gradients of intermediate tensors y or z, even though they are calculated. </h2>

<h2> (v) Only if ALL inputs tensors DO NOT require gradients, the gradient of the output tensor will NOT be tracked. </h2>

{_RULE}
"""),
    code("""
print('y:', y)
print('y.grad:', y.grad)
print('y.requires_grad:', y.requires_grad)
print('y.grad_fn:', y.grad_fn)

print('z:', z)
print('z.grad:', z.grad)
print('z.requires_grad:', z.requires_grad)
print('z.grad_fn:', z.grad_fn)
"""),
    md(f"""
{_RULE}

<h2> 2. Stop automatic computation of gradients on Tensors with "requires_grad=True" either by - </h2>

<h2> (i) Wrapping the code block in with torch.no_grad(), or </h2>

<h2> (ii) By using .detach() to get a new Tensor with the same content but that does not require gradients </h2>

{_RULE}

{SEEDED}
"""),
    code("""
torch.manual_seed(0)
x = torch.randn(3, requires_grad=True)

print(x.requires_grad)
print((x ** 2).requires_grad)

with torch.no_grad():
    print((x ** 2).requires_grad)
"""),
    code("""
print(x.requires_grad)
y = x.detach()
print(y.requires_grad)
print(x.eq(y).all())
"""),
    md(f"""
{_RULE}

<h2> 3. A simple gradient descent code using only backward() to compute the gradients </h2>

{_RULE}

{SEEDED}
"""),
    code("""
# First lets try to code only a single step of gradient descent

torch.manual_seed(0)
x = torch.randn(1, requires_grad=True)
print('x:', x)

y = (x - 4) ** 2
y.backward()

learning_rate = 0.1

print('x.grad:', x.grad)
print('x - x.grad:', x - learning_rate * x.grad)
with torch.no_grad():
    x = x - learning_rate * x.grad
print('x:', x)
x.requires_grad = True
print('x:', x)
"""),
    code("""
# Gradient Descent till convergence

torch.manual_seed(0)
x = torch.randn(1, requires_grad=True)
print('Initial x:', x)

max_iter = 100
learning_rate = 0.1
eps = 1e-6

for _ in range(max_iter):
    y = (x - 4) ** 2
    y.backward()
    with torch.no_grad():
        prev_x = x
        x = x - learning_rate * x.grad
        if torch.norm(prev_x - x) < eps:
            break
    x.requires_grad = True

print('Soln x:', x)
"""),
    md(f"""
{_RULE}

<h2> Recap: </h2>

<h2> 1. Computing Tensor Gradients : </h2>

<h2> (i) Every Tensor has a flag ''requires_grad'' that allows for fine grained exclusion of subgraphs from gradient computation </h2>

<h2> (ii) By default, the gradients of user-created tensors are not calculated. </h2>

<h2> (iii) The backward() function calculates the gradients. </h2>

<h2> (iv) We cannot print the gradients of intermediate tensors y or z, even though they are calculated. </h2>

<h2> (v) Only if ALL inputs tensors DO NOT require gradients, the gradient of the output tensor will NOT be tracked. </h2>

<h2> 2. Stop automatic computation of gradients on Tensors with "requires_grad=True" either by - </h2>

<h2> (i) Wrapping the code block in with torch.no_grad(), or </h2>

<h2> (ii) By using .detach() to get a new Tensor with the same content but that does not require gradients </h2>

<h2> 3. A simple gradient descent code using only backward() to compute the gradients </h2>

{_RULE}
"""),
]

NOTEBOOKS: dict[str, list[Cell]] = {
    "gradient_basics.ipynb": GRADIENT_BASICS,
    "tensor_gradients.ipynb": TENSOR_GRADIENTS,
}


def notebook(name: str, cells: list[Cell]) -> nbformat.NotebookNode:
    """The cells as an nbformat 4 notebook, with ids fixed by position so a rebuild is a no-op diff."""
    stem = name.removesuffix(".ipynb").replace("_", "-")
    made = []
    for index, (kind, source) in enumerate(cells, start=1):
        cell = new_markdown_cell(source) if kind == "markdown" else new_code_cell(source)
        cell["id"] = f"{stem}-{index:02d}"
        made.append(cell)
    metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    nb = new_notebook(cells=made, metadata=metadata)
    nbformat.validate(nb)
    return nb


def write_all(folder: Path = HERE) -> list[Path]:
    """Every notebook written into ``folder``, without outputs; the paths written."""
    paths = []
    for name, cells in NOTEBOOKS.items():
        path = folder / name
        nbformat.write(notebook(name, cells), path)
        paths.append(path)
    return paths


def execute(paths: list[Path]) -> None:
    """The documented nbconvert command, run on ``paths`` (needs nbconvert and ipykernel)."""
    env = {**os.environ, "PYTHONWARNINGS": ENVIRONMENT_WARNINGS}
    command = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "--inplace",
               "--ExecutePreprocessor.timeout=120", "--ExecutePreprocessor.record_timing=False",
               *map(str, paths)]
    subprocess.run(command, check=True, env=env)


if __name__ == "__main__":
    written = write_all()
    if "--execute" in sys.argv[1:]:
        execute(written)
    for path in written:
        print(path)
