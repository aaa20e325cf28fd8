"""The command line: --check, --version, --help, configuration errors, env overrides."""
import os
import subprocess

import pytest

import harness


def output_line_with(output: str, key: str) -> str:
    lines = [line for line in output.splitlines() if key in line.split("=")[0].split()]
    lines = lines or [line for line in output.splitlines() if key in line]
    assert lines, f"no line mentions {key!r} in:\n{output}"
    return lines[0]


@pytest.fixture
def config(reservoir):
    """A written config with default_pool_size = 7 (not the default), not started."""
    cfg = reservoir.config(default_pool_size=7)
    cfg.write()
    return cfg


def test_check_prints_settings_with_origin(config):
    res = harness.run_reservoir_cli(["--check", config.path])
    output = res.stdout + res.stderr
    assert res.returncode == 0, output
    line = output_line_with(output, "default_pool_size")
    number = harness.line_of(config.path, "default_pool_size")
    assert "7" in line, line
    assert f"{os.path.basename(config.path)}:{number}" in line, line
    line = output_line_with(output, "server_lifetime")
    assert "default" in line, line
    assert not harness.port_accepts(config.listen_port), "--check must not start serving"


def test_env_override_shows_in_check(config):
    res = harness.run_reservoir_cli(["--check", config.path],
                                    env={"RESERVOIR_DEFAULT_POOL_SIZE": "13"})
    output = res.stdout + res.stderr
    assert res.returncode == 0, output
    line = output_line_with(output, "default_pool_size")
    assert "13" in line and "env" in line, line


@pytest.mark.parametrize("check", [False, True], ids=["start", "check"])
def test_invalid_value_fails_with_file_and_line(reservoir, check):
    cfg = reservoir.config(default_pool_size="abc")
    cfg.write()
    number = harness.line_of(cfg.path, "default_pool_size")
    try:
        res = harness.run_reservoir_cli((["--check"] if check else []) + [cfg.path], timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("reservoir started (kept running) with default_pool_size = abc")
    output = res.stdout + res.stderr
    assert res.returncode != 0, output
    assert f"{os.path.basename(cfg.path)}:{number}" in output, output


def test_missing_config_file_fails(tmp_path):
    res = harness.run_reservoir_cli([str(tmp_path / "absent.ini")])
    assert res.returncode != 0
    assert "absent.ini" in res.stdout + res.stderr


def test_version_and_help():
    version = harness.run_reservoir_cli(["--version"])
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() or version.stderr.strip()
    help_ = harness.run_reservoir_cli(["--help"])
    assert help_.returncode == 0, help_.stderr
    assert "--check" in help_.stdout + help_.stderr
