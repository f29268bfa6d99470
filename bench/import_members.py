"""import_members on 100 000 rows: our command vs a bare bulk INSERT of the same rows (same run, same DB).

.venv/bin/python bench/import_members.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import Row, bench_env, manage, print_table, recreate_database


def write_csv(path: Path, rows: int) -> None:
    rnd = random.Random(7)
    with path.open("w") as f:
        f.write("email,msisdn,first_name,last_name,birthday,language\n")
        for i in range(rows):
            f.write(
                f"member{i}@example.com,+47 {40000000 + i},First{i},Last{i},"
                f"19{rnd.randint(50, 99)}-0{rnd.randint(1, 9)}-1{rnd.randint(0, 9)},nb\n"
            )


def baseline_insert(database_url: str, path: Path) -> float:
    """The same rows with one multi-row INSERT per 2000, no validation, no idempotency."""
    import csv

    import psycopg

    dsn = database_url.replace("postgres://", "postgresql://")
    with psycopg.connect(dsn) as conn, path.open() as f:
        club_id = conn.execute("SELECT id FROM loyalty_loyaltyclub WHERE slug = 'baseline'").fetchone()[0]
        reader = csv.DictReader(f)
        started = time.perf_counter()
        batch = []
        with conn.cursor() as cur:
            for row in reader:
                batch.append(
                    (
                        club_id,
                        row["email"],
                        row["msisdn"].replace(" ", "").lstrip("+"),
                        row["first_name"],
                        row["last_name"],
                        row["birthday"],
                        row["language"],
                    )
                )
                if len(batch) == 2000:
                    _insert(cur, batch)
                    batch = []
            if batch:
                _insert(cur, batch)
        conn.commit()
        return time.perf_counter() - started


def _insert(cur, batch) -> None:
    cur.executemany(
        "INSERT INTO loyalty_member (club_id, email, msisdn, first_name, last_name, birthday, language, password,"
        " created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, '', now(), now())",
        batch,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    url = recreate_database("loyalty_bench_import")
    env = bench_env(url)
    manage(env, "migrate", "-v", "0")
    manage(env, "loyalty_bootstrap", "--club", "ours", "--json", capture=True)
    manage(env, "loyalty_bootstrap", "--club", "baseline", "--json", capture=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "members.csv"
        write_csv(path, args.rows)
        started = time.perf_counter()
        report = json.loads(manage(env, "import_members", str(path), "--club", "ours", "--json", capture=True))
        ours = time.perf_counter() - started
        assert report["created"] == args.rows, report
        started = time.perf_counter()
        again = json.loads(manage(env, "import_members", str(path), "--club", "ours", "--json", capture=True))
        reimport = time.perf_counter() - started
        assert again["unchanged"] == args.rows, again
        base = baseline_insert(url, path)
    rows = [
        Row(
            f"import {args.rows:,} rows: rows/s (command, incl. start-up)",
            args.rows / ours,
            args.rows / base,
            "< 60 s for 100 000 rows",
            ours < 60,
        ),
        Row("  seconds", ours, base, "", ours < 60),
        Row("re-import (changes nothing): seconds", reimport, None, "", again["created"] == 0),
    ]
    print_table(rows, "import_members vs bare INSERT")


if __name__ == "__main__":
    main()
