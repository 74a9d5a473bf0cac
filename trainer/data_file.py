"""Read a data snapshot's bytes from a local path or an s3:// URI and hash them.

Kept apart from parsing so that the skip path hashes a snapshot without importing pandas or RDKit.
"""

from __future__ import annotations

import hashlib
import os
import stat
from urllib.parse import urlparse

from trainer.errors import BadInput

MISSING_CODES = {"NoSuchKey", "NoSuchBucket", "404"}
DENIED_CODES = {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"}
MAX_BYTES_VARIABLE = "TRAINER_MAX_DATA_BYTES"
DEFAULT_MAX_BYTES = 1 << 30
_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def max_bytes() -> int:
    """The largest snapshot read: $TRAINER_MAX_DATA_BYTES, else 1 GiB. It is read whole into memory."""
    text = os.environ.get(MAX_BYTES_VARIABLE, str(DEFAULT_MAX_BYTES)).strip()
    if not text.isdigit() or int(text) < 1:
        raise BadInput(f"{MAX_BYTES_VARIABLE}: {text!r} is not a whole number of bytes >= 1")
    return int(text)


def read_snapshot(location: str) -> bytes:
    """The snapshot's bytes; a relative path is taken from the current directory. Only a regular file or an
    s3 object is read, and at most max_bytes() of it: a FIFO would block forever, /dev/zero never end."""
    limit = max_bytes()
    if location.startswith("s3://"):
        return _read_s3(location, limit)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer before fstat can refuse it.
        descriptor = os.open(location, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as err:
        raise BadInput(f"data.path: cannot read {location} ({err.strerror})") from err
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        # Before fdopen, which refuses a directory with a traceback of its own.
        os.close(descriptor)
        if stat.S_ISDIR(mode):
            raise BadInput(f"data.path: cannot read {location} (Is a directory)")
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise BadInput(f"data.path: {location} is {kind}; give a regular file or an s3:// URI")
    with os.fdopen(descriptor, "rb") as handle:
        try:
            raw = handle.read(limit + 1)
        except OSError as err:
            raise BadInput(f"data.path: cannot read {location} ({err.strerror})") from err
    _refuse_larger(location, len(raw), limit)
    return raw


def _refuse_larger(location: str, size: int, limit: int) -> None:
    if size > limit:
        raise BadInput(
            f"data.path: {location} is larger than {limit:,} bytes ({MAX_BYTES_VARIABLE}); raise the limit to read it"
        )


def _read_s3(uri: str, limit: int) -> bytes:
    import boto3
    from botocore.exceptions import ClientError, NoCredentialsError

    parsed = urlparse(uri)
    if not parsed.netloc or not parsed.path.strip("/"):
        raise BadInput(f"data.path: {uri} is not of the form s3://bucket/key")
    try:
        response = boto3.client("s3").get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))
    except NoCredentialsError as err:
        raise BadInput(f"data.path: cannot read {uri}: no AWS credentials found") from err
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code in MISSING_CODES:
            raise BadInput(f"data.path: {uri} does not exist ({code})") from err
        if code in DENIED_CODES:
            raise BadInput(f"data.path: cannot read {uri}: access denied ({code})") from err
        raise
    _refuse_larger(uri, response.get("ContentLength", 0), limit)
    return response["Body"].read(limit + 1)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
