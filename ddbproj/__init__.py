"""ddbproj: project a DynamoDB table's stream into SQL tables.

The one import package of the distribution, so that an application's own ``core`` or
``handlers`` never collides with ours: ``ddbproj.core`` (pure domain: events, decoding,
projectors, planning), ``ddbproj.adapters`` (SQL, DynamoDB, AWS) and ``ddbproj.handlers``
(the Lambda handler, the command line, the pytest plugin).
"""

__version__ = "0.1.0"
