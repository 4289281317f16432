"""The node side of ``python -m bench.real_clients``: run inside a lab node by its python3
(standard library only), it drives that node's real clients and prints what they saw, one JSON
line per observation, until its stdin closes or its time bound passes.

* ``watch`` (``watches`` of them, 1 unless the config says): ``kubectl get service --watch``
  with the node's kubeconfig (through the node's load balancer once repointed), each line
  stamped; re-run when it ends, as a person or a controller would (``{"k": "ev", "t", "n"}``,
  ``{"k": "restart", "t", "rc", "err"}``);
* ``keepalive``: GETs of the Service every ``ka_interval`` over one kept-alive HTTPS connection
  to the kubeconfig's server, re-opened after an error, as client-go does (``{"k": "ka"}``);
* ``healthz`` (workers): kube-proxy's ``/healthz`` (``{"k": "hz"}``, its lastUpdated raw) and
  the Service port it last programmed, from ``iptables-save`` (``{"k": "rule", "t", "n"}``);
* ``writer``: patches the Service's port (10000 + n) every ``write_interval`` straight to a master
  that is not faulted (``{"k": "w"}``), so watches and kube-proxy have a change to deliver;
* ``leases``: the controller-manager's and scheduler's leases, straight to such a master;
* ``pong``: the answer to a ``ping`` line on stdin (the host's clock against this node's).

Every loop is bounded in count and time; kubectl runs are killed by their PID at the end.
"""

import base64
import http.client
import json
import os
import re
import select
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import urlsplit

OUT_LOCK = threading.Lock()
STOP = threading.Event()
PROCS = []  # the kubectl runs this agent started
MAX_LOOPS = 100_000  # a bound beside the time bound on every loop


def emit(record):
    with OUT_LOCK:
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()


def read_kubeconfig(path):
    """(server, CA pem, client cert pem, client key pem) from a lab kubeconfig: each inline
    (``*-data``) or a file it names (a kubeadm worker's kubelet.conf: kubelet's rotated
    certificate and key in one file)."""
    with open(path) as handle:
        text = handle.read()

    def field(name):
        match = re.search(rf"^\s*{name}:\s*(\S+)\s*$", text, re.M)
        return match.group(1) if match else ""

    def pem(name):
        data = field(f"{name}-data")
        if data:
            return base64.b64decode(data).decode()
        with open(field(name).strip("\"'")) as handle:
            return handle.read()

    return (
        field("server"),
        pem("certificate-authority"),
        pem("client-certificate"),
        pem("client-key"),
    )


def tls_context(folder, ca, cert, key):
    paths = {}
    for name, text in (("ca", ca), ("cert", cert), ("key", key)):
        paths[name] = os.path.join(folder, name + ".pem")
        with open(paths[name], "w") as handle:
            handle.write(text)
    ctx = ssl.create_default_context(cafile=paths["ca"])
    ctx.load_cert_chain(paths["cert"], paths["key"])
    return ctx


def closed_while_idle(sock, timeout):
    """Whether the server closed this kept-alive connection while it sat idle (its close_notify
    or FIN, or any bytes no request asked for, are waiting to be read). Go's transport learns it
    from the read loop it keeps on every idle connection and sends the next request, of any
    method, on a new one; http.client would send it into the closed one."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    if not readable:
        return False
    sock.setblocking(False)
    try:
        sock.recv(1)  # b"" at the close; TLS records alone (a session ticket) raise WantRead
        return True
    except ssl.SSLWantReadError:
        return False
    except OSError:  # ssl.SSLError included
        return True
    finally:
        sock.settimeout(timeout)


class Client:
    """One kept-alive HTTPS connection at a time, to the first of ``urls`` that answers; one
    the server closed while idle is not used again (:func:`closed_while_idle`)."""

    def __init__(self, urls, ctx, timeout):
        self.urls, self.ctx, self.timeout = list(urls), ctx, timeout
        self.conn, self.index = None, 0

    def request(self, method, path, body=None, headers=None):
        if self.conn is not None and (
            self.conn.sock is None or closed_while_idle(self.conn.sock, self.timeout)
        ):
            self.conn.close()
            self.conn = None
        if self.conn is None:
            parts = urlsplit(self.urls[self.index % len(self.urls)])
            self.conn = http.client.HTTPSConnection(
                parts.hostname, parts.port or 443, context=self.ctx, timeout=self.timeout
            )
        try:
            self.conn.request(method, path, body=body, headers=headers or {})
            response = self.conn.getresponse()
            data = response.read()
            return response.status, data
        except Exception:
            self.conn.close()
            self.conn = None
            self.index += 1  # the next master, where there are several
            raise


def every(interval, work):
    """Call ``work(i)`` every ``interval`` s (skipping missed slots) until STOP."""
    start = time.monotonic()
    for i in range(MAX_LOOPS):
        if STOP.is_set():
            return
        work(i)
        slot = start + (int((time.monotonic() - start) / interval) + 1) * interval
        STOP.wait(max(0.0, slot - time.monotonic()))


def watch(cfg):
    argv = [
        "kubectl",
        "--kubeconfig",
        cfg["kubeconfig"],
        "get",
        "service",
        cfg["service"],
        "-n",
        cfg["namespace"],
        "--watch",
        "--no-headers",
        "-o",
        "custom-columns=P:.spec.ports[0].port",
    ]
    for _ in range(1000):
        if STOP.is_set():
            return
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
        )
        with OUT_LOCK:
            PROCS.append(proc)
        for line in proc.stdout:
            now = time.time()
            if line.strip().isdigit():
                emit({"k": "ev", "t": now, "n": int(line) - 10000})
        rc = proc.wait()
        err = proc.stderr.read()[-300:]
        emit({"k": "restart", "t": time.time(), "rc": rc, "err": err})
        STOP.wait(0.1)


# What a server's close of an idle kept-alive connection looks like to the next request on it.
CLOSED_IDLE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def keepalive(cfg, ctx, server):
    """With ``retry_reused`` a GET that meets its reused connection closed before any answer is
    sent once more on a new one, as Go's transport does for an idempotent request (recorded:
    ``"retried": 1``); without it every such GET counts as failed."""
    client = Client([server], ctx, cfg["ka_timeout"])
    path = f"/api/v1/namespaces/{cfg['namespace']}/services/{cfg['service']}"
    retry = bool(cfg.get("retry_reused"))

    def once(_i):
        t0 = time.time()
        retried = 0
        try:
            reused = client.conn is not None
            try:
                status, _ = client.request("GET", path)
            except CLOSED_IDLE:
                if not (retry and reused):
                    raise
                retried = 1
                status, _ = client.request("GET", path)
        except Exception as exc:
            status, _ = 0, str(exc)
        record = {"k": "ka", "t0": t0, "t1": time.time(), "code": status}
        if retried:
            record["retried"] = 1
        emit(record)

    every(cfg["ka_interval"], once)


def healthz(cfg):
    def once(_i):
        t = time.time()
        conn = http.client.HTTPConnection("127.0.0.1", 10256, timeout=1)
        try:
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            body = json.loads(response.read() or b"{}")
            emit(
                {
                    "k": "hz",
                    "t": t,
                    "code": response.status,
                    "last": body.get("lastUpdated", ""),
                    "now": body.get("currentTime", ""),
                }
            )
        except Exception:
            emit({"k": "hz", "t": t, "code": 0, "last": "", "now": ""})
        finally:
            conn.close()

    every(cfg["poll_interval"], once)


def rules(cfg):
    """The Service port kube-proxy last programmed (its no-endpoints REJECT rule's --dport)."""
    pattern = re.compile(
        rf"{cfg['namespace']}/{cfg['service']}:tick has no endpoints.*--dport (\d+)"
    )

    def once(_i):
        t = time.time()
        try:
            dump = subprocess.run(
                ["iptables-save", "-t", "filter"], capture_output=True, text=True, timeout=5
            ).stdout
        except subprocess.TimeoutExpired:
            return
        match = pattern.search(dump)
        if match:
            emit({"k": "rule", "t": t, "n": int(match.group(1)) - 10000})

    every(cfg["poll_interval"], once)


def writer(cfg, ctx):
    client = Client(cfg["direct"], ctx, 2)
    path = f"/api/v1/namespaces/{cfg['namespace']}/services/{cfg['service']}"
    headers = {"Content-Type": "application/merge-patch+json"}

    def once(n):
        if n >= cfg["max_writes"]:
            return
        port = {"name": "tick", "port": 10000 + n, "targetPort": 80, "protocol": "TCP"}
        body = json.dumps({"spec": {"ports": [port]}})
        t0 = time.time()
        try:
            status, _ = client.request("PATCH", path, body, headers)
        except Exception:
            status = 0
        emit({"k": "w", "n": n, "t0": t0, "t1": time.time(), "code": status})

    every(cfg["write_interval"], once)


def leases(cfg, ctx):
    client = Client(cfg["direct"], ctx, 2)

    def once(_i):
        for name in ("kube-controller-manager", "kube-scheduler"):
            path = f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{name}"
            try:
                status, data = client.request("GET", path)
                spec = json.loads(data).get("spec", {}) if status == 200 else {}
            except Exception:
                status, spec = 0, {}
            emit(
                {
                    "k": "lease",
                    "t": time.time(),
                    "name": name,
                    "code": status,
                    "holder": spec.get("holderIdentity", ""),
                    "renew": spec.get("renewTime", ""),
                }
            )

    every(cfg["poll_interval"], once)


def commands():
    """stdin: ``ping <host time>`` lines answered at once with this node's clock (the host
    measures a QEMU guest's clock offset from them); its end stops the agent."""
    for line in sys.stdin:
        if line.startswith("ping "):
            emit({"k": "pong", "h": float(line.split()[1]), "t": time.time()})
    STOP.set()


USAGE = "usage: python3 real_agent.py CONFIG_JSON  (run by bench.real_clients inside a node)"


def main():
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(f"{USAGE}\n\n{__doc__}")
        sys.exit(0 if sys.argv[1:] in (["-h"], ["--help"]) else 2)
    try:
        cfg = json.loads(sys.argv[1])
    except ValueError as exc:
        sys.exit(f"{USAGE}\nCONFIG_JSON is not JSON: {exc}")
    folder = tempfile.mkdtemp(prefix="kubeha-bench-")
    try:
        server, ca, cert, key = read_kubeconfig(cfg["kubeconfig"])
        ctx = tls_context(folder, ca, cert, key)
        jobs = [(watch, (cfg,))] * max(1, int(cfg.get("watches", 1)))
        jobs.append((keepalive, (cfg, ctx, server)))
        if cfg.get("healthz"):
            jobs += [(healthz, (cfg,)), (rules, (cfg,))]
        if cfg.get("writer"):
            jobs.append((writer, (cfg, ctx)))
        if cfg.get("leases"):
            jobs.append((leases, (cfg, ctx)))
        threads = [threading.Thread(target=f, args=a, daemon=True) for f, a in jobs]
        for thread in threads:
            thread.start()
        emit({"k": "start", "t": time.time(), "server": server})
        threading.Thread(target=commands, daemon=True).start()
        STOP.wait(cfg["duration"])
        STOP.set()
        with OUT_LOCK:
            procs = list(PROCS)
        for proc in procs:
            if proc.poll() is None:
                proc.kill()  # our own kubectl, by its PID
        for thread in threads:
            thread.join(10)
        emit({"k": "end", "t": time.time()})
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
