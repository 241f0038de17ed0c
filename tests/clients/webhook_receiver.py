#!/usr/bin/env python3
"""A webhook receiver for the tests: verifies every request with the Standard Webhooks reference
library (`standardwebhooks` on PyPI) and prints one JSON line per request on stdout.

    webhook_receiver.py --secret whsec_... [--fail-first N] [--hang]

Prints `listening PORT` first (it binds 127.0.0.1:0). Each request line: {"ok": true/false,
"id", "type", "body", "error", "status"}. `--fail-first N` answers the first N verified requests
with 503 (the server must retry); `--hang` never answers (the server's timeout must fire).
The secret may be changed at run time by POSTing it to /secret (used when an endpoint is
registered after the receiver started).
"""

import argparse
import http.server
import json
import sys
import threading
import time

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--secret", default="")
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--hang", action="store_true")
    args = parser.parse_args()
    state = {"secret": args.secret, "failures_left": args.fail_first}
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *_):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            if self.path == "/secret":
                with lock:
                    state["secret"] = body.decode().strip()
                self.send_response(204)
                self.end_headers()
                return
            if args.hang:
                time.sleep(3600)
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            line = {"id": headers.get("webhook-id"), "path": self.path}
            try:
                with lock:
                    secret = state["secret"]
                payload = Webhook(secret).verify(body, headers)
                line.update(ok=True, type=payload.get("type"), body=payload)
            except (WebhookVerificationError, ValueError, KeyError) as e:
                line.update(ok=False, error=str(e))
            status = 200
            with lock:
                if line["ok"] and state["failures_left"] > 0:
                    state["failures_left"] -= 1
                    status = 503
            line["status"] = status
            with lock:  # one whole line per request, even when requests arrive together
                sys.stdout.write(json.dumps(line) + "\n")
                sys.stdout.flush()
            self.send_response(status if line["ok"] else 400)
            self.send_header("content-length", "0")
            self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"listening {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
