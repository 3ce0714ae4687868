"""Gradient tutorial, cells 1-4: gradient descent written by hand, no torch.

Watch theta shrink by a factor 0.6 each step (theta - 0.2 * 2 * theta):
0.6, 0.36, 0.216, ... down to 3.656158440062973e-05 after 20 steps.
"""


def square_function(theta):
    # square loss function
    return 2 * theta


# 1 step gredient descent
def one_step_gradient_descent(theta, lr):
    """ Returns updated value of theta after one step. """
    return theta - lr * square_function(theta)


print(one_step_gradient_descent(1, 0.2))


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
