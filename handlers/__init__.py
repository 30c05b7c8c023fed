"""Entry points: the Lambda handler (``handlers.stream``) and the ``ddbproj`` command line."""
