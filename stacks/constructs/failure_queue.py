"""Where the engine's failed asynchronous invocations go: an encrypted queue, kept 14 days."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.nag import acknowledge

# Lambda's async retry policy for the engine. The websocket handler's resend path is the
# retry: it claims the message (conditional on the status and lease it read) once the last
# attempt failed or its answer lease lapsed (ANSWER_LEASE_SECONDS, which a working engine
# renews every ANSWER_LEASE_RENEW_SECONDS; a question stored before leases existed counts as
# stalled after ANSWER_TIMEOUT_SECONDS), so two resends never both answer, and a crash is
# retried within seconds. So no Lambda retries (a crash or timeout goes to the queue at once,
# and the message is resent).
RETRY_ATTEMPTS = 0
# Throttled events are retried by Lambda whatever RETRY_ATTEMPTS says, for up to this age.
# An engine that starts late answers only if it takes the lease (no other attempt holds a
# live one), so it never answers beside a claimed resend; older events go to the queue.
MAX_EVENT_AGE = Duration.minutes(1)


class FailedInvocations(Construct):
    """The on-failure destination of ``function``'s asynchronous invocations, and its policy.

    Each message is Lambda's invocation record (the request with sessionId and messageId,
    the error, the attempts): no user text, which stays in the conversations table.
    """

    def __init__(self, scope: Construct, construct_id: str, *, function: lambda_.Function) -> None:
        super().__init__(scope, construct_id)
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.queue,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter destination of the engine's failed "
            "asynchronous invocations; nothing consumes it automatically, so there is no "
            "failed processing of its own to divert to another queue.",
        )
        function.configure_async_invoke(
            on_failure=destinations.SqsDestination(self.queue),
            retry_attempts=RETRY_ATTEMPTS,
            max_event_age=MAX_EVENT_AGE,
        )
