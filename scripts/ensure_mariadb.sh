#!/usr/bin/env bash
# Make sure a MariaDB answers at ${IDENT_TEST_MYSQL_HOST:-127.0.0.1}:${IDENT_TEST_MYSQL_PORT:-3306}:
# find it, else start the local server, else install it from Debian's packages and start it.
# Exit 0 when it answers; otherwise explain and exit 1 (make test then skips MariaDB tests,
# except under CI=true where they fail loudly).
set -uo pipefail
host=${IDENT_TEST_MYSQL_HOST:-127.0.0.1}
port=${IDENT_TEST_MYSQL_PORT:-3306}

answers() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }
wait_for() { for _ in $(seq 1 30); do answers && return 0; sleep 1; done; return 1; }

answers && { echo "[mariadb] answering at $host:$port"; exit 0; }
if [ "$host" != 127.0.0.1 ] && [ "$host" != localhost ]; then
  echo "[mariadb] nothing answers at $host:$port and it is not local, so it cannot be started here" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "[mariadb] nothing answers at $host:$port; start MariaDB (root, empty password) or set IDENT_TEST_MYSQL_*" >&2
  exit 1
fi
if [ ! -x /usr/sbin/mariadbd ]; then
  echo "[mariadb] installing mariadb-server from Debian's packages"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null || exit 1
fi
echo "[mariadb] starting the local server"
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null
start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
if wait_for; then echo "[mariadb] answering at $host:$port"; exit 0; fi
echo "[mariadb] started the server but nothing answers at $host:$port after 30 s" >&2
exit 1
