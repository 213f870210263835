"""``chatbot doctor``: a preflight an operator runs before deploying, with their own credentials.

It finds what a fresh account or region lacks (CDK bootstrap, Bedrock model access, quotas)
and prints each finding with its fix. Every check takes the boto3 clients it calls, so tests
hand it Stubber-wrapped or moto clients; nothing here depends on the CDK.
"""

from chatbot.doctor.findings import Finding, Status

__all__ = ["Finding", "Status"]
