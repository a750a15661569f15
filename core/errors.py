class CamError(Exception):
    """A problem with the user's input, said in one sentence."""
