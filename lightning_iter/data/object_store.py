"""Object-store settings litdata does not take from the environment by itself.

litdata reads `s3://` through boto3 (credentials, region and `AWS_ENDPOINT_URL` from the usual AWS variables or
`~/.aws`) and fetches chunks through obstore, whose HTTP client refuses a plain-`http://` endpoint (a local MinIO
or moto server) even when boto3 accepts it. `allow_plain_http_endpoint` lets obstore use such an endpoint too,
only when `AWS_ENDPOINT_URL` itself is `http://...`; https endpoints and AWS are left untouched.
"""

from __future__ import annotations

import os

ENDPOINT_ENV = "AWS_ENDPOINT_URL"


def allow_plain_http_endpoint() -> bool:
    """Let litdata's obstore client talk to `AWS_ENDPOINT_URL` when that is plain http; whether it did."""
    if not os.environ.get(ENDPOINT_ENV, "").startswith("http://"):
        return False
    try:
        from litdata.streaming import downloader
    except ImportError:
        return False
    options = getattr(downloader, "_OBSTORE_CLIENT_OPTIONS", None)  # the client options litdata gives obstore
    if not isinstance(options, dict):
        return False
    options["allow_http"] = "true"
    return True
