"""SaslAuthenticate (key 36), v0-v2 (v1: session_lifetime_ms, KIP-368; v2 flexible).

Carries the SASL tokens after a SaslHandshake v1 to the connection's
authenticator (security/sasl.py): the server's challenge comes back in
auth_bytes; a refusal is SASL_AUTHENTICATION_FAILED with Kafka's message, and
the connection closes once it is sent. An authenticated connection, or one
on a listener without SASL, gets ILLEGAL_SASL_STATE, as from Kafka's KafkaApis.
"""

from fluxmq.errors import ErrorCode
from fluxmq.handlers import answer_refusal, api

API_KEY = 36


def _response(code, message, auth_bytes=b"", lifetime_ms=0) -> dict:
    return {"error_code": code, "error_message": message, "auth_bytes": auth_bytes, "session_lifetime": lifetime_ms}


@api(API_KEY, "SaslAuthenticate", 0, 2)
def handle(ctx, request):
    sasl = ctx.conn.sasl
    if sasl is None or sasl.authenticated:  # Kafka's KafkaApis says the same on a PLAINTEXT listener
        return _response(ErrorCode.ILLEGAL_SASL_STATE, "SaslAuthenticate request received after successful "
                         "authentication")
    from fluxmq.security.sasl import SaslAuthenticationFailed  # only SASL listeners get here
    try:
        challenge, lifetime_ms = sasl.authenticate(request.auth_bytes)
    except SaslAuthenticationFailed as e:
        return answer_refusal(sasl, _response(ErrorCode.SASL_AUTHENTICATION_FAILED, str(e)))
    if sasl.authenticated:
        ctx.conn.principal = sasl.principal
    return _response(ErrorCode.NONE, None, challenge, lifetime_ms)
