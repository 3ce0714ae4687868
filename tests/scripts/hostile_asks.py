"""Asks for input() and greets."""
name = input("your name? ")
print("hello", name)
