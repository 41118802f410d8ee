"""Secrets stay on the host, checked against the real `poe-host` binary and its log.

Usage: secrets.py POE_HOST_BINARY GUESTS_DIR. Serves the `relay` example with its OpenAI key
taken from the host's environment (`[env] OPENAI_API_KEY = { from_env = … }`) and the Poe
access key from POE_ACCESS_KEY, against a local OpenAI-compatible upstream, at the most
verbose log level of every crate (`RUST_LOG=trace`: hyper, reqwest and wasmtime too). The
relay must answer and the upstream must get the key; a second relay whose endpoint is not
listed must be denied; and neither key may appear in the log or in the admin view. Prints
one `ok`/`FAIL` line per check and exits non-zero on a failure.
"""
import http.server, json, os, re, subprocess, sys, tempfile, threading, time, urllib.request

POE_KEY = "smoke-key-0123456789abcdefghijkl"
OPENAI_KEY = "sk-smoke-secret-9f8e7d6c5b4a"
ADMIN_KEY = "smoke-admin-0123456789abcdefghij"
seen_auth = []


class Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        seen_auth.append(self.headers.get("authorization"))
        chunks = [{"choices": [{"delta": {"content": w}}]} for w in ("kept ", "secret")]
        body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


def ask(url, bot, key=POE_KEY):
    body = {"version": "1.2", "type": "query", "query": [{"role": "user", "content": "hi"}],
            "user_id": "u", "conversation_id": "c", "message_id": "m"}
    req = urllib.request.Request(f"{url}/{bot}", data=json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {key}"})
    return urllib.request.urlopen(req, timeout=30).read().decode()


def main(binary, guests):
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{upstream.server_address[1]}"
    bots = tempfile.mkdtemp()
    env_table = '[env]\nOPENAI_API_KEY = { from_env = "SMOKE_OPENAI_KEY" }\n'
    for name, listed in [("relay", base), ("unlisted", "https://api.openai.com")]:
        os.symlink(os.path.abspath(os.path.join(guests, "relay.wasm")), os.path.join(bots, f"{name}.wasm"))
        with open(os.path.join(bots, f"{name}.toml"), "w") as f:
            f.write(f'allowed_outbound_hosts = ["{listed}"]\n{env_table}OPENAI_BASE_URL = "{base}/v1"\n')
    log = tempfile.NamedTemporaryFile(delete=False)
    env = dict(os.environ, POE_ACCESS_KEY=POE_KEY, SMOKE_OPENAI_KEY=OPENAI_KEY, POE_HOST_ADMIN_KEY=ADMIN_KEY,
               RUST_LOG="trace")
    host = subprocess.Popen([binary, "serve", "--bots", bots, "--listen", "127.0.0.1:0", "--cache-dir", "none"],
                            stdout=log, stderr=log, env=env)
    failed = False

    def check(name, passed, detail=""):
        nonlocal failed
        print(f"ok   {name}" if passed else f"FAIL {name}: {detail}")
        failed |= not passed

    try:
        url = None
        for _ in range(200):
            m = re.search(r"^listening on (http://\S+)$", open(log.name).read(), re.M)
            if m:
                url = m.group(1)
                break
            time.sleep(0.05)
        check("serve prints its address", url is not None, open(log.name).read()[-300:])
        reply = ask(url, "relay")
        check("relay streams through the upstream", '"text":"kept "' in reply and '"text":"secret"' in reply, reply)
        check("the upstream got the key from the host's environment", seen_auth == [f"Bearer {OPENAI_KEY}"], seen_auth)
        reply = ask(url, "unlisted")
        check("an endpoint not listed is denied", "event: error" in reply and len(seen_auth) == 1, reply)
        req = urllib.request.Request(f"{url}/_admin/bots", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        admin = urllib.request.urlopen(req, timeout=10).read().decode()
        check("the admin view shows neither key", OPENAI_KEY not in admin and POE_KEY not in admin, admin[:300])
    finally:
        host.terminate()
        host.wait(timeout=10)
        upstream.shutdown()
    text = open(log.name, errors="replace").read()
    check("the log says where requests went", f"destination=http://127.0.0.1:{upstream.server_address[1]}" in text
          and "outbound request denied" in text, text[-500:])
    check("the trace-level log shows neither key", OPENAI_KEY not in text and POE_KEY not in text,
          [line for line in text.splitlines() if OPENAI_KEY in line or POE_KEY in line][:3])
    os.unlink(log.name)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main(*sys.argv[1:])
