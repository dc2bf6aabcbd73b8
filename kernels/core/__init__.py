"""One implementation per face of the general linear fast-weight write; ops bind a ``Rule``."""
