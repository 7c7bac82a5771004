"""IAM's and STS's query-protocol APIs (``POST /`` with ``Version=2010-05-08`` or
``Version=2011-06-15``), served through the front door (``awsapi``) from ``iam.api.front``."""
