"""The one exception type ``core`` raises for problems with the user's input."""


class CamError(Exception):
    """A problem with the user's input, said in one sentence (what is wrong, what to do)."""
