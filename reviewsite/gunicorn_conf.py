"""gunicorn's settings for the web server: the production image, docker-compose and the benchmarks
that measure the web server all start it with ``gunicorn -c reviewsite/gunicorn_conf.py``; flags given
on the command line win over this file.

Sync workers, one per processor and one more. A request here is mostly Python (about 3 ms of CPU
for the cheapest API answer, a quarter of its time waiting on PostgreSQL), so processes, not
threads, are what answer more requests at once: threads in one process share its interpreter lock
(a busy thread keeps it up to 5 ms at a time) and add hand-overs to every request, and gthread's
kept-alive connections stay with the worker that accepted them, so the clients that share a busy
worker wait longer than the others. A sync worker takes the next connection from the queue all
workers share, first come first served. The one more keeps a processor busy while a worker waits on
the database or is held by a slow answer (a 1,000-row page). Measured on two processors
(bench/api.py; README, "Benchmarks"): with only cheap requests queued every worker beyond one per
processor adds switching (p95 about 10 ms more each); with slow pages in flight too, workers beyond
one per processor keep the cheap answers from queueing behind them. Set WEB_CONCURRENCY to move
along that line. Sync workers read requests and write answers whole, so they belong behind a proxy
that buffers slow clients (the TLS-terminating proxy production needs anyway).

Environment: ``WEB_CONCURRENCY`` (worker processes), ``GUNICORN_WORKER_CLASS``, ``GUNICORN_THREADS``
(gthread only), ``GUNICORN_BIND`` (default ``0.0.0.0:8000``), ``GUNICORN_ACCESS_LOG`` (a file, ``-``
for standard output, empty for none). This module must not import Django (gunicorn's master reads it).
"""
import os


def cpus() -> int:
    """The processors this process may run on (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


wsgi_app = "reviewsite.wsgi:application"
bind = [os.environ.get("GUNICORN_BIND") or "0.0.0.0:8000"]
worker_class = os.environ.get("GUNICORN_WORKER_CLASS") or "sync"
workers = int(os.environ.get("WEB_CONCURRENCY") or cpus() + 1)
threads = int(os.environ.get("GUNICORN_THREADS") or 1)
keepalive = 30  # gthread: how long a kept-alive connection may stay idle (sync workers close each one)
timeout = 60
graceful_timeout = 30
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
# Workers touch a heartbeat file continually: in memory, not on a container's overlay file system
# (gunicorn's advice for Docker).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# No runtime control socket (gunicorn 25's ``gunicornc``): nothing here uses it, and every server
# started by the same user would otherwise share its one path ($HOME/.gunicorn/gunicorn.ctl).
control_socket_disable = True
