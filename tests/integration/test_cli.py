"""The `lingti` command as a user runs it: a real subprocess, real files."""

import os
import subprocess
import sys

import jwt

GOOD_SECRET = "integration-secret-" + "x" * 32


def run_lingti(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LINGTI_")}
    return subprocess.run(
        [sys.executable, "-m", "lingti", *args],
        env={**clean, "COLUMNS": "200", **(env or {})},  # wide enough that error boxes do not wrap
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_token_in_dev_mode_is_signed_with_the_data_folder_secret(tmp_path):
    env = {"LINGTI_MODE": "dev", "LINGTI_DATA_DIR": str(tmp_path)}
    result = run_lingti("token", "--sub", "alice", "--role", "manager", "--org", "HQ/SX", "--ttl", "30m", env=env)
    assert result.returncode == 0, result.stderr
    secret = (tmp_path / "jwt_secret").read_text().strip()
    claims = jwt.decode(result.stdout.strip(), secret, algorithms=["HS256"])
    assert (claims["sub"], claims["role"], claims["org"], claims["name"]) == ("alice", "manager", "HQ/SX", "alice")
    assert claims["exp"] - claims["iat"] == 30 * 60


def test_second_dev_token_uses_the_same_secret(tmp_path):
    env = {"LINGTI_MODE": "dev", "LINGTI_DATA_DIR": str(tmp_path)}
    first = run_lingti("token", "--sub", "a", "--role", "admin", "--org", "HQ", env=env)
    second = run_lingti("token", "--sub", "b", "--role", "auditor", "--org", "HQ", "--name", "审计", env=env)
    secret = (tmp_path / "jwt_secret").read_text().strip()
    assert jwt.decode(first.stdout.strip(), secret, algorithms=["HS256"])["sub"] == "a"
    assert jwt.decode(second.stdout.strip(), secret, algorithms=["HS256"])["name"] == "审计"


def test_token_in_production_uses_the_configured_secret():
    result = run_lingti("token", "--sub", "bob", "--role", "committee", "--org", "HQ", env={"LINGTI_JWT_SECRET": GOOD_SECRET})
    assert result.returncode == 0, result.stderr
    assert jwt.decode(result.stdout.strip(), GOOD_SECRET, algorithms=["HS256"])["role"] == "committee"


def test_token_in_production_without_secret_fails_naming_the_variable(tmp_path):
    result = run_lingti("token", "--sub", "bob", "--role", "admin", "--org", "HQ", env={"LINGTI_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "LINGTI_JWT_SECRET" in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "jwt_secret").exists()


def test_token_rejects_an_unknown_role():
    result = run_lingti("token", "--sub", "bob", "--role", "chairman", "--org", "HQ", env={"LINGTI_JWT_SECRET": GOOD_SECRET})
    assert result.returncode != 0
    assert "chairman" in result.stderr
    assert "committee" in result.stderr
    assert result.stdout == ""


def test_token_rejects_a_malformed_ttl():
    result = run_lingti(
        "token", "--sub", "bob", "--role", "admin", "--org", "HQ", "--ttl", "forever", env={"LINGTI_JWT_SECRET": GOOD_SECRET}
    )
    assert result.returncode != 0
    assert "30m, 8h or 7d" in result.stderr


def test_orgs_import_rejects_a_bad_file_before_touching_the_database(tmp_path):
    csv_file = tmp_path / "orgs.csv"
    csv_file.write_text("path,name,kind\nHQ,总部,hq\nHQ/SX,山西,planet\nHQ/SX,山西,province\n", encoding="utf-8")
    result = run_lingti("orgs", "import", str(csv_file))
    assert result.returncode == 1
    assert "line 3: kind 'planet' is not one of hq, province" in result.stderr
    assert "line 4: HQ/SX already appears on line 3" in result.stderr
    assert "nothing changed" in result.stderr


def test_token_next_to_a_dev_stack_needs_no_mode(tmp_path):
    """A new user's `lingti token` signs with the secret `lingti dev` generated, without LINGTI_MODE."""
    created = run_lingti("token", "--sub", "a", "--role", "admin", "--org", "HQ",
                         env={"LINGTI_MODE": "dev", "LINGTI_DATA_DIR": str(tmp_path)})
    assert created.returncode == 0
    secret = (tmp_path / "jwt_secret").read_text().strip()
    result = run_lingti("token", "--sub", "b", "--role", "branch", "--org", "HQ/SX", env={"LINGTI_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert jwt.decode(result.stdout.strip(), secret, algorithms=["HS256"])["sub"] == "b"
