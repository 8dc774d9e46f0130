#!/usr/bin/env bash
# Start the local PostgreSQL and MariaDB the lock tests use, if they are installed but stopped.
# Tests that need a server skip with a message saying how to start it when it is still absent.
set -u
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 5432 && command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
if ! port_open 3306 && [ -x /usr/sbin/mariadbd ]; then
  echo "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
  for _ in $(seq 1 30); do port_open 3306 && break; sleep 0.5; done
fi
for p in 5432 3306; do
  if port_open $p; then echo "service on 127.0.0.1:$p: up"; else echo "service on 127.0.0.1:$p: absent (its tests will skip)"; fi
done
exit 0
