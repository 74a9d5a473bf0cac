"""Read a data snapshot's bytes from a local path or an s3:// URI and hash them.

Kept apart from parsing so that the skip path hashes a snapshot without importing pandas or RDKit.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlparse

from trainer.errors import BadInput

MISSING_CODES = {"NoSuchKey", "NoSuchBucket", "404"}
DENIED_CODES = {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"}


def read_snapshot(location: str) -> bytes:
    """The snapshot's bytes; a relative path is taken from the current directory."""
    if location.startswith("s3://"):
        return _read_s3(location)
    try:
        return Path(location).read_bytes()
    except OSError as err:
        raise BadInput(f"data.path: cannot read {location} ({err.strerror})") from err


def _read_s3(uri: str) -> bytes:
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
    return response["Body"].read()


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
