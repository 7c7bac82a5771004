"""CloudWatch's metrics API (namespace ``AWS/Lambda``) over Stratus's stored metrics.

Three read operations — GetMetricStatistics, GetMetricData, ListMetrics — in the three wire
protocols that SDKs speak to CloudWatch: ``query`` (form in, XML out: older SDKs, Grafana),
``json`` 1.0 (``X-Amz-Target``: the AWS CLI v1) and ``smithy-rpc-v2-cbor`` (current boto3).

- ``operations.py``: the operations, on plain Python values, protocol-blind.
- ``service.py``: the table the front door (``awsapi``) serves them from, in every protocol.
"""
