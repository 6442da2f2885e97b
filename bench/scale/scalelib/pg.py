"""A PostgreSQL server for the benchmark's PostgreSQL cases: a throwaway cluster of
scripts/pg-cluster (fsync and synchronous commit on: PG_CLUSTER_DURABLE=1), or a server
given by its URL (password from PGPASSWORD or ~/.pgpass, never in the URL).  Each store
is a schema of it, dropped before use and after."""

import os
import re
import subprocess

from .measure import log
from .sim import REPO

PG_CLUSTER = os.path.join(REPO, "scripts", "pg-cluster")
SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]*$")


class Pg:
    def __init__(self, where, work):
        """where: "cluster" (start one in work) or a postgresql:// URL."""
        self.where = where
        self.state = os.path.join(work, "pg-cluster") if where == "cluster" else None
        self.url = None if self.state else where

    def start(self):
        if self.state:
            log("starting a throwaway PostgreSQL cluster (scripts/pg-cluster, fsync on)")
            env = dict(os.environ, PG_CLUSTER_DURABLE="1")
            out = subprocess.run([PG_CLUSTER, "start", self.state], env=env, check=True,
                                 capture_output=True, text=True)
            self.url = out.stdout.strip().splitlines()[-1]
            if not self.url.startswith("postgresql://postgres@127.0.0.1:"):
                raise RuntimeError(f"unexpected cluster URL {self.url!r}")
        self.psql("SELECT 1")
        log(f"PostgreSQL at {self.url.split('?')[0]}")
        return self

    def stop(self):
        if self.state:
            subprocess.run([PG_CLUSTER, "stop", self.state], check=False,
                           stdout=subprocess.DEVNULL)

    def psql(self, sql):
        return subprocess.run(["psql", "-qAtX", "-v", "ON_ERROR_STOP=1", self.url, "-c", sql],
                              check=True, capture_output=True, text=True).stdout.strip()

    def store(self, schema):
        """A fresh schema: the --store URL of mdesync."""
        self.drop(schema)
        return f"{self.url}{'&' if '?' in self.url else '?'}schema={schema}"

    def drop(self, schema):
        assert SCHEMA_RE.match(schema), schema
        self.psql(f"SET client_min_messages = warning; DROP SCHEMA IF EXISTS {schema} CASCADE")

    def stats(self, schema, table="vulnerability"):
        """Bytes of the schema's relations (indexes and TOAST included) and the findings
        (rows of its vulnerability table or view)."""
        assert SCHEMA_RE.match(schema), schema
        size = int(self.psql(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE n.nspname = '{schema}' AND c.relkind IN ('r', 'm', 'p')") or 0)
        try:
            rows = int(self.psql(f"SELECT count(*) FROM {schema}.{table}"))
        except subprocess.CalledProcessError:
            rows = None
        return {"bytes": size, "findings": rows,
                "bytesPerFinding": round(size / rows, 1) if rows else None,
                "tableBytes": None, "tableBytesPerFinding": None}
