"""One module per ``ddbproj`` command; each has ``register(subparsers)``."""
