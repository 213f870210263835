"""The chatbot's one stack: composes the constructs and wires each function's least privilege."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Annotations, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from chatbot.protocol import ACTIONS
from stacks.bundling import FULL, LIGHT, route_classifier_warning, route_vectors_warning
from stacks.constructs.cleanup_schedule import CleanupSchedule
from stacks.constructs.failure_queue import MAX_EVENT_AGE, FailedInvocations
from stacks.constructs.function import ChatbotFunction
from stacks.constructs.observability import Observability
from stacks.constructs.session_key import SessionKey, ToolsKey
from stacks.constructs.spend_alarm import TokenUseAlarm
from stacks.constructs.tables import ChatbotTables
from stacks.constructs.user_sign_in import UserSignIn
from stacks.constructs.vector_search import VectorSearch
from stacks.constructs.vector_store import S3VectorStore
from stacks.constructs.web_hosting import WebHosting
from stacks.constructs.websocket_api import ChatWebSocketApi
from stacks.log_retention import retention_days
from stacks.nag import acknowledge
from stacks.outputs import operator_outputs
from stacks.region_rule import require_profile_regions
from stacks.settings import DeploySettings

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
SEARCH_INDEX = "documents"
# The table actions each function's code performs, and nothing more.
READ_WRITE = ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query")
# Long answers stream for minutes; API Gateway's 29 s limit does not apply to the engine.
ENGINE_TIMEOUT = Duration.minutes(5)


def inference_arns(stack: Stack, model_id: str) -> list[str]:
    """ARNs to invoke a Bedrock model id, directly or through a cross-region inference profile."""
    geo, _, base = model_id.partition(".")
    if geo in ("us", "eu", "apac", "global", "us-gov", "ca", "jp", "au") and base:
        return [
            stack.format_arn(
                service="bedrock", resource="inference-profile", resource_name=model_id
            ),
            # The profile routes to any region of its geography; the model ARN is region-less.
            f"arn:{stack.partition}:bedrock:*::foundation-model/{base}",
        ]
    return [f"arn:{stack.partition}:bedrock:{stack.region}::foundation-model/{model_id}"]


class ChatbotStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: DeploySettings, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        log_retention = retention_days(settings.log_retention_days)
        tables = ChatbotTables(self, "Tables", retain=settings.retain_data)
        session_key = SessionKey(self, "SessionKey", retain=settings.retain_data)
        # The key of the owner claims on tools calls: the engine signs, the MCP server checks.
        tools_key = ToolsKey(self, "ToolsKey")
        # A us./eu./apac. inference profile only works in its geography: refuse the deploy.
        require_profile_regions(self, (settings.claude_model_id, settings.embedding_model_id))
        removal = RemovalPolicy.RETAIN if settings.retain_data else RemovalPolicy.DESTROY
        search: VectorSearch | S3VectorStore
        if settings.vector_store == "s3vectors":
            search = S3VectorStore(
                self,
                "S3Vectors",
                bucket_name=settings.name("vectors"),
                index_name=SEARCH_INDEX,
                embedding_model_id=settings.embedding_model_id,
                embedding_dimensions=settings.embedding_dimensions,
                log_retention=log_retention,
                removal_policy=removal,
                # Vector bucket names are unique per account and region; a bucket retained
                # by a destroy keeps its name, so each creation of the stack takes a new one.
                unique_per_stack=True,
            )
            search_environment = search.environment
        else:
            search = VectorSearch(
                self,
                "VectorSearch",
                collection_name=f"chatbot-{settings.stage}",
                index_name=SEARCH_INDEX,
                embedding_model_id=settings.embedding_model_id,
                embedding_dimensions=settings.embedding_dimensions,
                log_retention=log_retention,
                removal_policy=removal,
                # A destroy may retain the collection and its encryption policy (retainData),
                # still holding their names: a name from the stack's id lets the stage deploy
                # again.
                unique_per_stack=True,
            )
            # The embedding model and dimensions, the same for every function that embeds.
            search_environment = {"VECTOR_STORE": "opensearch", **search.environment}

        # Every function that writes sessions, messages or analytics sets their TTL from these.
        retention_environment = {
            "SESSION_RETENTION_DAYS": str(settings.session_retention_days),
            "ANALYTICS_RETENTION_DAYS": str(settings.analytics_retention_days),
        }
        mcp = ChatbotFunction(
            self,
            "McpServer",
            handler="chatbot.handlers.mcp.handler",
            bundle=FULL,
            description="Chatbot MCP server: document search and record tools",
            environment={
                "RECORDS_TABLE": tables.name("records"),
                "TOOLS_SECRET_ARN": tools_key.secret.secret_arn,
                **search_environment,
            },
            log_retention=log_retention,
            memory_size=1024,
            timeout=Duration.seconds(60),
        )
        engine = ChatbotFunction(
            self,
            "Engine",
            handler="chatbot.handlers.engine.handler",
            bundle=FULL,
            description="Chatbot engine: routes, answers through Claude, streams to the client",
            environment={
                "CHATBOT_MODEL": "bedrock",
                "BEDROCK_CLAUDE_MODEL": settings.claude_model_id,
                "BEDROCK_REGION": self.region,
                "CONVERSATIONS_TABLE": tables.name("conversations"),
                "ANALYTICS_TABLE": tables.name("analytics"),
                "CONNECTIONS_TABLE": tables.name("connections"),
                **retention_environment,
                # The daily token budgets, checked before each model call.
                "LIMITS_TABLE": tables.name("limits"),
                "SESSION_TOKENS_PER_DAY": str(settings.session_tokens_per_day),
                "DEPLOYMENT_TOKENS_PER_DAY": str(settings.deployment_tokens_per_day),
                "MCP_TRANSPORT": "lambda",
                "MCP_SERVER_LAMBDA_ARN": mcp.function.function_arn,
                "TOOLS_SECRET_ARN": tools_key.secret.secret_arn,
                **search_environment,
                **(
                    {
                        "BEDROCK_GUARDRAIL_ID": settings.bedrock_guardrail_id,
                        "BEDROCK_GUARDRAIL_VERSION": settings.bedrock_guardrail_version,
                    }
                    if settings.bedrock_guardrail_id
                    else {}
                ),
                **(
                    {"RAG_RERANK_MODEL": settings.rerank_model_id}
                    if settings.rerank_model_id
                    else {}
                ),
            },
            log_retention=log_retention,
            memory_size=1024,
            timeout=ENGINE_TIMEOUT,
            # Off by default (context engineReservedConcurrency): it caps answers in flight.
            reserved_concurrency=settings.engine_reserved_concurrency or None,
        )
        missing_vectors = route_vectors_warning(
            settings.embedding_model_id, settings.embedding_dimensions
        )
        if missing_vectors:
            Annotations.of(engine).add_warning_v2("chatbot:routeVectors", missing_vectors)
        missing_classifier = route_classifier_warning(
            settings.embedding_model_id, settings.embedding_dimensions
        )
        if missing_classifier:
            Annotations.of(engine).add_warning_v2("chatbot:routeClassifier", missing_classifier)
        # Failed async invocations (retry policy and why: failure_queue) wait in a queue.
        engine_failures = FailedInvocations(self, "EngineFailures", function=engine.function)
        # A resend may retry an answer once no invocation can still be making it: the engine's
        # timeout after the oldest event Lambda may still start.
        answer_timeout = int(ENGINE_TIMEOUT.to_seconds() + MAX_EVENT_AGE.to_seconds())
        session_environment = {
            "SESSIONS_TABLE": tables.name("sessions"),
            "CONNECTIONS_TABLE": tables.name("connections"),
            "ANALYTICS_TABLE": tables.name("analytics"),
            "SESSION_TIMEOUT_MINUTES": str(settings.session_timeout_minutes),
            **retention_environment,
        }
        websocket = ChatbotFunction(
            self,
            "WebSocketHandler",
            handler="chatbot.handlers.websocket.handler",
            bundle=LIGHT,
            description="Chatbot WebSocket routes: sessions, validation, acks, history",
            environment={
                **session_environment,
                "CONVERSATIONS_TABLE": tables.name("conversations"),
                "ENGINE_FUNCTION_NAME": engine.function.function_name,
                "SESSION_SECRET_ARN": session_key.secret.secret_arn,
                "RATE_LIMIT_PER_MINUTE": str(settings.rate_limit_per_minute),
                "LIMITS_TABLE": tables.name("limits"),
                "SESSIONS_PER_IP_PER_MINUTE": str(settings.sessions_per_ip_per_minute),
                "MESSAGES_PER_IP_PER_MINUTE": str(settings.messages_per_ip_per_minute),
                "ANSWER_TIMEOUT_SECONDS": str(answer_timeout),
            },
            log_retention=log_retention,
        )
        cleanup = ChatbotFunction(
            self,
            "SessionCleanup",
            handler="chatbot.handlers.cleanup.handler",
            bundle=LIGHT,
            description="Chatbot session cleanup: closes idle sessions",
            environment=session_environment,
            log_retention=log_retention,
            timeout=Duration.minutes(5),
            # None by default (a fresh account's limit of 10 leaves nothing to reserve);
            # overlapping runs are safe, as each close is conditional.
            reserved_concurrency=settings.cleanup_reserved_concurrency or None,
        )
        # User sign-in (context userSignIn): a user pool, and its ID token checked at $connect.
        sign_in = (
            UserSignIn(
                self,
                "SignIn",
                stage=settings.stage,
                retain=settings.retain_data,
                log_retention=log_retention,
            )
            if settings.user_sign_in
            else None
        )
        api = ChatWebSocketApi(
            self,
            "WebSocketApi",
            handler=websocket.function,
            actions=ACTIONS,
            stage_name=settings.stage,
            rate_limit=50,
            burst_limit=100,
            log_retention=log_retention,
            authorizer=sign_in.authorizer if sign_in else None,
        )
        for function in (websocket, engine, cleanup):
            function.function.add_environment("WEBSOCKET_API_ENDPOINT", api.callback_url)

        # --- least privilege, function by function ---------------------------------------
        tables.grant(websocket.role, "sessions", ("GetItem", "PutItem", "UpdateItem"))
        # listSessions reads a signed-in user's sessions through the byUser index.
        tables.grant(websocket.role, "sessions", ("Query",), indexes=("byUser",))
        tables.grant(websocket.role, "connections", ("GetItem", "PutItem", "DeleteItem"))
        tables.grant(
            websocket.role,
            "conversations",
            ("GetItem", "PutItem", "UpdateItem", "Query"),
            indexes=("byTime",),
        )
        # UpdateItem: refused frames are counted in one event per session, minute and code.
        tables.grant(websocket.role, "analytics", ("PutItem", "UpdateItem"))
        # The per-IP counters: one atomic update each.
        tables.grant(websocket.role, "limits", ("UpdateItem",))
        session_key.grant_read(websocket.role)
        _grant_invoke(websocket.role, engine.function.function_arn)
        api.grant_manage_connections(websocket.role, ("POST",))

        tables.grant(
            engine.role,
            "conversations",
            ("GetItem", "PutItem", "UpdateItem", "Query"),
            indexes=("byTime",),
        )
        tables.grant(engine.role, "connections", ("Query",), indexes=("bySession",))
        tables.grant(engine.role, "analytics", ("PutItem",))
        # The token budgets: read before the model is called, added to after.
        tables.grant(engine.role, "limits", ("GetItem", "UpdateItem"))
        _grant_bedrock(
            engine.role,
            [
                *inference_arns(self, settings.claude_model_id),
                *inference_arns(self, settings.embedding_model_id),
            ],
        )
        if settings.bedrock_guardrail_id:
            # Converse calls with a guardrail need ApplyGuardrail on that guardrail.
            iam.Grant.add_to_principal(
                grantee=engine.role,
                actions=["bedrock:ApplyGuardrail"],
                resource_arns=[
                    self.format_arn(
                        service="bedrock",
                        resource="guardrail",
                        resource_name=settings.bedrock_guardrail_id,
                    )
                ],
            )
        if settings.rerank_model_id:
            _grant_rerank(engine.role, settings.rerank_model_id)
        _grant_invoke(engine.role, mcp.function.function_arn)
        tools_key.grant_read(engine.role)
        search.grant_read(engine.role)
        api.grant_manage_connections(engine.role, ("POST",))

        tables.grant(mcp.role, "records", READ_WRITE)
        tools_key.grant_read(mcp.role)
        _grant_bedrock(mcp.role, inference_arns(self, settings.embedding_model_id))
        # The MCP server only searches the collection; documents are written by ingestion.
        search.grant_read(mcp.role)
        # Whoever runs `chatbot ingest` against this collection (CHATBOT_ENV=aws). Only the data
        # access policy is granted here: these principals are not the stack's, so the IAM half
        # (aoss:APIAccessAll on the collection, and bedrock:InvokeModel for Titan) must be
        # attached to them by their own account administrator.
        for arn in settings.ingest_principals:
            search.grant_write_to_principal_arn(arn)

        tables.grant(cleanup.role, "sessions", ("UpdateItem", "Query"), indexes=("byActivity",))
        tables.grant(cleanup.role, "connections", ("Query", "DeleteItem"), indexes=("bySession",))
        tables.grant(cleanup.role, "analytics", ("PutItem",))
        api.grant_manage_connections(cleanup.role, ("DELETE",))

        CleanupSchedule(
            self,
            "CleanupSchedule",
            function=cleanup.function,
            rate_minutes=settings.cleanup_rate_minutes,
        )
        web = WebHosting(
            self,
            "Web",
            web_dir=WEB_DIR,
            websocket_url=api.url,
            removal_policy=RemovalPolicy.RETAIN if settings.retain_data else RemovalPolicy.DESTROY,
            log_retention=log_retention,
            sign_in=sign_in.web_config if sign_in else None,
        )
        if sign_in:
            sign_in.allow_redirects_to(web.url)
        # Only the chat page (and the origins the operator adds) may open a connection.
        websocket.function.add_environment(
            "ALLOWED_ORIGINS", ",".join([web.url.rstrip("/"), *_origins(settings.allowed_origins)])
        )
        observability = Observability(
            self,
            "Observability",
            functions={
                "websocket": websocket.function,
                "engine": engine.function,
                "mcp": mcp.function,
                "cleanup": cleanup.function,
                **({"authorizer": sign_in.function.function} if sign_in else {}),
            },
            api_id=api.api.api_id,
            stage_name=settings.stage,
            alarm_email=settings.alarm_email,
            dashboard_name=settings.name("dashboard"),
            failure_queues={"engine": engine_failures.queue},
        )
        TokenUseAlarm(
            self,
            "TokenUseAlarm",
            model_id=settings.claude_model_id,
            tokens_per_hour=settings.bedrock_tokens_alarm_per_hour,
            topic=observability.topic,
        )
        # For analysts (`chatbot analytics` with CHATBOT_ENV=aws): read the analytics table by
        # day and by event type, nothing else. Attach it to their role or group.
        analysts = iam.ManagedPolicy(
            self,
            "AnalyticsReader",
            description="Read chatbot analytics: Query the analytics table and its byType index",
        )
        analytics_arn = tables.tables["analytics"].table_arn
        analysts.add_statements(
            iam.PolicyStatement(
                actions=["dynamodb:Query"],
                resources=[analytics_arn, f"{analytics_arn}/index/byType"],
            )
        )
        CfnOutput(
            self,
            "AnalyticsReaderPolicyArn",
            value=analysts.managed_policy_arn,
            description="Attach to the analysts who run `chatbot analytics` against this stage",
        )
        operator_outputs(
            self,
            search=search,
            engine=engine.function,
            engine_failures=engine_failures.queue,
            alarm_topic=observability.topic,
            tables=tables,
        )
        CfnOutput(self, "WebSocketUrl", value=api.url, description="Chat clients connect here")
        CfnOutput(self, "WebUrl", value=web.url, description="The chat page")
        if sign_in:
            CfnOutput(
                self,
                "UserPoolId",
                value=sign_in.user_pool.user_pool_id,
                description="Users who may chat (create them here, or they sign up)",
            )
            CfnOutput(
                self,
                "UserPoolClientId",
                value=sign_in.client.user_pool_client_id,
                description="The chat page's app client",
            )
            CfnOutput(
                self,
                "SignInUrl",
                value=sign_in.sign_in_url(),
                description="The hosted UI's sign-in page for the chat page",
            )
        self.functions = {"websocket": websocket, "engine": engine, "mcp": mcp, "cleanup": cleanup}
        if sign_in:
            self.functions["authorizer"] = sign_in.function


def _origins(text: str) -> list[str]:
    return [origin.strip() for origin in text.split(",") if origin.strip()]


def _grant_invoke(grantee: iam.IGrantable, function_arn: str) -> None:
    # The function itself only: Function.grant_invoke would add every version (ARN:*).
    iam.Grant.add_to_principal(
        grantee=grantee, actions=["lambda:InvokeFunction"], resource_arns=[function_arn]
    )


def _grant_rerank(grantee: iam.Role, model_id: str) -> None:
    """Bedrock's Rerank API for the RAG path (chatbot.adapters.aws.reranker): the action,
    which takes no resource, and InvokeModel on the reranking model it calls."""
    stack = Stack.of(grantee)
    iam.Grant.add_to_principal(
        grantee=grantee,
        actions=["bedrock:InvokeModel"],
        resource_arns=[
            f"arn:{stack.partition}:bedrock:{stack.region}::foundation-model/{model_id}"
        ],
    )
    iam.Grant.add_to_principal(grantee=grantee, actions=["bedrock:Rerank"], resource_arns=["*"])
    acknowledge(
        grantee,
        "AwsSolutions-IAM5[Resource::*]",
        "bedrock:Rerank supports no resource-level permission (the service authorization "
        "reference lists no resource type for it); the model it may call is limited by "
        "InvokeModel on the one reranking model ARN",
    )


def _grant_bedrock(grantee: iam.Role, arns: list[str]) -> None:
    iam.Grant.add_to_principal(
        grantee=grantee,
        actions=["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
        resource_arns=arns,
    )
    for arn in arns:
        if ":bedrock:*::foundation-model/" in arn:
            acknowledge(
                grantee,
                "AwsSolutions-IAM5[Resource::"
                + arn.replace(Stack.of(grantee).partition, "<AWS::Partition>", 1)
                + "]",
                "A cross-region inference profile may serve the request from any region of its "
                "geography, so the one model's ARN must allow every region; the profile ARN "
                "itself is this account's and region's.",
            )
