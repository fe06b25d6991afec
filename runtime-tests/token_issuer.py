"""A small token server for docker-registry's token auth, for the registry tests.

Usage: token_issuer.py PORT CERT_OUT USER PASSWORD

Writes its signing certificate to CERT_OUT (the registry's `rootcertbundle`), then answers
GET /token?service=...&scope=... with an ES256 JWT granting every requested action to
USER:PASSWORD (Basic auth) and nothing to anyone else, and POST /token with the OAuth2
refresh grant (Docker's identity tokens) for the refresh token PASSWORD-refresh.
"""
import base64, datetime, json, sys, time, uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlparse, parse_qs

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

port, cert_out, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hako-test-issuer")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
with open(cert_out + ".tmp", "wb") as f:
    f.write(cert.public_bytes(serialization.Encoding.PEM))
import os
os.rename(cert_out + ".tmp", cert_out)


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(service, scopes, subject):
    header = {"alg": "ES256", "typ": "JWT",
              "x5c": [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]}
    access = []
    for scope in scopes:
        kind, _, rest = scope.partition(":")
        repo, _, actions = rest.rpartition(":")
        if subject:
            access.append({"type": kind, "name": repo, "actions": actions.split(",")})
    t = int(time.time())
    claims = {"iss": "hako-test-issuer", "sub": subject or "", "aud": service,
              "exp": t + 300, "nbf": t - 10, "iat": t, "jti": str(uuid.uuid4()), "access": access}
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        q = parse_qs(urlparse(self.path).query)
        subject = None
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            given = base64.b64decode(auth[6:]).decode()
            if given != f"{user}:{password}":
                self.send_response(401)
                self.end_headers()
                return
            subject = user
        body = json.dumps({"token": token(q.get("service", [""])[0], q.get("scope", []), subject)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        form = parse_qs(self.rfile.read(length).decode())
        field = lambda k: form.get(k, [""])[0]
        if field("grant_type") != "refresh_token" or field("refresh_token") != f"{password}-refresh":
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        access = token(field("service"), field("scope").split(), user)
        body = json.dumps({"access_token": access, "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", port), Handler).serve_forever()
