"""SQLite tuning for many small writes.

SQLite's default rollback journal makes every commit wait on the file lock and
an fsync; write-ahead logging lets readers run beside the one writer and makes
a commit cheap.  otree-redwood batches its writes into few transactions; WAL
makes each of them fast.  Nothing changes on other databases.

``synchronous=NORMAL`` with WAL: a commit is in the operating system's hands
when COMMIT returns, so it survives a server process that is killed (what
the pipeline relies on: it publishes a message only after its commit); only
a crash of the machine itself may lose the last commits.
"""
from django.db.backends.signals import connection_created


def _tune(sender, connection, **kwargs):
    if connection.vendor != "sqlite":
        return
    name = str(connection.settings_dict.get("NAME", ""))
    cursor = connection.cursor()
    # an in-memory database (oTree's devserver) has no journal to tune
    if "memory" not in name:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")


def _begin_immediate(self):
    # A deferred transaction that reads, then writes, fails at once with
    # "database is locked" when another process committed in between (the
    # busy timeout does not apply to that upgrade).  Taking the write lock at
    # BEGIN makes concurrent writers wait their turn instead.
    self.cursor().execute("BEGIN IMMEDIATE")


def install():
    connection_created.connect(_tune, dispatch_uid="otree_redwood.sqlite_tuning")
    from django.db.backends.sqlite3.base import DatabaseWrapper

    DatabaseWrapper._start_transaction_under_autocommit = _begin_immediate
