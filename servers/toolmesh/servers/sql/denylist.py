"""The functions no query may call: they read or write files, reach the network, sleep, take locks, run SQL
held in a string, or change server state.

Matched case-insensitively on the last name part, after the lexer has decoded the name as the database reads
it (quoted, backticked, bracketed or ``U&``-escaped). The PostgreSQL list is reviewed against ``pg_proc``:
``tests/servers/sql/test_denylist.py`` lists every ``pg_*``, ``lo_*``, ``dblink*`` and volatile function of
the real server and fails when one is neither denied here nor in its reviewed allow list.
"""

from __future__ import annotations

__all__ = ["DENIED_FUNCTIONS", "DENIED_PREFIXES", "function_name_denied"]

# Functions that read or write files, reach the network, sleep, take locks, execute SQL held in a string,
# or change server state. Matched case-insensitively on the last name part, quoted or not.
DENIED_FUNCTIONS: frozenset[str] = frozenset(
    {
        # files (PostgreSQL, MySQL, SQLite, DuckDB)
        "pg_read_file",
        "pg_read_binary_file",
        "pg_stat_file",
        "pg_file_write",
        "pg_file_rename",
        "pg_file_unlink",
        "pg_logdir_ls",
        "pg_current_logfile",
        "lo_import",
        "lo_export",
        "loread",
        "lowrite",
        "load_file",
        "readfile",
        "writefile",
        "edit",
        "load_extension",
        "fts3_tokenizer",
        "sqlite_log",  # writes to the error log
        "read_csv",
        "read_csv_auto",
        "read_parquet",
        "read_json",
        "read_json_auto",
        "read_text",
        "read_blob",
        # network
        "dblink",
        "http_get",
        "http_post",
        "http_request",
        "sys_exec",
        "sys_eval",
        "pg_notify",
        # sleeping and waiting
        "pg_sleep",
        "pg_sleep_for",
        "pg_sleep_until",
        "sleep",
        "benchmark",
        "master_pos_wait",
        "source_pos_wait",
        "wait_for_executed_gtid_set",
        "master_gtid_wait",
        "wait_until_sql_thread_after_gtids",
        # locks
        "get_lock",
        "release_lock",
        "release_all_locks",
        "is_free_lock",
        "is_used_lock",
        # SQL executed from a string
        "query_to_xml",
        "query_to_xmlschema",
        "query_to_xml_and_xmlschema",
        "cursor_to_xml",
        "cursor_to_xmlschema",
        "database_to_xml",
        "database_to_xmlschema",
        "database_to_xml_and_xmlschema",
        "ts_stat",
        "ts_rewrite",
        # server state
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "set_config",
        "pg_switch_wal",
        "pg_create_restore_point",
        "pg_start_backup",
        "pg_stop_backup",
        "pg_backup_start",
        "pg_backup_stop",
        "pg_promote",
        "pg_logical_emit_message",
        "pg_import_system_collations",
        "pg_export_snapshot",
        "nextval",
        "setval",
        "txid_current",
        "pg_current_xact_id",
        "pg_logical_slot_get_changes",
        "pg_logical_slot_peek_changes",
        "pg_wal_replay_pause",
        "pg_wal_replay_resume",
        # reviewed against pg_proc (PostgreSQL 15): index maintenance, catalog and slot changes, log and
        # config-file reads, session state that outlives a call on a pooled connection
        "brin_summarize_range",
        "brin_summarize_new_values",
        "brin_desummarize_range",
        "gin_clean_pending_list",
        "pg_log_backend_memory_contexts",
        "pg_rotate_logfile_old",
        "pg_stat_clear_snapshot",
        "pg_stat_force_next_flush",
        "pg_stop_making_pinned_objects",
        "pg_nextoid",
        "pg_extension_config_dump",
        "pg_config",
        "pg_hba_file_rules",
        "pg_ident_file_mappings",
        "pg_show_all_file_settings",
        "setseed",
        # MySQL / MariaDB session state (LAST_INSERT_ID(expr) sets the value the next caller reads)
        "last_insert_id",
    }
)
DENIED_PREFIXES = (
    "pg_read_",
    "pg_ls_",
    "pg_file_",
    "lo_",
    "dblink",
    "pg_advisory",
    "pg_try_advisory",
    "pg_sleep",
    "pg_replication_",
    "pg_create_",
    "pg_drop_",
    "pg_stat_reset",
    "pg_stat_statements_reset",
    "pg_copy_",  # pg_copy_logical_replication_slot, pg_copy_physical_replication_slot
    "pg_logical_",  # emit_message, slot_get_(binary_)changes, slot_peek_(binary_)changes
    "pg_control_",  # read the pg_control file
    "binary_upgrade_",  # pg_upgrade's catalog writers
)


def function_name_denied(name: str) -> bool:
    """Whether ``name`` (any case, schema-qualified or not) is a denied function."""
    lowered = name.lower().rsplit(".", 1)[-1]
    return lowered in DENIED_FUNCTIONS or lowered.startswith(DENIED_PREFIXES)
