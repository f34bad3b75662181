"""Run every benchmark script bench/bench_*.py against PostgreSQL and Redis; print one table.

Usage: ``make bench`` or ``.venv/bin/python bench/run.py [NAME ...]`` (NAME selects scripts,
e.g. ``pages`` for bench_pages.py). See bench/README.md.

Each script runs in its own process and prints its figures as JSON lines on stdout. The table
is also written to bench/results/latest.json. A script that exits non-zero is shown as
"failed" with the last line of its stderr, and run.py then exits non-zero.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"

# BENCH_DATABASE names another database for the default setup (e.g. one per developer).
DEFAULT_DATABASE = os.environ.get("BENCH_DATABASE") or "worktrials_bench"
DEFAULTS = {
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DEFAULT_DATABASE}",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/2",
    "CACHE_URL": "redis://127.0.0.1:6379/3",
}
PROJECT_APPS = ("config", "trial", "randomisation", "fidelity", "reports")
COLUMNS = ("bench", "metric", "value", "unit", "note")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def bench_environment() -> tuple[dict[str, str], bool]:
    """The environment for migrate and the scripts; True if the default database is used."""
    env = dict(os.environ)
    use_defaults = not env.get("DATABASE_URL")
    if use_defaults:
        env.update(DEFAULTS)
    if not env.get("SECRET_KEY"):
        env["SECRET_KEY"] = secrets.token_urlsafe(48)
    if not env.get("FIELD_ENCRYPTION_KEYS"):
        from cryptography.fernet import Fernet

        env["FIELD_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
    if not env.get("PERSONAL_NUMBER_HASH_KEY"):
        env["PERSONAL_NUMBER_HASH_KEY"] = secrets.token_urlsafe(32)
    if not env.get("ALLOCATION_CHAIN_KEYS"):
        env["ALLOCATION_CHAIN_KEYS"] = secrets.token_urlsafe(32)
    # The test Client sends Host: testserver.
    hosts = [h for h in env.get("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1").split(",") if h]
    if "testserver" not in hosts:
        hosts.append("testserver")
    env["ALLOWED_HOSTS"] = ",".join(hosts)
    env.setdefault("SITE_URL", "http://127.0.0.1:8000")
    # INFO logging to the console on every request would be measured too.
    env.setdefault("LOG_LEVEL", "WARNING")
    env["PYTHONUNBUFFERED"] = "1"
    return env, use_defaults


def create_database(name: str, *, fresh: bool) -> None:
    """Create the benchmark database if missing; with ``fresh``, drop it first."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host="127.0.0.1", port=5432, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        if fresh:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(sql.Identifier(name)))
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            log(f"created database {name}")


def manage(env: dict[str, str], *args: str) -> None:
    """Run manage.py; on failure print its output and stop."""
    command = [sys.executable, "manage.py", *args]
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        log(done.stdout + done.stderr)
        raise SystemExit(f"manage.py {' '.join(args)} failed (exit {done.returncode})")


def default_var_dir() -> Path:
    """Where the benchmark's VAR_DIR (collected static files) is kept between runs."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "worktrials-bench" / "var"


def static_fingerprint() -> str:
    """Changes when the project's static files or the installed packages change."""
    digest = hashlib.sha256()
    folders = ["static", *(f"{app}/static" for app in PROJECT_APPS)]
    for path in sorted(p for folder in folders for p in (REPO_ROOT / folder).rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(REPO_ROOT)).encode())
            digest.update(path.read_bytes())
    for entry in sys.path:
        folder = Path(entry)
        if folder.is_dir() and folder.name == "site-packages":
            digest.update("\n".join(sorted(p.name for p in folder.glob("*.dist-info"))).encode())
    return digest.hexdigest()


def collect_static(env: dict[str, str]) -> None:
    """collectstatic into VAR_DIR/static, skipped when nothing changed since the last run.

    Outside the embedded default the static storage is WhiteNoise's compressed manifest storage:
    pages cannot render without its manifest, and compressing takes about a minute.
    """
    marker = Path(env["VAR_DIR"]) / "bench-static.fingerprint"
    fingerprint = static_fingerprint()
    if marker.exists() and marker.read_text().strip() == fingerprint:
        return
    log(f"collectstatic into {env['VAR_DIR']}/static (once; takes about a minute)")
    manage(env, "collectstatic", "--noinput", "--clear")
    marker.write_text(fingerprint + "\n")


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def run_script(script: Path, env: dict[str, str], timeout: float) -> tuple[list[dict], str | None]:
    """Run one benchmark script; its figures, and the failure reason if it failed."""
    name = script.stem.removeprefix("bench_")
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, str(script)],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return parse_figures(name, stdout), f"timed out after {timeout:.0f} s"
    log(f"  {script.name}: exit {done.returncode} in {time.perf_counter() - started:.1f} s")
    figures = parse_figures(name, done.stdout)
    if done.returncode != 0:
        if os.environ.get("BENCH_VERBOSE"):
            log(done.stderr)
        return figures, f"exit {done.returncode}: {last_line(done.stderr) or '(no stderr)'}"
    if not figures:
        return figures, f"printed no figures: {last_line(done.stderr) or '(no stderr)'}"
    return figures, None


def parse_figures(name: str, stdout: str) -> list[dict]:
    figures = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(record, dict) or "metric" not in record or "value" not in record:
            continue
        figures.append(
            {
                "bench": str(record.get("bench") or name),
                "metric": str(record["metric"]),
                "value": record["value"],
                "unit": str(record.get("unit", "")),
                "note": str(record.get("note", "")),
            }
        )
    return figures


def format_value(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def print_table(rows: list[dict]) -> None:
    cells = [list(COLUMNS)] + [
        [row["bench"], row["metric"], format_value(row["value"]), row["unit"], row["note"]]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]

    def render(line: list[str]) -> str:
        parts = [
            line[i].rjust(widths[i]) if COLUMNS[i] == "value" else line[i].ljust(widths[i])
            for i in range(len(COLUMNS))
        ]
        return " | ".join(parts).rstrip()

    print(render(cells[0]))
    print("-+-".join("-" * width for width in widths))
    for line in cells[1:]:
        print(render(line))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="run only these (e.g. pages for bench_pages.py)")
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds per script (default 1800)"
    )
    parser.add_argument(
        "--fresh-db",
        action="store_true",
        help=f"drop and recreate {DEFAULT_DATABASE} first (after migrations were rewritten)",
    )
    args = parser.parse_args()

    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    if args.names:
        wanted = {name.removeprefix("bench_").removesuffix(".py") for name in args.names}
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in wanted]
        missing = wanted - {s.stem.removeprefix("bench_") for s in scripts}
        if missing:
            parser.error(f"no such benchmark: {', '.join(sorted(missing))}")
    if not scripts:
        parser.error("no bench/bench_*.py scripts found")

    env, use_defaults = bench_environment()
    # Uploaded and generated files go to a throw-away folder.
    temp_files = None
    if not env.get("FILES_ROOT"):
        temp_files = tempfile.mkdtemp(prefix="worktrials-bench-files-")
        env["FILES_ROOT"] = temp_files
    if not env.get("VAR_DIR"):
        env["VAR_DIR"] = str(default_var_dir())
    started_at = dt.datetime.now(dt.UTC)
    try:
        if use_defaults:
            create_database(DEFAULT_DATABASE, fresh=args.fresh_db)
        elif args.fresh_db:
            parser.error("--fresh-db works only with the default database (DATABASE_URL unset)")
        log(f"database {redact(env['DATABASE_URL'])}: migrate")
        manage(env, "migrate", "--noinput")
        collect_static(env)
        rows: list[dict] = []
        failures: list[str] = []
        for script in scripts:
            log(f"running {script.name} ...")
            figures, failure = run_script(script, env, args.timeout)
            rows.extend(figures)
            name = script.stem.removeprefix("bench_")
            if failure:
                failures.append(name)
                failed = {"bench": name, "metric": "failed", "value": "failed", "unit": ""}
                rows.append({**failed, "note": failure})
    finally:
        if temp_files:
            shutil.rmtree(temp_files, ignore_errors=True)

    print()
    print_table(rows)
    RESULTS_DIR.mkdir(exist_ok=True)
    report = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "database_url": redact(env["DATABASE_URL"]),
        "results": rows,
        "failed": failures,
    }
    latest = RESULTS_DIR / "latest.json"
    latest.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    if failures:
        log(f"\nfailed: {', '.join(failures)} (BENCH_VERBOSE=1 shows their stderr)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
