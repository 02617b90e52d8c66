"""The security suite attacks a real `shipline up` (see tests/stack.py) where it can."""

from tests.stack import Stack, stack

__all__ = ["Stack", "stack"]
