#!/usr/bin/env python3
"""A registry on 127.0.0.1 that serves one small, valid image under several
repositories, and misbehaves on its layer blob according to the repository:

  endless/img  the layer, then random bytes for ever (no Content-Length)
  trickle/img  one byte of the layer every half second
  good/img     the layer, as a registry should

Prints its port on the first line of stdout, then serves until killed.
"""
import gzip
import hashlib
import http.server
import io
import json
import os
import socketserver
import sys
import tarfile
import time

def digest(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def make_image(mode):
    """One small image per repository, so that no two share a layer."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        data = f"served by the hostile registry as {mode}\n".encode() * 100
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        info.mode = 0o644
        t.addfile(info, io.BytesIO(data))
    layer = gzip.compress(raw.getvalue(), mtime=0)
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": [digest(raw.getvalue())]},
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": digest(layer), "size": len(layer)}],
    }).encode()
    return {"layer": layer, "config": config, "manifest": manifest}


IMAGES = {mode: make_image(mode) for mode in ("endless", "trickle", "good")}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_bytes(self, body, ctype, digest=None, head=False):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if digest:
            self.send_header("Docker-Content-Digest", digest)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET(head=True)

    def do_GET(self, head=False):
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts == ["v2"]:
            return self.send_bytes(b"{}", "application/json", head=head)
        if len(parts) < 5 or parts[0] != "v2":
            return self.send_error(404)
        mode, kind, ref = parts[1], parts[3], parts[4]
        if mode not in IMAGES:
            return self.send_error(404)
        img = IMAGES[mode]
        LAYER = img["layer"]
        if kind == "manifests":
            return self.send_bytes(img["manifest"], "application/vnd.oci.image.manifest.v1+json",
                                   digest(img["manifest"]), head)
        if kind == "blobs" and ref == digest(img["config"]):
            return self.send_bytes(img["config"], "application/octet-stream", ref, head)
        if kind != "blobs" or ref != digest(LAYER):
            return self.send_error(404)
        if mode == "good" or head:
            return self.send_bytes(LAYER, "application/octet-stream", ref, head)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            if mode == "endless":
                self.wfile.write(LAYER)
                while True:
                    self.wfile.write(os.urandom(1 << 16))
            elif mode == "trickle":
                for b in LAYER:
                    self.wfile.write(bytes([b]))
                    self.wfile.flush()
                    time.sleep(0.5)
        except (BrokenPipeError, ConnectionResetError):
            pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
