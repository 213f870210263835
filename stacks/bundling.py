"""Docker-free Lambda packaging: pip installs wheels for the Lambda platform, then our package.

CDK local bundling runs this on the deploying machine (any machine with Python and Node);
the Docker image is only CDK's fallback and is never needed where pip runs. The asset hash is
computed from the sources and the requirements, so an unchanged package is not rebuilt.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "lambda"
LOCK = REPO / "requirements.txt"
# The newest Python Lambda runs, on Graviton: about 20 % cheaper per GB-second than x86_64
# at equal or better speed for this I/O-bound code, and every dependency ships arm64 wheels.
PYTHON_VERSION = "3.14"
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
PLATFORM = "manylinux2014_aarch64"
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "py.typed")


@dataclass(frozen=True)
class LambdaBundle:
    """One deployment package: our ``chatbot`` package plus the named requirements.

    ``requirements`` are pip requirement specifiers, pinned by requirements.txt (a
    constraints file here). ``None`` means the whole of requirements.txt.
    """

    name: str
    requirements: tuple[str, ...] | None = None

    def pip_arguments(self) -> list[str]:
        if self.requirements is None:
            return ["-r", str(LOCK)]
        return ["-c", str(LOCK), *self.requirements]

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        digest.update(f"{self.name}|{self.requirements}|{PYTHON_VERSION}|{PLATFORM}".encode())
        digest.update(LOCK.read_bytes())
        # Everything that lands in the package: our code, its data files (the router's
        # examples and their vectors) and the tool schemas beside it.
        packaged = [*packaged_files(SOURCE / "chatbot"), *(REPO / "schemas").glob("*.yaml")]
        for path in sorted(packaged):
            digest.update(str(path.relative_to(REPO)).encode())
            digest.update(path.read_bytes())
        return digest.hexdigest()

    def code(self) -> lambda_.Code:
        return lambda_.Code.from_asset(
            str(SOURCE),
            asset_hash_type=AssetHashType.CUSTOM,
            asset_hash=self.fingerprint(),
            bundling=BundlingOptions(
                # CDK requires an image; it would be used only if local bundling declined,
                # which it never does (it fails loudly instead), so no Docker is ever needed.
                image=DockerImage.from_registry(f"public.ecr.aws/sam/build-python{PYTHON_VERSION}"),
                command=[
                    "bash",
                    "-c",
                    "echo 'bundle locally: python -m pip is required' >&2; exit 1",
                ],
                local=PipBundling(self),
            ),
        )


def titan_embedding_id(model_id: str, dimensions: int) -> str:
    """The id the engine's Titan adapter reports (``TitanEmbeddings.model_id``)."""
    return f"{model_id}:{dimensions}"


def route_vectors_warning(
    model_id: str, dimensions: int, folder: Traversable | Path | None = None
) -> str | None:
    """Why every cold engine would embed the router's examples (about 12 rounds of Titan
    requests before its first answer), or None when the package ships their vectors."""
    from chatbot.engine.route_vectors import VectorsKey, load_shipped
    from chatbot.engine.semantic_router import RouteExamples

    examples = RouteExamples.load()
    embedding_id = titan_embedding_id(model_id, dimensions)
    key = VectorsKey(embedding_id, dimensions, examples.fingerprint())
    if load_shipped(key, len(examples.pairs()), folder) is not None:
        return None
    return (
        f"The package ships no router example vectors for {embedding_id} and the current "
        "route_examples.yaml: each cold engine embeds the examples before its first answer. "
        "Run `python scripts/route_vectors.py --titan --model-id "
        f"{model_id} --dimensions {dimensions}` with AWS credentials and commit the file."
    )


def route_classifier_warning(
    model_id: str, dimensions: int, folder: Traversable | Path | None = None
) -> str | None:
    """Why the deployed router would go by the nearest examples rather than its learned
    classifier (85 % against 96 % on the held-out set offline), or None when the package
    ships a classifier trained for the model."""
    from chatbot.engine.route_classifier import ClassifierKey, load_shipped

    embedding_id = titan_embedding_id(model_id, dimensions)
    if load_shipped(ClassifierKey.current(embedding_id, dimensions), folder) is not None:
        return None
    return (
        f"The package ships no router classifier for {embedding_id}: the engine routes by the "
        "nearest example questions, which misroute more. Run `python scripts/train_router.py "
        f"--titan --model-id {model_id} --dimensions {dimensions}` with AWS credentials (make "
        "deploy does) and commit the file."
    )


def packaged_files(root: Path) -> list[Path]:
    """The files under ``root`` that ``PipBundling`` copies into a package."""
    return [
        path
        for path in root.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and path.suffix != ".pyc"
        and path.name != "py.typed"
    ]


# Lean: the websocket handler and cleanup never import Strands or a model SDK, and boto3
# comes with the Lambda runtime, so their cold start loads little.
LIGHT = LambdaBundle("light", ("aws-lambda-powertools", "pydantic", "pydantic-settings"))
# The $connect authorizer: the light set plus PyJWT and cryptography to verify RS256 tokens.
SIGN_IN = LambdaBundle(
    "sign-in",
    ("aws-lambda-powertools", "pydantic", "pydantic-settings", "PyJWT", "cryptography"),
)
# Everything: the engine (Strands, Bedrock), the MCP server, the search-index setup.
FULL = LambdaBundle("full")


@jsii.implements(ILocalBundling)
class PipBundling:
    def __init__(self, bundle: LambdaBundle) -> None:
        self._bundle = bundle

    def try_bundle(self, output_dir: str, *args: Any, **kwargs: Any) -> bool:
        output = Path(output_dir)
        subprocess.run(  # noqa: S603 - fixed argument list, no shell
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-compile",
                "--only-binary=:all:",
                "--implementation",
                "cp",
                "--python-version",
                PYTHON_VERSION,
                "--platform",
                PLATFORM,
                "--target",
                str(output),
                *self._bundle.pip_arguments(),
            ],
            check=True,
        )
        shutil.copytree(SOURCE / "chatbot", output / "chatbot", ignore=_IGNORED, dirs_exist_ok=True)
        schemas = REPO / "schemas"
        if schemas.is_dir() and any(schemas.iterdir()):
            shutil.copytree(schemas, output / "schemas", ignore=_IGNORED, dirs_exist_ok=True)
        for cache in output.rglob("__pycache__"):
            shutil.rmtree(cache, ignore_errors=True)
        return True
