#!/usr/bin/env python3
"""The CDK app: `cdk synth`, `cdk deploy`, `cdk destroy` (or make synth / deploy / destroy)."""

from __future__ import annotations

import sys
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import Validations
from cdk_nag import AwsSolutionsChecks

# The runtime package lives in lambda/ (a keyword, so it is a source root, not a package);
# the stack reads its table definitions and protocol actions from there.
sys.path.insert(0, str(Path(__file__).resolve().parent / "lambda"))

from stacks.chatbot_stack import ChatbotStack
from stacks.settings import DeploySettings


def build_app(app: cdk.App) -> ChatbotStack:
    settings = DeploySettings.from_context(app.node)
    stack = ChatbotStack(
        app,
        f"Chatbot-{settings.stage}",
        settings=settings,
        description="Serverless WebSocket chatbot (API Gateway, Lambda, DynamoDB, Bedrock)",
    )
    cdk.Tags.of(stack).add("project", "chatbot")
    cdk.Tags.of(stack).add("stage", settings.stage)
    # Every AwsSolutions finding fails synth unless acknowledged in code with its reason.
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stack


if __name__ == "__main__":
    application = cdk.App()
    build_app(application)
    application.synth()
