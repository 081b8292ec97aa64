"""DBHealth / Overview: is the database up, is it a wedding day, and is anything near a threshold."""

from __future__ import annotations

from .panels import SEL, Panel, Query, Row, Spec, Variable, exporter_variables, threshold

DB = f'{SEL}, datname=~"$datname"'
RATE = "[$__rate_interval]"

AVAILABILITY = Row("Availability and wedding state", (
    Panel("Database up", "Did the monitored database answer the exporter's last scrape (1 up, 0 down)?",
          "bool_yes_no", (Query(f"dbhealth_up{{{SEL}}}", "{{instance}}"),), kind="stat", width=4, height=5),
    Panel("Collector success", "Which collectors succeeded on the last scrape (a failing one is 0; the "
          "rest are still served)?", "bool_yes_no",
          (Query(f"dbhealth_collector_success{{{SEL}}}", "{{collector}}"),), kind="state", width=8, height=5),
    Panel("Cache age", "How old is the data the exporter serves (L1/L2 cache)? On wedding days it "
          "must stay under the scrape interval.", "s",
          (Query(f"dbhealth_cache_age_seconds{{{SEL}}}", "{{instance}}"),), width=4, height=5),
    Panel("Wedding-day mode and peak hours", "Is today a wedding day, and are we in the peak hours? "
          "Thresholds are stricter while the mode is on.", "bool_on_off",
          (Query(f"dbhealth_wedding_day_mode{{{SEL}}}", "wedding day"),
           Query(f"dbhealth_wedding_peak_active{{{SEL}}}", "peak hours")), kind="state", width=4,
          height=5),
    Panel("Weddings and vendors today", "How many weddings, vendors and guests are at stake today?",
          "short", (Query(f"dbhealth_weddings_today{{{SEL}}}", "weddings"),
                    Query(f"dbhealth_vendors_booked_today{{{SEL}}}", "vendors"),
                    Query(f"dbhealth_guests_today{{{SEL}}}", "guests")), kind="stat", width=4, height=5),
    Panel("Collector duration", "Which collector takes the scrape's time?", "s",
          (Query(f"dbhealth_collector_duration_seconds{{{SEL}}}", "{{collector}}"),), width=16, height=6),
    Panel("Collector read ahead", "How long before the collection did each collector read? "
          "pg_stat_statements is read about a second ahead of the expected scrape (never served "
          "older than 3 s); the others are read during it (0).", "s",
          (Query(f"dbhealth_collector_age_seconds{{{SEL}}}", "{{collector}}"),), width=8, height=6),
))

CONNECTIONS = Row("Connections", (
    Panel("Connections by state", "How many backends are active, idle, idle in transaction, and how "
          "close is the total to max_connections?", "short",
          (Query(f"sum by (state) (dbhealth_connections{{{DB}}})", "{{state}}"),
           Query(f"max(dbhealth_connections_max{{{SEL}}})", "max_connections"))),
    Panel("Connection utilization against the threshold in force", "How full is the connection "
          "limit, compared with the warning and critical thresholds in force (they halve on wedding "
          "days)?", "percentunit",
          (Query(f"dbhealth_connection_utilization_ratio{{{SEL}}}", "utilization {{instance}}"),
           threshold("connection_utilization_warning", "warning threshold in force"),
           threshold("connection_utilization_critical", "critical threshold in force"))),
    Panel("Oldest open transaction by state", "How long has the oldest transaction been open, "
          "against the long-running and idle-in-transaction thresholds in force?", "s",
          (Query(f"dbhealth_oldest_transaction_age_seconds{{{SEL}}}", "{{state}}"),
           threshold("long_running_transaction", "long-running threshold"),
           threshold("idle_in_transaction", "idle-in-transaction threshold"))),
    Panel("Sessions waiting on a lock", "How many sessions wait on a lock, against the threshold in "
          "force?", "short",
          (Query(f"dbhealth_lock_waiting_sessions{{{SEL}}}", "waiting {{instance}}"),
           threshold("lock_waiters"))),
))

THROUGHPUT = Row("Transactions, cache and deadlocks", (
    Panel("Transactions by outcome", "How many transactions commit and roll back per second?", "ops",
          (Query(f"sum by (outcome) (rate(dbhealth_transactions_total{{{DB}}}{RATE}))", "{{outcome}}"),),
          width=6),
    Panel("Rollback ratio against the threshold in force", "What share of transactions roll back "
          "(over 5 minutes, as the alert sees it), against the threshold in force?", "percentunit",
          (Query(f"dbhealth:rollback_ratio:rate5m{{{DB}}}", "{{datname}}"), threshold("rollback_ratio")),
          width=6),
    Panel("Buffer cache hit ratio", "What share of block reads come from shared buffers, against "
          "the minimum in force?", "percentunit",
          (Query(f"sum(rate(dbhealth_blocks_hit_total{{{DB}}}{RATE})) / (sum(rate(dbhealth_blocks_hit_"
                 f"total{{{DB}}}{RATE})) + sum(rate(dbhealth_blocks_read_total{{{DB}}}{RATE})))",
                 "hit ratio"),
           threshold("cache_hit_ratio", "minimum in force")), width=6),
    Panel("Deadlocks", "Are transactions deadlocking, per database? (The alert compares the "
          "5-minute increase with dbhealth:threshold:deadlocks.)", "short",
          (Query(f"sum by (datname) (increase(dbhealth_deadlocks_total{{{DB}}}{RATE}))", "{{datname}}"),),
          width=6),
    Panel("Database size", "How big is each database, and how fast is it growing?", "bytes",
          (Query(f"dbhealth_database_size_bytes{{{DB}}}", "{{datname}}"),), width=24, height=6),
))

REPLICATION = Row("Replication and WAL archiving", (
    Panel("Replication lag per replica", "How far behind is each standby in replay, against the "
          "threshold in force?", "s",
          (Query(f"dbhealth_replication_lag_seconds{{{SEL}}}", "{{replica}}",
                 may_be_empty="no standby streams from this primary"),
           threshold("replication_lag")), width=8),
    Panel("WAL archiving age against RPO", "How long ago was WAL last archived, against the RPO "
          "threshold in force? This is how much data a restore would lose now.", "s",
          (Query(f"time() - dbhealth_wal_archive_last_success_timestamp_seconds{{{SEL}}}", "{{instance}}",
                 may_be_empty="WAL archiving is off or nothing has been archived yet"),
           threshold("wal_archive_stale", "RPO threshold in force")), width=8),
    Panel("WAL archive failures", "Is archive_command failing? (The alert compares the 15-minute "
          "increase with dbhealth:threshold:wal_archive_failing.)", "short",
          (Query(f"increase(dbhealth_wal_archive_failures_total{{{SEL}}}{RATE})", "failures {{instance}}"),),
          width=8),
))

TABLES = Row("Wedding tables", (
    Panel("Dead tuples by table", "Which watched tables carry the most dead tuples (vacuum lag)?",
          "short", (Query(f"dbhealth_table_dead_tuples{{{SEL}}}", "{{table}}"),), width=8),
    Panel("Dead tuple ratio against the threshold in force", "Which tables are bloating beyond the "
          "dead-tuple threshold in force?", "percentunit",
          (Query(f"dbhealth:table_dead_tuple_ratio{{{SEL}}}", "{{table}}"), threshold("dead_tuples")),
          width=8),
    Panel("Sequential vs index scans", "Which wedding tables are read by sequential scans rather "
          "than by an index?", "ops",
          (Query(f"sum by (table) (rate(dbhealth_table_seq_scans_total{{{SEL}}}{RATE}))", "{{table}} seq"),
           Query(f"sum by (table) (rate(dbhealth_table_index_scans_total{{{SEL}}}{RATE}))",
                 "{{table}} index")), width=8),
))

SPEC = Spec(
    uid="dbhealth-overview", title="DBHealth / Overview", slug="overview",
    summary="Availability, wedding-day state, connections, throughput, replication, WAL archiving "
            "and the wedding tables, each against the threshold in force.",
    variables=exporter_variables(
        Variable("datname", "Database", f"dbhealth_database_size_bytes{{{SEL}}}")),
    rows=(AVAILABILITY, CONNECTIONS, THROUGHPUT, REPLICATION, TABLES),
)
