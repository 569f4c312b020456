#!/bin/sh
# Postfix pipe transport (deploy/postfix/master.cf.pipe-alternative): one message on stdin,
# $1 = request | delete. Exit 75 (EX_TEMPFAIL) makes Postfix retry later.
set -a
. /etc/dssportal/dssportal.env
set +a
cd /opt/dssportal || exit 75
exec .venv/bin/python manage.py ingest_mail --kind "$1"
