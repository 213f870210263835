"""Configuration: every setting, read once from the environment into one object."""

from __future__ import annotations

import os
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    AWS = "aws"
    LOCAL = "local"


class Settings(BaseSettings):
    """Names follow the design documents; ``CHATBOT_*`` names are ours.

    The CDK stack sets the AWS ones on each function; the local gateway uses the defaults.
    """

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore")

    chatbot_env: Environment = Field(Environment.LOCAL, alias="CHATBOT_ENV")
    # Local state (SQLite file, session-token secret) lives here.
    state_dir: Path = Field(Path(".chatbot"), alias="CHATBOT_STATE_DIR")
    # `chatbot serve` on an empty document index ingests a starter corpus once, in the
    # background (chatbot.starter_corpus): README.md and docs/ of STARTER_CORPUS_DIR, by
    # default the checkout this package runs from. False: never.
    starter_corpus: bool = Field(True, alias="STARTER_CORPUS")
    starter_corpus_dir: Path | None = Field(None, alias="STARTER_CORPUS_DIR")

    aws_region: str = Field("us-east-1", alias="AWS_REGION")
    session_timeout_minutes: int = Field(30, ge=1, alias="SESSION_TIMEOUT_MINUTES")
    # How long a closed session, its messages and its connection records are kept before TTL.
    session_retention_days: int = Field(30, ge=1, alias="SESSION_RETENTION_DAYS")
    analytics_retention_days: int = Field(365, ge=1, alias="ANALYTICS_RETENTION_DAYS")

    bedrock_region: str | None = Field(None, alias="BEDROCK_REGION")
    bedrock_claude_model: str = Field(
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0", alias="BEDROCK_CLAUDE_MODEL"
    )
    bedrock_embedding_model: str = Field(
        "amazon.titan-embed-text-v2:0", alias="BEDROCK_EMBEDDING_MODEL"
    )
    # Width of Titan's vectors: 256, 512 or 1024 (the local model's are always 384).
    embedding_dimensions: int = Field(1024, alias="EMBEDDING_DIMENSIONS")
    # Texts per forward pass of the local model; larger batches pad short texts more.
    embedding_batch_size: int = Field(32, ge=1, alias="EMBEDDING_BATCH_SIZE")
    # torch threads for the local model; unset leaves torch's default (one per core).
    embedding_threads: int | None = Field(None, ge=1, alias="EMBEDDING_THREADS")
    # How long the local model's query embedder waits for more queries to embed in one
    # forward pass (milliseconds; 0 embeds each query alone). At most EMBEDDING_BATCH_SIZE.
    embedding_batch_window_ms: float = Field(5.0, ge=0, le=1000, alias="EMBEDDING_BATCH_WINDOW_MS")
    # Processes the local gateway runs the engine in, each with its own model, as Lambda runs
    # the engine function beside the websocket one; unset: one per core; 0: in the gateway's
    # own process (tests, tiny machines).
    engine_workers: int | None = Field(None, ge=0, le=64, alias="ENGINE_WORKERS")
    # Questions one engine worker answers at once (threads; their query embeddings batch).
    engine_worker_threads: int = Field(16, ge=1, le=256, alias="ENGINE_WORKER_THREADS")
    # Titan requests in flight at once (Titan v2 embeds one text per request).
    embedding_concurrency: int = Field(8, ge=1, alias="EMBEDDING_CONCURRENCY")
    # Which language model answers: "offline" (deterministic, no network, the default),
    # "bedrock" (Claude on Amazon Bedrock), "ollama" (an Ollama server) or "openai" (any
    # OpenAI-compatible endpoint: OpenAI, vLLM, llama.cpp's server, LM Studio...).
    model_provider: Literal["offline", "bedrock", "ollama", "openai"] = Field(
        "offline", alias="CHATBOT_MODEL"
    )
    # An Amazon Bedrock guardrail applied to every model call, and its version.
    bedrock_guardrail_id: str | None = Field(None, alias="BEDROCK_GUARDRAIL_ID")
    bedrock_guardrail_version: str = Field("DRAFT", alias="BEDROCK_GUARDRAIL_VERSION")
    ollama_host: str = Field("http://127.0.0.1:11434", alias="OLLAMA_HOST")
    ollama_model: str = Field("llama3.2", alias="OLLAMA_MODEL")
    # The OpenAI-compatible endpoint: base URL (unset: api.openai.com), model and key. Local
    # servers mostly accept any key.
    openai_base_url: str | None = Field(None, alias="OPENAI_BASE_URL")
    openai_model: str = Field("gpt-4o-mini", alias="OPENAI_MODEL")
    openai_api_key: SecretStr = Field(SecretStr("not-needed"), alias="OPENAI_API_KEY")
    # Longest answer, in output tokens, the model may write.
    model_max_tokens: int = Field(2048, ge=16, alias="MODEL_MAX_TOKENS")
    # Estimated price, USD per million input and output tokens, for the cost in analytics and
    # in each answer's usage. Unset: the built-in table of known models (chatbot.engine.pricing),
    # and 0 for a model it does not know.
    model_input_price_per_mtok: float | None = Field(None, ge=0, alias="MODEL_INPUT_PRICE_PER_MTOK")
    model_output_price_per_mtok: float | None = Field(
        None, ge=0, alias="MODEL_OUTPUT_PRICE_PER_MTOK"
    )
    # Model calls retried on throttling and transient errors: at most this many attempts, with
    # exponential backoff and full jitter from MODEL_RETRY_BASE_SECONDS, capped at
    # MODEL_RETRY_MAX_SECONDS, and never past the time the engine has left.
    model_max_attempts: int = Field(4, ge=1, le=10, alias="MODEL_MAX_ATTEMPTS")
    model_retry_base_seconds: float = Field(0.5, gt=0, alias="MODEL_RETRY_BASE_SECONDS")
    model_retry_max_seconds: float = Field(8.0, gt=0, alias="MODEL_RETRY_MAX_SECONDS")
    # Answer text is posted to the client in deltas of at most DELTA_MAX_CHARS characters,
    # held back at most DELTA_MAX_WAIT_MS after the first text not yet sent (the first
    # fragment of an answer goes at once). 0 ms sends every fragment the model writes.
    delta_max_wait_ms: int = Field(100, ge=0, le=5000, alias="DELTA_MAX_WAIT_MS")
    delta_max_chars: int = Field(1000, ge=1, alias="DELTA_MAX_CHARS")
    # Conversation context: earlier turns within this many tokens (estimated), oldest dropped
    # first; what was dropped is summarised in a line of the system prompt.
    context_token_budget: int = Field(3000, ge=0, alias="CONTEXT_TOKEN_BUDGET")
    # How questions are routed: "semantic" (similarity to the example questions of
    # chatbot/engine/route_examples.yaml, the model asked when unsure, keyword rules last) or
    # "rules" (the keyword rules only: no embedding per message).
    router_mode: Literal["semantic", "rules"] = Field("semantic", alias="ROUTER_MODE")
    # The semantic router decides alone when the best route's similarity is at least
    # ROUTER_MIN_SCORE and leads the next by ROUTER_MIN_MARGIN (tuned in
    # bench/results/routing-eval.md); otherwise the model is asked, for at most
    # ROUTER_CLASSIFY_SECONDS.
    router_min_score: float = Field(0.20, ge=-1, le=1, alias="ROUTER_MIN_SCORE")
    router_min_margin: float = Field(0.04, ge=0, le=2, alias="ROUTER_MIN_MARGIN")
    router_classify_seconds: float = Field(5.0, gt=0, alias="ROUTER_CLASSIFY_SECONDS")
    # Whether logs may carry what users wrote (questions, answers). Off by default.
    log_user_content: bool = Field(False, alias="LOG_USER_CONTENT")

    sessions_table: str = Field("chatbot-sessions", alias="SESSIONS_TABLE")
    connections_table: str = Field("chatbot-connections", alias="CONNECTIONS_TABLE")
    conversations_table: str = Field("chatbot-conversations", alias="CONVERSATIONS_TABLE")
    analytics_table: str = Field("chatbot-analytics", alias="ANALYTICS_TABLE")
    records_table: str = Field("chatbot-records", alias="RECORDS_TABLE")
    limits_table: str = Field("chatbot-limits", alias="LIMITS_TABLE")

    opensearch_endpoint: str | None = Field(None, alias="OPENSEARCH_ENDPOINT")
    opensearch_index: str = Field("documents", alias="OPENSEARCH_INDEX")
    opensearch_region: str | None = Field(None, alias="OPENSEARCH_REGION")
    # Which document store the AWS deployment searches and ingests into (CDK context
    # `vectorStore`; ignored locally): OpenSearch Serverless, or an Amazon S3 Vectors index
    # (S3VECTORS_BUCKET, S3VECTORS_INDEX; region S3VECTORS_REGION, else AWS_REGION).
    vector_store: Literal["opensearch", "s3vectors"] = Field("opensearch", alias="VECTOR_STORE")
    s3vectors_bucket: str | None = Field(None, alias="S3VECTORS_BUCKET")
    s3vectors_index: str = Field("documents", alias="S3VECTORS_INDEX")
    s3vectors_region: str | None = Field(None, alias="S3VECTORS_REGION")

    mcp_server_lambda_arn: str | None = Field(None, alias="MCP_SERVER_LAMBDA_ARN")
    # How the engine reaches the MCP server, always over the MCP protocol: "memory" (the
    # server in this process, on the SDK's in-memory streams: the local default), "stdio" (a
    # `chatbot mcp` subprocess per tools question: about 0.9 s to start, and the embedding
    # model loaded again for every document search) or "lambda" (the MCP server function).
    mcp_transport: Literal["memory", "stdio", "lambda"] = Field("memory", alias="MCP_TRANSPORT")

    websocket_api_endpoint: str | None = Field(None, alias="WEBSOCKET_API_ENDPOINT")
    # The chatbot engine function the websocket handler invokes asynchronously (AWS only).
    engine_function_name: str | None = Field(None, alias="ENGINE_FUNCTION_NAME")
    # Secrets Manager secret holding the session-token key (AWS only).
    session_secret_arn: str | None = Field(None, alias="SESSION_SECRET_ARN")
    # Secrets Manager secret holding the key of the owner claims the engine signs and the MCP
    # server checks on every tools call (AWS only; locally the key is CHATBOT_STATE_DIR/tools-key).
    tools_secret_arn: str | None = Field(None, alias="TOOLS_SECRET_ARN")
    # The Cognito user pool and web app client whose ID tokens open a connection, where the
    # deployment turns on user sign-in (the $connect authorizer only).
    sign_in_user_pool_id: str | None = Field(None, alias="SIGN_IN_USER_POOL_ID")
    sign_in_client_id: str | None = Field(None, alias="SIGN_IN_CLIENT_ID")

    # Per-session limit on messages a minute; RATE_LIMITED past it.
    rate_limit_per_minute: int = Field(30, ge=1, alias="RATE_LIMIT_PER_MINUTE")
    # Abuse and spend ceilings (chatbot.limits, chatbot.engine.budget); 0 turns one off.
    # New sessions and messages a minute from one source IP (RATE_LIMITED past them; a
    # refused handshake gets HTTP 429).
    sessions_per_ip_per_minute: int = Field(10, ge=0, alias="SESSIONS_PER_IP_PER_MINUTE")
    messages_per_ip_per_minute: int = Field(30, ge=0, alias="MESSAGES_PER_IP_PER_MINUTE")
    # Model tokens (input + output) a session, and the whole deployment, may use a UTC day
    # (QUOTA_EXCEEDED past them, checked before each model call).
    session_tokens_per_day: int = Field(50_000, ge=0, alias="SESSION_TOKENS_PER_DAY")
    deployment_tokens_per_day: int = Field(2_000_000, ge=0, alias="DEPLOYMENT_TOKENS_PER_DAY")
    # Origins (comma-separated) whose pages may open a connection; "*" allows any. Unset:
    # the page the local gateway serves (http://127.0.0.1:<port>, http://localhost:<port>);
    # the CDK stack sets the CloudFront URL. A handshake with no Origin is allowed.
    allowed_origins: str | None = Field(None, alias="ALLOWED_ORIGINS")
    # How the RAG path searches: "hybrid" (the default: vector and keyword scores fused,
    # chatbot.rank_fusion; best on both labelled sets' held-out questions in `chatbot eval
    # retrieval`, bench/results/retrieval-eval.md), "vector" or "keyword".
    rag_search_mode: Literal["vector", "keyword", "hybrid"] = Field(
        "hybrid", alias="RAG_SEARCH_MODE"
    )
    # Chunks less similar to the question than this cosine are not used to answer; with none
    # left the answer is "not in the documents". Chosen on the tuning split of both labelled
    # sets' answerable and unanswerable questions with the local all-MiniLM-L6-v2 (held out:
    # 0.96 of answerable questions answered, 0.87 of unanswerable ones refused; at 0.3, 0.99
    # and 0.50). Another embedding model (Titan in AWS) spreads cosines differently: measure
    # before relying on it there.
    rag_min_score: float = Field(0.43, ge=-1, le=1, alias="RAG_MIN_SCORE")
    rag_top_k: int = Field(5, ge=1, le=20, alias="RAG_TOP_K")
    # AWS: a Bedrock reranking model (an id such as "amazon.rerank-v1:0", or its ARN) that
    # reorders the search's best RAG_RERANK_CANDIDATES chunks before the top RAG_TOP_K are
    # used (chatbot.adapters.aws.reranker). Empty, the default: no reranking, and the stack
    # grants no bedrock:Rerank. Not measured here: `chatbot eval retrieval` runs offline.
    rag_rerank_model: str | None = Field(None, alias="RAG_RERANK_MODEL")
    rag_rerank_candidates: int = Field(20, ge=1, le=100, alias="RAG_RERANK_CANDIDATES")
    # Seconds after which an answer still in progress counts as stalled, so a resend of the
    # message retries it; longer than the engine function's timeout (300 s).
    answer_timeout_seconds: int = Field(360, ge=10, alias="ANSWER_TIMEOUT_SECONDS")
    # An answer in progress holds a lease on its question for ANSWER_LEASE_SECONDS, renewed
    # every ANSWER_LEASE_RENEW_SECONDS while the engine works; a resend after the lease
    # lapsed (the engine died) answers the question again.
    answer_lease_seconds: int = Field(15, ge=2, le=900, alias="ANSWER_LEASE_SECONDS")
    answer_lease_renew_seconds: int = Field(5, ge=1, le=300, alias="ANSWER_LEASE_RENEW_SECONDS")
    # Attempts per DynamoDB request (the SDK's adaptive retry mode: backoff on throttling,
    # and a client-side rate that follows it) before the error reaches the caller.
    dynamodb_max_attempts: int = Field(5, ge=1, le=20, alias="DYNAMODB_MAX_ATTEMPTS")
    # Most earlier turns read as context (then cut to CONTEXT_TOKEN_BUDGET).
    history_turns: int = Field(20, ge=0, le=100, alias="HISTORY_TURNS")
    # Frames larger than this are refused before they are parsed.
    max_frame_bytes: int = Field(128 * 1024, ge=1024, alias="MAX_FRAME_BYTES")

    @model_validator(mode="after")
    def _lease_renewed_in_time(self) -> Self:
        if self.answer_lease_renew_seconds >= self.answer_lease_seconds:
            raise ValueError("ANSWER_LEASE_RENEW_SECONDS must be less than ANSWER_LEASE_SECONDS")
        return self

    @model_validator(mode="after")
    def _s3vectors_bucket_named(self) -> Self:
        if (
            self.chatbot_env is Environment.AWS
            and self.vector_store == "s3vectors"
            and not self.s3vectors_bucket
        ):
            raise ValueError(
                "VECTOR_STORE=s3vectors needs S3VECTORS_BUCKET: the vector bucket's name "
                "(the stack's VectorBucketName output)"
            )
        return self

    @property
    def engine_worker_count(self) -> int:
        """ENGINE_WORKERS, or one per core this process may use when it is unset."""
        if self.engine_workers is not None:
            return self.engine_workers
        if hasattr(os, "sched_getaffinity"):
            return max(len(os.sched_getaffinity(0)), 1)
        return max(os.cpu_count() or 1, 1)

    @property
    def sqlite_path(self) -> Path:
        return self.state_dir / "chatbot.sqlite3"

    @property
    def documents_path(self) -> Path:
        return self.state_dir / "documents.sqlite3"

    @property
    def secret_path(self) -> Path:
        return self.state_dir / "session-secret"

    @property
    def tools_key_path(self) -> Path:
        """The local key of the tools' owner claims: made on first use, mode 0600."""
        return self.state_dir / "tools-key"

    @property
    def table_names(self) -> dict[str, str]:
        """Logical table name -> physical DynamoDB table name."""
        return {
            "sessions": self.sessions_table,
            "connections": self.connections_table,
            "conversations": self.conversations_table,
            "analytics": self.analytics_table,
            "records": self.records_table,
            "limits": self.limits_table,
        }


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """The process's settings, read from the environment once (a Lambda cold start, a CLI run)."""
    return Settings()
