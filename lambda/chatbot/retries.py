"""What every retry loop here shares: which AWS error codes mean "try again", and how long
the n-th wait may be (exponential backoff; callers draw a random delay below it, full jitter,
so clients throttled together do not return together)."""

from __future__ import annotations

# Error codes of Bedrock (and AWS services at large) for a busy or briefly broken service.
TRANSIENT_ERROR_CODES = frozenset(
    {
        "ThrottlingException",
        "throttlingException",
        "TooManyRequestsException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalServerException",
        "ModelNotReadyException",
        "ModelTimeout",
        "ModelTimeoutException",
    }
)


def backoff_ceiling(failures: int, base: float, cap: float) -> float:
    """The longest wait after the ``failures``-th failure in a row (1, 2, ...): ``base``
    doubled each time, at most ``cap``."""
    return float(min(cap, base * 2.0 ** (failures - 1)))
