#!/usr/bin/env python3
"""Mail under concurrency: THREADS conversations of REPLIES messages each, sent over SMTP to a
running `helpdesk serve --smtp ADDR` on loopback, the conversations in parallel and each one's
messages one after another (as a customer answers). Then counts, through the API, the messages
stored, and prints one JSON line: sent, accepted (250), refused (4xx/5xx), stored, lost.

    python3 scripts/smtp-stress.py --smtp 127.0.0.1:2525 --api http://127.0.0.1:3000 \
        --token "$(helpdesk token --role admin --agent admin@example.com --data DIR)" \
        [--threads 400] [--replies 5] [--workers 32] [--domain helpdesk.localhost]

Loopback only, bounded: THREADS x REPLIES messages, a 30 s timeout on every connection.
"""

import argparse
import concurrent.futures
import json
import smtplib
import sys
import time
import urllib.request
import uuid


def send(host, port, domain, sender, msg_id, subject, body, in_reply_to=None):
    headers = [
        f"From: {sender}",
        f"To: support@{domain}",
        f"Message-ID: <{msg_id}>",
        f"Subject: {subject}",
        "Date: Mon, 07 Dec 2026 10:00:00 +0000",
        "Content-Type: text/plain; charset=utf-8",
    ]
    if in_reply_to:
        headers.append(f"In-Reply-To: <{in_reply_to}>")
        headers.append(f"References: <{in_reply_to}>")
    raw = "\r\n".join(headers) + "\r\n\r\n" + body + "\r\n"
    try:
        with smtplib.SMTP(host, port, timeout=30) as s:
            s.ehlo("stress.example")
            s.sendmail(sender, [f"support@{domain}"], raw.encode())
        return True
    except (smtplib.SMTPException, OSError) as e:
        print(f"refused {msg_id}: {e}", file=sys.stderr)
        return False


def conversation(args, host, port, run, n):
    sender = f"customer{n}.{run}@example.com"
    first = f"t{n}.0.{run}@stress.example"
    accepted = 0
    if send(host, port, args.domain, sender, first, f"Stress {run} #{n}", "First message"):
        accepted += 1
    for r in range(1, args.replies):
        mid = f"t{n}.{r}.{run}@stress.example"
        if send(host, port, args.domain, sender, mid, f"Re: Stress {run} #{n}",
                f"Reply {r}", in_reply_to=first):
            accepted += 1
    return accepted


def api(args, path):
    req = urllib.request.Request(args.api + path,
                                 headers={"authorization": f"Bearer {args.token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def stored_messages(args, run):
    """Messages on the tickets this run opened (by subject), through the API."""
    total, tickets, cursor = 0, 0, None
    while True:
        q = f"/api/v1/tickets?limit=100&q=Stress%20{run}" + (f"&cursor={cursor}" if cursor else "")
        page = api(args, q)
        for t in page.get("items", []):
            if f"Stress {run}" not in t.get("subject", ""):
                continue
            tickets += 1
            view = api(args, f"/api/v1/tickets/{t['id']}")
            total += len(view.get("messages", []))
        cursor = page.get("next_cursor")
        if not cursor:
            return tickets, total


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--smtp", required=True)
    p.add_argument("--api", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--threads", type=int, default=400)
    p.add_argument("--replies", type=int, default=5)
    p.add_argument("--workers", type=int, default=32)
    p.add_argument("--domain", default="helpdesk.localhost")
    p.add_argument("--settle", type=float, default=5.0, help="seconds to let routing finish")
    args = p.parse_args()
    host, port = args.smtp.rsplit(":", 1)
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("loopback only")
    run = uuid.uuid4().hex[:8]
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
        accepted = sum(pool.map(lambda n: conversation(args, host, int(port), run, n),
                                range(args.threads)))
    elapsed = time.time() - started
    time.sleep(args.settle)
    sent = args.threads * args.replies
    tickets, stored = stored_messages(args, run)
    print(json.dumps({"run": run, "sent": sent, "accepted": accepted, "refused": sent - accepted,
                      "tickets": tickets, "stored": stored, "lost": accepted - stored,
                      "seconds": round(elapsed, 1)}))


if __name__ == "__main__":
    main()
