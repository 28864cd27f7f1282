# The API behind the gateway in the tests, standing in for a .NET one: it
# answers every request with the identity headers it received, as JSON.
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    def answer(self):
        body = json.dumps({h: self.headers.get(h, "") for h in ("X-Auth-Subject", "X-Auth-Session", "X-Auth-Token-Id", "Jwtrevoke-Stale")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = answer

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Echo).serve_forever()
