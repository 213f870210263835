"""Deployment settings, read from CDK context (cdk.json or `cdk deploy -c key=value`)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from constructs import Node

# Every setting with its default; cdk.json repeats them so operators see what they can change.
DEFAULTS: dict[str, Any] = {
    "stage": "dev",
    "claudeModelId": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "embeddingModelId": "amazon.titan-embed-text-v2:0",
    "embeddingDimensions": 1024,
    "sessionTimeoutMinutes": 30,
    "cleanupRateMinutes": 5,
    "retainData": False,
    "userSignIn": False,
    "logRetentionDays": 30,
    "alarmEmail": "",
    "rateLimitPerMinute": 30,
    # IAM role or user ARNs (comma-separated) that run `chatbot ingest` against the deployed
    # collection: they get write access in its data access policy. Empty: nobody but the stack.
    "ingestPrincipalArns": "",
    # An Amazon Bedrock guardrail (its id, and the version to apply) on every Claude call.
    # Empty: none. The engine may apply this guardrail and no other.
    "bedrockGuardrailId": "",
    "bedrockGuardrailVersion": "DRAFT",
    # A Bedrock reranking model (e.g. amazon.rerank-v1:0) the RAG path reorders its chunks
    # with (RAG_RERANK_MODEL). Empty: none, and the engine gets no bedrock:Rerank.
    "rerankModelId": "",
    # How long closed sessions and their messages, and analytics events, are kept (DynamoDB
    # TTL; docs/retention.md).
    "sessionRetentionDays": 30,
    "analyticsRetentionDays": 365,
    # Concurrency reserved for the session cleanup (0: none). Lambda keeps 100 of an account's
    # concurrency unreserved, so reserving N needs an account limit of at least 100 + N (new
    # accounts often have 10, where any reservation fails the deploy). Overlapping cleanups
    # are safe without it: each close is conditional.
    "cleanupReservedConcurrency": 0,
    # Abuse and spend ceilings (README "Configuration"; 0 turns one off): new sessions and
    # messages per source IP a minute, model tokens per session and per deployment a UTC day.
    "sessionsPerIpPerMinute": 10,
    "messagesPerIpPerMinute": 30,
    "sessionTokensPerDay": 50000,
    "deploymentTokensPerDay": 2000000,
    # Page origins (comma-separated) allowed beside the chat page's CloudFront URL, e.g.
    # http://localhost:8080 to try a local copy of the page against this stage.
    "allowedOrigins": "",
    # Alarm (to the alarm topic) when Claude's input + output tokens pass this in an hour.
    "bedrockTokensAlarmPerHour": 500000,
    # Concurrency reserved for (and so capping) the engine; 0: none. Needs an account limit
    # of at least 100 + N, as cleanupReservedConcurrency (a new account has 10).
    "engineReservedConcurrency": 0,
    # Where the documents live: "opensearch" (an OpenSearch Serverless collection, at least
    # 1 OCU around the clock) or "s3vectors" (an Amazon S3 Vectors bucket, no idle cost).
    "vectorStore": "opensearch",
}

VECTOR_STORES = ("opensearch", "s3vectors")


@dataclass(frozen=True)
class DeploySettings:
    stage: str
    claude_model_id: str
    embedding_model_id: str
    embedding_dimensions: int
    session_timeout_minutes: int
    cleanup_rate_minutes: int
    retain_data: bool
    user_sign_in: bool
    log_retention_days: int
    alarm_email: str
    rate_limit_per_minute: int
    ingest_principal_arns: str
    bedrock_guardrail_id: str
    bedrock_guardrail_version: str
    rerank_model_id: str
    session_retention_days: int
    analytics_retention_days: int
    cleanup_reserved_concurrency: int
    sessions_per_ip_per_minute: int
    messages_per_ip_per_minute: int
    session_tokens_per_day: int
    deployment_tokens_per_day: int
    allowed_origins: str
    bedrock_tokens_alarm_per_hour: int
    engine_reserved_concurrency: int
    vector_store: str

    @classmethod
    def from_context(cls, node: Node) -> DeploySettings:
        values: dict[str, Any] = {}
        for field in fields(cls):
            key = _camel(field.name)
            raw = node.try_get_context(key)
            default = DEFAULTS[key]
            values[field.name] = default if raw is None else _coerce(key, raw, default)
        settings = cls(**values)
        for key in (
            "cleanupReservedConcurrency",
            "engineReservedConcurrency",
            "sessionsPerIpPerMinute",
            "messagesPerIpPerMinute",
            "sessionTokensPerDay",
            "deploymentTokensPerDay",
        ):
            if values[_snake(key)] < 0:
                raise ValueError(f"context '{key}' must be 0 (none) or more")
        if settings.bedrock_tokens_alarm_per_hour < 1:
            raise ValueError("context 'bedrockTokensAlarmPerHour' must be 1 or more")
        if settings.vector_store not in VECTOR_STORES:
            raise ValueError(
                f"context 'vectorStore' must be one of {', '.join(VECTOR_STORES)},"
                f" not {settings.vector_store!r}"
            )
        if not settings.stage.isalnum() or not settings.stage.islower():
            raise ValueError("context 'stage' must be lower-case letters and digits")
        return settings

    @property
    def ingest_principals(self) -> list[str]:
        """``ingestPrincipalArns`` as a list, blanks dropped."""
        return [arn.strip() for arn in self.ingest_principal_arns.split(",") if arn.strip()]

    def name(self, suffix: str) -> str:
        """A physical name for this stage: chatbot-<stage>-<suffix>."""
        return f"chatbot-{self.stage}-{suffix}"


def _snake(key: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _coerce(key: str, raw: Any, default: Any) -> Any:
    # Values given with `-c key=value` arrive as strings.
    if isinstance(default, bool):
        if isinstance(raw, bool):
            return raw
        if str(raw).lower() in ("true", "1", "yes"):
            return True
        if str(raw).lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"context '{key}' must be true or false, not {raw!r}")
    if isinstance(default, int):
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ValueError(f"context '{key}' must be a whole number, not {raw!r}") from None
    return str(raw)
