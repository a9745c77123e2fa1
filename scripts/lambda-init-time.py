#!/usr/bin/env python3
"""Lambda init time of a bootstrap: time from exec to its first `GET .../invocation/next`.

Starts a tiny Lambda Runtime API on loopback (it only records when the first "next" request
arrives, then the process is killed), runs the binary with AWS_LAMBDA_RUNTIME_API pointing at it
and an environment like the template's ApiFunction's (fake values: nothing is called at init),
N times, and prints the median, p90 and min in milliseconds.

    python3 scripts/lambda-init-time.py path/to/api [runs]
"""

import http.server
import os
import statistics
import subprocess
import sys
import threading
import time

KEY = "k" * 64
ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "AWS_SESSION_TOKEN": "token",
    "AWS_LAMBDA_FUNCTION_NAME": "ApiFunction",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_LOG_STREAM_NAME": "stream",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/ApiFunction",
    "HELPDESK_MAIL_FROM": "support@help.example.com",
    "HELPDESK_MAIL_DOMAIN": "help.example.com",
    "HELPDESK_THREAD_KEY": KEY,
    "TABLE_NAME": "helpdesk",
    "RUST_LOG": "info",
    "CLASSIFIER_BUCKET": "mail-bucket",
    "HELPDESK_KB_SEARCH": "opensearch",
    "HELPDESK_OPENSEARCH_ENDPOINT": "search-kb.us-east-1.es.amazonaws.com",
    "HELPDESK_OPENSEARCH_INDEX": "kb",
    "HELPDESK_KB_MAX_AGE_SECONDS": "300",
    "ROUTING_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/routing",
    "ROUTING_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/routing-dlq",
    "HELPDESK_COGNITO_DOMAIN": "https://hd.auth.us-east-1.amazoncognito.com",
    "HELPDESK_COGNITO_ISSUER": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Ex4mPle01",
    "HELPDESK_COGNITO_CLIENT_ID": "1example23456789abcdefghij",
    "HELPDESK_CONSOLE_CALLBACK_URL": "https://example.com/app/auth/callback",
    "HELPDESK_PUBLIC_URL": "https://example.com",
    "HELPDESK_SESSION_KEY": KEY,
    "MAIL_BUCKET": "mail-bucket",
    "PATH": "/usr/bin:/bin",
}


def measure(binary: str) -> float:
    arrived = threading.Event()
    stamp = {}

    class Runtime(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if self.path.endswith("/invocation/next") and not arrived.is_set():
                stamp["t"] = time.perf_counter()
                arrived.set()
            # Never answer: the measurement ends here.
            time.sleep(5)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Runtime)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(ENV, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}")
    start = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ok = arrived.wait(20)
    proc.kill()
    _, err = proc.communicate()
    server.shutdown()
    if not ok:
        sys.exit(f"{binary} never asked for an invocation: {err.decode(errors='replace')[-2000:]}")
    return (stamp["t"] - start) * 1000


def main() -> None:
    binary = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    measure(binary)  # warm the page cache
    times = sorted(measure(binary) for _ in range(runs))
    p90 = times[min(len(times) - 1, int(len(times) * 0.9))]
    size = os.path.getsize(binary) / 1e6
    print(f"{binary}: {size:.1f} MB; init (exec -> first /invocation/next) over {runs} runs: "
          f"median {statistics.median(times):.1f} ms, p90 {p90:.1f} ms, min {times[0]:.1f} ms")


if __name__ == "__main__":
    main()
