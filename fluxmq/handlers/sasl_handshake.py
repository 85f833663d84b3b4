"""SaslHandshake (key 17), v0-v1.

On a SASL listener the connection's authenticator (security/sasl.py) picks
the mechanism: UNSUPPORTED_SASL_MECHANISM with the enabled list (then the
connection closes), else NONE and the list; v1 is followed by SaslAuthenticate
requests, v0 by bare SASL tokens. After authentication a handshake starts
re-authentication when sessions expire (KIP-368). Everywhere else - a
PLAINTEXT listener, an authenticated connection without session expiry -
Kafka's KafkaApis answers ILLEGAL_SASL_STATE, and so does FluxMQ.
"""

from fluxmq.errors import ErrorCode
from fluxmq.handlers import answer_refusal, api

API_KEY = 17


@api(API_KEY, "SaslHandshake", 0, 1)
def handle(ctx, request):
    sasl = ctx.conn.sasl
    if sasl is None or (sasl.authenticated and not sasl.starts_reauthentication()):
        return {"error_code": ErrorCode.ILLEGAL_SASL_STATE, "mechanisms": []}
    error, mechanisms = sasl.handshake(request.mechanism, ctx.api_version)
    if error is not None:
        return answer_refusal(sasl, {"error_code": ErrorCode[error], "mechanisms": list(mechanisms)})
    return {"error_code": ErrorCode.NONE, "mechanisms": list(mechanisms)}
