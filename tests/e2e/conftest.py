"""The end-to-end tests run against a real `shipline up` (see tests/stack.py)."""

from tests.stack import Stack, stack

__all__ = ["Stack", "stack"]
