from .about import *  # noqa: F401,F403
