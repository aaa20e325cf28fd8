"""Node.js drivers in transaction mode with named prepared statements: node-postgres named
queries and postgres.js (which prepares every query by default), more connections than
servers. The npm packages are installed by this module into build/node (skipped, with the
reason, when node or npm is missing or the registry cannot be reached)."""
import os
import shutil
import subprocess

import pytest

from harness import APP_DB, APP_PASSWORD, APP_USER

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "node")
NODE_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "build", "node"))
PACKAGES = ["pg@8", "postgres@3"]


@pytest.fixture(scope="module")
def node_modules():
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian: apt-get install nodejs npm)")
    modules = os.path.join(NODE_DIR, "node_modules")
    if not all(os.path.isdir(os.path.join(modules, p.split("@")[0])) for p in PACKAGES):
        os.makedirs(NODE_DIR, exist_ok=True)
        try:
            run = subprocess.run(["npm", "install", "--prefix", NODE_DIR, "--no-audit",
                                  "--no-fund", *PACKAGES], capture_output=True, text=True,
                                 timeout=180)
        except subprocess.TimeoutExpired:
            pytest.skip("npm install timed out (registry unreachable?)")
        if run.returncode != 0:
            pytest.skip(f"npm install {' '.join(PACKAGES)} failed: {run.stderr[-500:]}")
    return modules


def run_node(script, res, modules, **env):
    environment = dict(os.environ, NODE_PATH=modules, PGHOST="127.0.0.1", PGPORT=str(res.port),
                       PGUSER=APP_USER, PGPASSWORD=APP_PASSWORD, PGDATABASE=APP_DB,
                       **{k: str(v) for k, v in env.items()})
    return subprocess.run(["node", os.path.join(SCRIPTS, script)], capture_output=True,
                          text=True, timeout=45, env=environment)


def test_node_postgres_named_queries(reservoir, pg_up, node_modules):
    res = reservoir(default_pool_size=3)
    run = run_node("pg_named.js", res, node_modules, CLIENTS=12, ROUNDS=10)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip() == f"ok {12 * 10 * 2}", run.stdout


def test_postgres_js_default_prepare(reservoir, pg_up, node_modules):
    res = reservoir(default_pool_size=3)
    run = run_node("postgres_js.js", res, node_modules, CLIENTS=8, ROUNDS=10)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip() == f"ok {8 * 10 * 3}", run.stdout
