"""Entry points: the Lambda handler (``ddbproj.handlers.stream``) and the ``ddbproj``
command line."""
