"""``submit.py cluster``: a standing local cluster that other terminals submit to."""

import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from catdog_queue.client.local_cluster import ClusterError, LocalCluster
from catdog_queue.client.local_cluster.redis_server import write_private
from catdog_queue.shared import settings
from catdog_queue.shared.waiting import wait_until


def run_cluster(args) -> int:
    cache_dir = Path(args.cache_dir) if args.cache_dir else settings.default_cache_dir()
    name = f"cluster-{secrets.token_hex(3)}"
    roots = [str(Path(root).resolve()) for root in (args.data_root or [os.getcwd()])]
    cluster = LocalCluster(
        cache_dir,
        cache_dir / "logs" / name,
        name,
        cpu_concurrency=args.cpu_workers,
        data_roots=roots,
        gpu_workers=args.gpu_workers,
        gpu_backend=args.backend,
        standing=True,
        replicas=args.replicas or 0,
    )
    try:
        with cluster:
            print(f"broker: {cluster.url()}", flush=True)
            env_file = cache_dir / "cluster.env"
            # Quoted: a list of sentinels holds ';', which a shell would split on.
            write_private(env_file, f"CELERY_BROKER_URL='{cluster.url()}'\n")
            print(
                "  (the URL holds the password of the cluster's client user: other terminals can"
                f" load it with `set -a; . {env_file}; set +a` instead of a command line)",
                flush=True,
            )
            if args.flower:
                _start_flower(cluster, args.flower)
            print(
                f"workers: cpu x{cluster.cpu_concurrency}, gpu x{args.gpu_workers}"
                f" ({cluster.gpu_backend});"
                f" they read images under {', '.join(roots)}; logs in {cluster.log_dir}",
                flush=True,
            )
            print("submit from another terminal with --broker (above); Ctrl-C stops", flush=True)
            while True:
                cluster.check_alive()
                time.sleep(1.0)
    except KeyboardInterrupt:
        print("cluster stopped", file=sys.stderr)
        return 0
    finally:
        (cache_dir / "cluster.env").unlink(missing_ok=True)


def _start_flower(cluster: LocalCluster, port: int) -> None:
    basic_auth = os.environ.get("FLOWER_BASIC_AUTH")
    shown = "user and password from FLOWER_BASIC_AUTH"
    if not basic_auth:
        basic_auth = f"catdog:{secrets.token_urlsafe(12)}"
        shown = f"user catdog, password {basic_auth.split(':', 1)[1]}"
    cluster.start_flower(port, basic_auth)
    wait_for_http(f"http://127.0.0.1:{port}/healthcheck", cluster)
    print(f"flower: http://127.0.0.1:{port} ({shown})", flush=True)


def wait_for_http(url: str, cluster: LocalCluster, timeout_s: float = 60.0) -> None:
    """Until the server at ``url`` answers at all (any status), or fail naming its log."""
    if not wait_until(lambda: _answers(url), timeout_s, 0.2, on_wait=cluster.check_alive):
        raise ClusterError(f"{url} did not answer within {timeout_s:.0f}s")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            pass
    except urllib.error.HTTPError:
        return True  # it answered, with an error status
    except OSError:
        return False
    return True
