#!/usr/bin/env bash
# Lab test host: generate audit log traffic on the lab's Aurora cluster.
#
# sysbench workloads at an intensity preset on the writer or the reader, and SQL scenarios that
# Advanced Auditing records: DDL, DCL, user management and failed logins. Connection settings are those
# of setup_sysbench.sh (environment DB_HOST DB_PORT DB_USER DB_PASSWORD DB_NAME, plus DB_READER_HOST and
# DB_READER_PORT for the reader; otherwise SSM parameters / stack outputs and Secrets Manager).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=setup_sysbench.sh
source "$SCRIPT_DIR/setup_sysbench.sh"
PROG=${0##*/}

WORKLOADS=(oltp_read_write oltp_read_only oltp_write_only oltp_insert oltp_update_index
    oltp_update_non_index oltp_delete)
SCENARIOS=(workload ddl dcl users failed-login)
# intensity: threads seconds rate (transactions/s in total, 0 = as fast as possible)
declare -A PRESETS=([low]="2 60 10" [medium]="8 300 50" [high]="32 600 0")

WORKLOAD=oltp_read_write
INTENSITY=low
TARGET=writer
THREADS_OPT="" TIME_OPT="" RATE_OPT="" TABLES_OPT=""
TABLE_SIZE=${SYSBENCH_TABLE_SIZE:-10000}
PREFIX=audit_lab   # names of the tables and users the scenarios create (and drop)

usage() {
    cat <<EOF
Usage: $PROG [options] [scenario ...]

Scenarios (default: all of them):
  workload       sysbench --workload on the --target instance
  ddl            CREATE / ALTER / CREATE INDEX / RENAME / TRUNCATE / DROP TABLE
  dcl            GRANT and REVOKE
  users          CREATE / ALTER / RENAME / DROP USER
  failed-login   a wrong password and an unknown user (FAILED_CONNECT, error 1045)
  all            every scenario

Options:
  -w, --workload TYPE    ${WORKLOADS[*]}
                         (default $WORKLOAD; only oltp_read_only on the reader)
  -i, --intensity LEVEL  low | medium | high | custom (default $INTENSITY)
                         low: 2 threads, 60 s, 10 tps; medium: 8, 300 s, 50 tps; high: 32, 600 s, unlimited
  -t, --target ROLE      writer | reader (default $TARGET)
      --threads N        sysbench threads (required with custom; overrides a preset)
      --time SECONDS     run time (required with custom; overrides a preset)
      --rate TPS         transaction rate, 0 = unlimited (default 0 with custom)
      --tables N         sbtest tables to use (default: those setup_sysbench.sh created)
      --table-size N     rows per table as prepared (default $TABLE_SIZE, env SYSBENCH_TABLE_SIZE)
  -l, --list             list workloads and intensity presets
  -n, --dry-run          print the commands instead of running them
  -h, --help             this help
EOF
}

list() {
    printf 'workloads:\n'
    printf '  %s\n' "${WORKLOADS[@]}"
    printf 'intensity presets (threads seconds rate):\n'
    local level
    for level in low medium high; do printf '  %-7s %s\n' "$level" "${PRESETS[$level]}"; done
    printf '  custom  --threads N --time SECONDS [--rate TPS]\n'
}

contains() {  # contains <word> <list...>
    local word=$1 item
    shift
    for item in "$@"; do [[ $item == "$word" ]] && return 0; done
    return 1
}

random_secret() { printf 'Lab%s9!' "$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"; }

# --- workload ---------------------------------------------------------------------------------------
target_endpoint() {
    if [[ $TARGET == reader ]]; then
        DB_READER_HOST=${DB_READER_HOST:-$(lookup reader-endpoint readerEndpoint)}
        DB_READER_PORT=${DB_READER_PORT:-$DB_PORT}
        [[ -n $DB_READER_HOST ]] || die "reader endpoint unknown: set DB_READER_HOST"
        printf '%s %s' "$DB_READER_HOST" "$DB_READER_PORT"
    else
        printf '%s %s' "$DB_HOST" "$DB_PORT"
    fi
}

run_workload() {
    local threads="" seconds="" rate="" host port tables
    if [[ $INTENSITY != custom ]]; then
        read -r threads seconds rate <<<"${PRESETS[$INTENSITY]}"
    fi
    threads=${THREADS_OPT:-$threads}
    seconds=${TIME_OPT:-$seconds}
    rate=${RATE_OPT:-${rate:-0}}
    [[ $threads =~ ^[1-9][0-9]*$ && $seconds =~ ^[1-9][0-9]*$ && $rate =~ ^[0-9]+$ ]] ||
        die "intensity $INTENSITY needs --threads N and --time SECONDS (positive) and --rate TPS (>= 0)"
    read -r host port <<<"$(target_endpoint)"
    tables=$TABLES_OPT
    if [[ -z $tables ]]; then
        tables=4
        if ! ((DRY_RUN)); then
            tables=$(mysql_on "$host" "$port" -N -B "$DB_NAME" -e "SELECT COUNT(*) FROM information_schema.tables
                WHERE table_schema = DATABASE() AND table_name REGEXP '^sbtest[0-9]+$'")
        fi
    fi
    ((tables > 0)) || die "no sbtest tables in $DB_NAME on $host:$port: run setup_sysbench.sh first"
    log "workload $WORKLOAD on the $TARGET ($host:$port): $threads threads, ${seconds}s, rate $rate, $tables tables"
    run sysbench "$WORKLOAD" --db-driver=mysql --mysql-host="$host" --mysql-port="$port" \
        --mysql-user="$DB_USER" --mysql-password="$DB_PASSWORD" --mysql-db="$DB_NAME" \
        --tables="$tables" --table-size="$TABLE_SIZE" --threads="$threads" --time="$seconds" \
        --rate="$rate" --report-interval=10 run
}

# --- SQL scenarios (always on the writer) ------------------------------------------------------------
run_ddl() {
    local t=${PREFIX}_ddl
    log "DDL: create, alter, index, rename, truncate and drop $t"
    sql "DROP TABLE IF EXISTS ${t}, ${t}_renamed;
        CREATE TABLE $t (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(200) NOT NULL);
        ALTER TABLE $t ADD COLUMN created_at TIMESTAMP NULL DEFAULT NULL;
        CREATE INDEX ${t}_note ON $t (note);
        INSERT INTO $t (note) VALUES ('audit lab, with commas, in the text'), ('it''s quoted');
        SELECT COUNT(*) FROM $t;
        RENAME TABLE $t TO ${t}_renamed;
        TRUNCATE TABLE ${t}_renamed;
        DROP TABLE ${t}_renamed;"
}

run_dcl() {
    local user="'${PREFIX}_reader'@'%'"
    log "DCL: grant and revoke SELECT on $DB_NAME for $user"
    sql "DROP USER IF EXISTS $user;
        CREATE USER $user IDENTIFIED BY '$(random_secret)';
        GRANT SELECT ON \`$DB_NAME\`.* TO $user;
        SHOW GRANTS FOR $user;
        REVOKE SELECT ON \`$DB_NAME\`.* FROM $user;
        DROP USER $user;"
}

run_users() {
    local user="'${PREFIX}_user'@'%'" renamed="'${PREFIX}_user2'@'%'"
    log "user management: create, alter, rename and drop ${PREFIX}_user"
    sql "DROP USER IF EXISTS $user, $renamed;
        CREATE USER $user IDENTIFIED BY '$(random_secret)';
        ALTER USER $user IDENTIFIED BY '$(random_secret)';
        RENAME USER $user TO $renamed;
        DROP USER $renamed;"
}

# Each attempt must fail: Advanced Auditing records FAILED_CONNECT with retcode 1045.
failed_login() {  # failed_login <user> <password>
    if ((DRY_RUN)); then
        run "$MYSQL" --no-defaults --protocol=TCP -h "$DB_HOST" -P "$DB_PORT" -u "$1" '--password=****' -e 'SELECT 1'
        return 0
    fi
    if "$MYSQL" --no-defaults --protocol=TCP -h "$DB_HOST" -P "$DB_PORT" --connect-timeout=10 -u "$1" \
        --password="$2" -e 'SELECT 1' >/dev/null 2>&1; then
        die "login as $1 with a wrong password succeeded"
    fi
}

run_failed_login() {
    log "failed logins: $DB_USER with a wrong password, and the unknown user ${PREFIX}_intruder"
    failed_login "$DB_USER" "wrong-$(random_secret)"
    failed_login "${PREFIX}_intruder" "$(random_secret)"
}

main() {
    local scenarios=()
    while (($#)); do
        case $1 in
            -w | --workload) WORKLOAD=${2:?--workload needs a type}; shift ;;
            -i | --intensity) INTENSITY=${2:?--intensity needs a level}; shift ;;
            -t | --target) TARGET=${2:?--target needs writer or reader}; shift ;;
            --threads) THREADS_OPT=${2:?}; shift ;;
            --time) TIME_OPT=${2:?}; shift ;;
            --rate) RATE_OPT=${2:?}; shift ;;
            --tables) TABLES_OPT=${2:?}; shift ;;
            --table-size) TABLE_SIZE=${2:?}; shift ;;
            -l | --list) list; exit 0 ;;
            -n | --dry-run) DRY_RUN=1 ;;
            -h | --help) usage; exit 0 ;;
            all) scenarios+=("${SCENARIOS[@]}") ;;
            -*) usage >&2; die "unknown option: $1" ;;
            *) contains "$1" "${SCENARIOS[@]}" || die "unknown scenario: $1 (one of: ${SCENARIOS[*]} all)"
               scenarios+=("$1") ;;
        esac
        shift
    done
    ((${#scenarios[@]})) || scenarios=("${SCENARIOS[@]}")
    contains "$WORKLOAD" "${WORKLOADS[@]}" || die "unknown workload: $WORKLOAD (one of: ${WORKLOADS[*]})"
    contains "$INTENSITY" low medium high custom || die "unknown intensity: $INTENSITY (low, medium, high, custom)"
    contains "$TARGET" writer reader || die "unknown target: $TARGET (writer or reader)"
    if [[ $TARGET == reader && $WORKLOAD != oltp_read_only ]] && contains workload "${scenarios[@]}"; then
        die "the reader is read-only: use --workload oltp_read_only with --target reader"
    fi

    MYSQL=$(mysql_bin) || die "no mysql or mariadb client: run setup_sysbench.sh first"
    if contains workload "${scenarios[@]}" && ! ((DRY_RUN)); then
        command -v sysbench >/dev/null 2>&1 || die "sysbench not found: run setup_sysbench.sh first"
    fi
    resolve_connection
    write_option_file

    local scenario
    for scenario in "${scenarios[@]}"; do
        case $scenario in
            workload) run_workload ;;
            ddl) run_ddl ;;
            dcl) run_dcl ;;
            users) run_users ;;
            failed-login) run_failed_login ;;
        esac
    done
    log "done: ${scenarios[*]} (audit events appear in the writer's/reader's audit/ log files within minutes)"
}

main "$@"
