"""The product: the assistant engine, its CLI `hope` and the terminal app, composed from the lower packages."""


class HopeError(Exception):
    """A failure the user can act on; the CLI prints it as one line and exits 1. Never holds user text."""
