#!/usr/bin/env bash
# Lab test host: install sysbench and a MySQL client, then prepare the sysbench tables on the writer.
#
# Connection, first found wins:
#   1. environment: DB_HOST DB_PORT DB_USER DB_PASSWORD DB_NAME (e.g. a local MariaDB stand-in)
#   2. SSM parameters the lab stack publishes under $LAB_SSM_PREFIX (default /$LAB_PROJECT/aurora)
#   3. the lab stack's outputs (pulumi stack output), when LAB_STACK_DIR points at the stack
# The password comes from DB_PASSWORD or else from Secrets Manager (the cluster's RDS-managed secret,
# DB_SECRET_ARN or the master-secret-arn parameter). mysql reads it from a private temporary option file
# (removed on exit); sysbench has no option file and takes it on its command line.
#
# test_audit_logs.sh sources this file for the connection functions (main runs only when executed).
set -euo pipefail

PROG=${0##*/}
LAB_PROJECT=${LAB_PROJECT:-aurora-log-backup-lab}
LAB_SSM_PREFIX=${LAB_SSM_PREFIX:-/$LAB_PROJECT/aurora}
TABLES=${SYSBENCH_TABLES:-4}
TABLE_SIZE=${SYSBENCH_TABLE_SIZE:-10000}
THREADS=${SYSBENCH_PREPARE_THREADS:-2}
MODE=all        # all | install-only | prepare-only
RECREATE=0
DRY_RUN=0

usage() {
    cat <<EOF
Usage: $PROG [options]

Installs sysbench and a MySQL client when missing (apt-get or dnf), then creates the
sysbench tables (sbtest1..N) in the lab database on the writer.

Options:
  --install-only        install the tools, connect to nothing (EC2 user data runs this)
  --skip-install        only prepare the tables
  --tables N            sysbench tables (default $TABLES, env SYSBENCH_TABLES)
  --table-size N        rows per table (default $TABLE_SIZE, env SYSBENCH_TABLE_SIZE)
  --recreate            drop existing sbtest tables first
  -n, --dry-run         print the commands instead of running them
  -h, --help            this help

Environment: DB_HOST DB_PORT DB_USER DB_PASSWORD DB_NAME override the stack's values;
LAB_PROJECT, LAB_SSM_PREFIX, LAB_STACK_DIR, LAB_STACK, AWS_REGION select where they are read from.
EOF
}

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

run() {
    if ((DRY_RUN)); then
        local arg
        printf '+'
        for arg in "$@"; do
            [[ -n ${DB_PASSWORD:-} ]] && arg=${arg//"$DB_PASSWORD"/****}
            printf ' %q' "$arg"
        done
        printf '\n'
    else
        "$@"
    fi
}

as_root() {
    if ((EUID == 0)); then run "$@"; else run sudo "$@"; fi
}

# --- installation -----------------------------------------------------------------------------------
mysql_bin() {
    local candidate
    for candidate in "${MYSQL_BIN:-}" mysql mariadb; do
        if [[ -n $candidate ]] && command -v "$candidate" >/dev/null 2>&1; then
            printf '%s' "$candidate"
            return 0
        fi
    done
    return 1
}

install_apt() {
    local packages=()
    command -v sysbench >/dev/null 2>&1 || packages+=(sysbench)
    mysql_bin >/dev/null || packages+=(mysql-client)
    command -v python3 >/dev/null 2>&1 || packages+=(python3)
    if ((${#packages[@]})); then
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
    fi
    if ! command -v aws >/dev/null 2>&1; then
        if command -v snap >/dev/null 2>&1; then
            as_root snap install aws-cli --classic
        else
            log "aws CLI not found and no snap: install it to read SSM and Secrets Manager"
        fi
    fi
}

# Amazon Linux 2023 has no sysbench package: build the release from source (best effort).
install_dnf() {
    mysql_bin >/dev/null || as_root dnf install -y -q mariadb105
    command -v sysbench >/dev/null 2>&1 && return 0
    as_root dnf install -y -q git gcc make automake libtool pkgconf-pkg-config openssl-devel \
        mariadb-connector-c-devel
    local src
    src=$(mktemp -d)
    run git clone --quiet --depth 1 --branch 1.0.20 https://github.com/akopytov/sysbench.git "$src/sysbench"
    run bash -c "cd '$src/sysbench' && ./autogen.sh && ./configure --with-mysql && make -j\"\$(nproc)\""
    as_root make -C "$src/sysbench" install
    rm -rf "$src"
}

install_tools() {
    if command -v sysbench >/dev/null 2>&1 && mysql_bin >/dev/null; then
        log "sysbench and $(mysql_bin) already installed"
        return 0
    fi
    if command -v apt-get >/dev/null 2>&1; then
        install_apt
    elif command -v dnf >/dev/null 2>&1; then
        install_dnf
    else
        die "neither apt-get nor dnf found: install sysbench and a MySQL client by hand"
    fi
}

# --- connection -------------------------------------------------------------------------------------
# lookup <ssm parameter> <stack output>: the value from SSM, else from the stack outputs, else empty.
lookup() {
    local value=""
    if command -v aws >/dev/null 2>&1; then
        value=$(aws ssm get-parameter --name "$LAB_SSM_PREFIX/$1" --query Parameter.Value --output text \
            2>/dev/null) || value=""
    fi
    if [[ -z $value && -n ${LAB_STACK_DIR:-} ]] && command -v pulumi >/dev/null 2>&1; then
        value=$(pulumi stack output --cwd "$LAB_STACK_DIR" ${LAB_STACK:+--stack "$LAB_STACK"} "$2" \
            2>/dev/null) || value=""
    fi
    [[ $value == None ]] && value=""
    printf '%s' "$value"
}

secret_password() {
    local arn=${DB_SECRET_ARN:-$(lookup master-secret-arn masterSecretArn)}
    [[ -n $arn ]] || die "no DB_PASSWORD, and no master secret ARN in SSM ($LAB_SSM_PREFIX/master-secret-arn)"
    command -v aws >/dev/null 2>&1 || die "aws CLI not found: needed to read the password from Secrets Manager"
    aws secretsmanager get-secret-value --secret-id "$arn" --query SecretString --output text |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["password"])'
}

resolve_connection() {
    DB_HOST=${DB_HOST:-$(lookup writer-endpoint clusterEndpoint)}
    DB_PORT=${DB_PORT:-$(lookup port clusterPort)}
    DB_PORT=${DB_PORT:-3306}
    DB_USER=${DB_USER:-$(lookup master-username masterUsername)}
    DB_USER=${DB_USER:-labadmin}
    DB_NAME=${DB_NAME:-$(lookup database databaseName)}
    DB_NAME=${DB_NAME:-labdb}
    if ((DRY_RUN)); then
        DB_HOST=${DB_HOST:-"<writer-endpoint>"} DB_PASSWORD=${DB_PASSWORD:-"<master-password>"}
    fi
    [[ -n $DB_HOST ]] || die "writer endpoint unknown: set DB_HOST, or LAB_PROJECT/AWS_REGION for SSM"
    if [[ -z ${DB_PASSWORD:-} ]]; then
        DB_PASSWORD=$(secret_password) || die "could not read the master password from Secrets Manager"
    fi
}

# A private option file keeps the password off the mysql command line.
write_option_file() {
    OPTION_FILE=$(mktemp)
    chmod 600 "$OPTION_FILE"
    trap 'rm -f "$OPTION_FILE"' EXIT
    local escaped=${DB_PASSWORD//\\/\\\\}
    escaped=${escaped//\"/\\\"}
    printf '[client]\nuser="%s"\npassword="%s"\n' "$DB_USER" "$escaped" >"$OPTION_FILE"
}

# mysql_on <host> <port> [mysql options...]: the client with the lab's credentials
mysql_on() {
    local host=$1 port=$2
    shift 2
    run "$MYSQL" --defaults-extra-file="$OPTION_FILE" --protocol=TCP -h "$host" -P "$port" \
        --connect-timeout=10 "$@"
}

sql() {  # sql <statement>: run on the writer, in the lab database
    mysql_on "$DB_HOST" "$DB_PORT" -N -B "$DB_NAME" -e "$1"
}

# Aurora may still be starting: retry network errors for DB_WAIT_S seconds, stop at once on others.
wait_for_writer() {
    local deadline=$((SECONDS + ${DB_WAIT_S:-600})) error
    ((DRY_RUN)) && return 0
    while :; do
        if error=$("$MYSQL" --defaults-extra-file="$OPTION_FILE" --protocol=TCP -h "$DB_HOST" -P "$DB_PORT" \
            --connect-timeout=5 -e 'SELECT 1' 2>&1 >/dev/null); then
            return 0
        fi
        case $error in
            *"ERROR 2002"* | *"ERROR 2003"* | *"ERROR 2005"* | *"ERROR 2013"*) ;;  # not reachable (yet)
            *) die "cannot log in as $DB_USER at $DB_HOST:$DB_PORT: $error" ;;
        esac
        ((SECONDS < deadline)) || die "$DB_HOST:$DB_PORT unreachable: $error (is the cluster available, 3306 open?)"
        log "waiting for $DB_HOST:$DB_PORT: $error"
        sleep 10
    done
}

sysbench_prepare() {
    local common=(--db-driver=mysql --mysql-host="$DB_HOST" --mysql-port="$DB_PORT" --mysql-user="$DB_USER"
        --mysql-db="$DB_NAME" --tables="$TABLES" --table-size="$TABLE_SIZE" --threads="$THREADS")
    if ((RECREATE)); then
        run sysbench oltp_common "${common[@]}" --mysql-password="$DB_PASSWORD" cleanup
    fi
    run sysbench oltp_common "${common[@]}" --mysql-password="$DB_PASSWORD" prepare
}

main() {
    while (($#)); do
        case $1 in
            --install-only) MODE=install-only ;;
            --skip-install) MODE=prepare-only ;;
            --tables) TABLES=${2:?--tables needs a number}; shift ;;
            --table-size) TABLE_SIZE=${2:?--table-size needs a number}; shift ;;
            --recreate) RECREATE=1 ;;
            -n | --dry-run) DRY_RUN=1 ;;
            -h | --help) usage; exit 0 ;;
            *) usage >&2; die "unknown option: $1" ;;
        esac
        shift
    done
    [[ $TABLES =~ ^[1-9][0-9]*$ ]] || die "--tables must be a positive number"
    [[ $TABLE_SIZE =~ ^[1-9][0-9]*$ ]] || die "--table-size must be a positive number"

    [[ $MODE == prepare-only ]] || install_tools
    [[ $MODE == install-only ]] && return 0

    MYSQL=$(mysql_bin) || die "no mysql or mariadb client: run $PROG without --skip-install"
    command -v sysbench >/dev/null 2>&1 || ((DRY_RUN)) || die "sysbench not found: run $PROG without --skip-install"
    resolve_connection
    write_option_file
    wait_for_writer
    local schema=""
    ((DRY_RUN)) || schema=$(mysql_on "$DB_HOST" "$DB_PORT" -N -B -e \
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name = '$DB_NAME'")
    [[ -n $schema ]] || mysql_on "$DB_HOST" "$DB_PORT" -e "CREATE DATABASE \`$DB_NAME\`"
    local existing=0
    if ! ((DRY_RUN)); then
        existing=$(sql "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name REGEXP '^sbtest[0-9]+$'")
    fi
    if ((existing > 0 && !RECREATE)); then
        log "$existing sbtest tables already in $DB_NAME on $DB_HOST (use --recreate to start over)"
        return 0
    fi
    sysbench_prepare
    log "prepared $TABLES tables x $TABLE_SIZE rows in $DB_NAME on $DB_HOST:$DB_PORT"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    main "$@"
fi
