"""Errors a user caused and can fix: carried untranslated, shown in their language."""

from __future__ import annotations


class UserError(Exception):
    """A message for the user (an `N_`-marked string with {fields}) plus the values.

    `show_usage` asks the dispatcher to append the command's usage and examples.
    """

    def __init__(self, message: str, *, show_usage: bool = False, **values: object) -> None:
        super().__init__(message)
        self.message = message
        self.values = values
        self.show_usage = show_usage


class ArgumentError(UserError):
    """A command argument was missing or malformed (usage is always shown)."""

    def __init__(self, message: str, **values: object) -> None:
        super().__init__(message, show_usage=True, **values)
