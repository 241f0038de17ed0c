"""schemathesis hooks for tests/openapi_contract.rs: tus bodies are raw bytes
(application/offset+octet-stream), which schemathesis has no serializer for by itself."""

import schemathesis


@schemathesis.serializer("application/offset+octet-stream")
def tus_bytes(ctx, value):
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if value is None:
        return b""
    return str(value).encode("utf-8")
